// Package orchestrate runs pipelines: it turns a validated spec into a job
// whose nodes are delivered by the queue, runs each delivered node's agent
// under a lease, stores its outputs in the blob store, and queues its
// successors in the same transaction that records its success.
//
// Guarantees:
//   - A node runs on one worker at a time: running needs the node's lease
//     (ClaimNode), which the worker renews every LeaseTimeout/3 and loses
//     (cancelling the agent) if it cannot.
//   - A node whose worker died is delivered again once its lease expires
//     (Reap, run by every worker).
//   - Transient errors are retried with exponential backoff and jitter up to
//     the node's max attempts; agent.Permanent errors fail the node at once.
//   - Outputs are cached by pipeline.CacheKey, so re-running a pipeline skips
//     finished work.
//   - Cancelling a job stops its running agents within PollInterval (at
//     once on the process that cancels) through their context.
package orchestrate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/auth"
	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/events"
	"github.com/whetstone/whetstone/internal/outbound"
	"github.com/whetstone/whetstone/internal/pipeline"
	"github.com/whetstone/whetstone/internal/queue"
	"github.com/whetstone/whetstone/internal/secret"
	"github.com/whetstone/whetstone/internal/store"
)

// Config tunes an Orchestrator. Zero fields take the defaults of
// config.Config.
type Config struct {
	// WorkDir is the default folder relative paths resolve against.
	WorkDir string
	// ScratchDir holds agents' output folders while they run; it should be
	// on the blob store's file system so outputs move in by rename.
	ScratchDir   string
	MaxAttempts  int
	RetryBase    time.Duration
	RetryMax     time.Duration
	LeaseTimeout time.Duration
	PollInterval time.Duration
	// MaxRunningJobs is how many jobs of one team run at once; a job of a
	// team at its limit waits pending (its first node is snoozed) until one
	// ends. 0: no limit.
	MaxRunningJobs int
	// WorkerID names this worker across restarts (the same machine and
	// data folder); a restarted worker releases the leases its previous
	// life held at once (ReclaimOwn). Defaults to the host name.
	WorkerID string
	// Caps is what this worker can run (nodes' `requires`); the zero value
	// detects the machine's.
	Caps   *Capabilities
	Logger *slog.Logger
	// CacheDir keeps downloaded input blobs (by SHA-256) when the blob
	// store is not a local folder, up to CacheBytes (default DataDir-less:
	// ScratchDir/../cache, 10 GiB).
	CacheDir   string
	CacheBytes int64
	// Paths, when set, decides which server paths a job's params may name
	// (checked at Submit, and again where a source is opened); nil allows
	// every path (`whet run`).
	Paths pipeline.PathPolicy
	// Secrets seals params marked secret at Submit and opens them just
	// before the agent runs; nil keeps them as given (`whet run`).
	Secrets *secret.Box
	// Outbound decides which URLs a job's params may name (checked at
	// Submit) and which addresses agents' HTTP clients may reach; nil
	// allows everything (`whet run`).
	Outbound *outbound.Policy
}

// Enqueuer queues node deliveries inside a store transaction.
type Enqueuer interface {
	EnqueueTx(ctx context.Context, tx store.Tx, tasks ...queue.Task) error
}

// Orchestrator submits, runs and cancels jobs.
type Orchestrator struct {
	st    store.Store
	blobs blob.Store
	cache *blob.Cache
	sums  sync.Map // fileFacts: path, size, mtime -> sha256
	bus   *events.Bus
	reg   *agent.Registry
	q     Enqueuer
	cfg   Config
	log   *slog.Logger
	owner string
	http  *http.Client // nil without an outbound policy

	mu       sync.Mutex
	running  map[store.NodeRef]context.CancelCauseFunc
	stopping bool
}

// New returns an orchestrator. Call SetQueue before Submit or Handle.
func New(st store.Store, blobs blob.Store, bus *events.Bus, reg *agent.Registry, cfg Config) *Orchestrator {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 2 * time.Second
	}
	if cfg.RetryMax < cfg.RetryBase {
		cfg.RetryMax = max(5*time.Minute, cfg.RetryBase)
	}
	if cfg.LeaseTimeout <= 0 {
		cfg.LeaseTimeout = 30 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 500 * time.Millisecond
	}
	if cfg.ScratchDir == "" {
		cfg.ScratchDir = filepath.Join(os.TempDir(), "whet-scratch")
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir, _ = os.Getwd()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = filepath.Join(filepath.Dir(cfg.ScratchDir), "cache")
	}
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = 10 << 30
	}
	cache, err := blob.NewCache(blobs, cfg.CacheDir, cfg.CacheBytes)
	if err != nil {
		log.Warn("no blob cache; inputs are downloaded each time", slog.Any("error", err))
		cache, _ = blob.NewCache(blobs, cfg.CacheDir, 0)
	}
	if cfg.Caps == nil {
		c := DetectCapabilities(0, nil)
		cfg.Caps = &c
	}
	if cfg.WorkerID == "" {
		cfg.WorkerID, _ = os.Hostname()
	}
	var b [4]byte
	rand.Read(b[:])
	var hc *http.Client
	if cfg.Outbound != nil {
		hc = cfg.Outbound.Client(0)
	}
	return &Orchestrator{st: st, blobs: blobs, cache: cache, bus: bus, reg: reg, cfg: cfg, log: log, http: hc,
		owner:   fmt.Sprintf("%s/%d-%s", cfg.WorkerID, os.Getpid(), hex.EncodeToString(b[:])),
		running: map[store.NodeRef]context.CancelCauseFunc{}}
}

// SetQueue sets where nodes are queued.
func (o *Orchestrator) SetQueue(q Enqueuer) { o.q = q }

// Paths returns the policy that decides which server paths jobs may name
// (nil: every path).
func (o *Orchestrator) Paths() pipeline.PathPolicy { return o.cfg.Paths }

// Registry returns the agents this orchestrator runs.
func (o *Orchestrator) Registry() *agent.Registry { return o.reg }

// ErrFinished is returned by Cancel for a job that already ended; it wraps
// store.ErrConflict.
var ErrFinished = fmt.Errorf("job already finished: %w", store.ErrConflict)

// Submit validates spec and queues it as a new job of the caller's team
// (auth.TeamOf(ctx): the authenticated request's, or store.DefaultTeam).
// Relative paths in its params resolve against workDir ("" for the
// configured WorkDir). Returns a
// *pipeline.ValidationError for an invalid spec, or one naming a dataset,
// model or artifact the team may not read (CheckSources).
func (o *Orchestrator) Submit(ctx context.Context, spec *pipeline.Spec, workDir string) (*store.Job, error) {
	v, err := pipeline.ValidateWith(spec, o.reg, o.validateOptions())
	if err != nil {
		return nil, err
	}
	if err := o.CheckSources(ctx, v); err != nil {
		return nil, err
	}
	if err := o.sealSecrets(v, auth.TeamOf(ctx)); err != nil {
		return nil, err
	}
	if workDir == "" {
		workDir = o.cfg.WorkDir
	}
	now := time.Now().UTC()
	j := &store.Job{ID: store.NewID("job"), Name: v.Name, Team: auth.TeamOf(ctx), Status: store.Pending, Spec: v.JSON(), WorkDir: workDir, CreatedAt: now}
	var roots []queue.Task
	for _, n := range v.Nodes {
		ma := n.MaxAttempts
		if ma == 0 {
			ma = o.cfg.MaxAttempts
		}
		preds := v.Preds(n.ID)
		j.Nodes = append(j.Nodes, &store.Node{ID: n.ID, Agent: n.Agent, Params: n.Params, Preds: preds,
			Status: store.Pending, MaxAttempts: ma, Cache: n.Cache == nil || *n.Cache})
		if len(preds) == 0 {
			roots = append(roots, queue.Task{JobID: j.ID, NodeID: n.ID})
		}
	}
	err = o.st.InTx(ctx, func(tx store.Tx) error {
		if err := tx.CreateJob(ctx, j); err != nil {
			return err
		}
		if err := tx.AppendEvent(ctx, events.New(j.ID, "", events.Status, events.StatusData{Status: store.Pending})); err != nil {
			return err
		}
		for _, t := range roots {
			if _, err := tx.MarkQueued(ctx, t.JobID, t.NodeID); err != nil {
				return err
			}
		}
		return o.q.EnqueueTx(ctx, tx, roots...)
	})
	if err != nil {
		return nil, fmt.Errorf("submit %s: %w", v.Name, err)
	}
	o.log.InfoContext(ctx, "job submitted", slog.String("job_id", j.ID), slog.String("name", j.Name), slog.Int("nodes", len(j.Nodes)))
	return o.st.GetJob(ctx, j.ID)
}

func (o *Orchestrator) validateOptions() pipeline.Options {
	opts := pipeline.Options{Paths: o.cfg.Paths}
	if o.cfg.Outbound != nil {
		opts.URLs = o.cfg.Outbound
	}
	return opts
}

// sealSecrets replaces the secret params of v's nodes by references sealed for team,
// so the store, the API and the events never hold them in the clear.
func (o *Orchestrator) sealSecrets(v *pipeline.Spec, team string) error {
	if o.cfg.Secrets == nil {
		return nil
	}
	for i := range v.Nodes {
		n := &v.Nodes[i]
		ag, ok := o.reg.Lookup(n.Agent)
		if !ok {
			continue
		}
		p, err := o.cfg.Secrets.SealParams(ag.Spec().Params, n.Params, team)
		if err != nil {
			return &pipeline.ValidationError{Errors: []pipeline.FieldError{{Node: n.ID, Field: "params", Message: err.Error()}}}
		}
		n.Params = p
	}
	return nil
}

// Cancel cancels a pending or running job: pending nodes are cancelled and
// running agents are stopped through their context. Returns
// store.ErrNotFound, or ErrFinished for a job that already ended.
func (o *Orchestrator) Cancel(ctx context.Context, jobID string) error {
	err := o.st.InTx(ctx, func(tx store.Tx) error {
		ok, err := tx.SetJobStatus(ctx, jobID, store.Cancelled, "cancelled", time.Now().UTC())
		if err != nil {
			return err
		}
		if !ok {
			return ErrFinished
		}
		if err := cancelNodes(ctx, tx, jobID, "", "cancelled", time.Now().UTC()); err != nil {
			return err
		}
		return tx.AppendEvent(ctx, events.New(jobID, "", events.Status, events.StatusData{Status: store.Cancelled, Error: "cancelled"}))
	})
	if err != nil {
		return fmt.Errorf("cancel %s: %w", jobID, err)
	}
	o.bus.Notify(jobID)
	o.mu.Lock()
	for ref, cancel := range o.running {
		if ref.JobID == jobID {
			cancel(errJobEnded)
		}
	}
	o.mu.Unlock()
	o.log.InfoContext(ctx, "job cancelled", slog.String("job_id", jobID))
	return nil
}

var (
	errJobEnded  = errors.New("job ended")
	errLeaseLost = errors.New("node lease lost")
	errStopping  = errors.New("worker stopping")
)

// HandBack stops this worker's running agents at once and hands their nodes
// back to the queue without spending an attempt (a clean shutdown); from
// now on deliveries to this worker are put back untouched. Call it before
// stopping the queue.
func (o *Orchestrator) HandBack() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stopping = true
	for _, cancel := range o.running {
		cancel(errStopping)
	}
}

func (o *Orchestrator) isStopping() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stopping
}

// backoff is the delay before retry number attempt (1 for the first retry):
// RetryBase·2^(attempt-1), at most RetryMax, ±25% jitter.
func (o *Orchestrator) backoff(attempt int) time.Duration {
	d := float64(o.cfg.RetryBase) * math.Pow(2, float64(max(attempt-1, 0)))
	d = math.Min(d, float64(o.cfg.RetryMax))
	return time.Duration(d * (0.75 + 0.5*mrand.Float64()))
}

// Reap redelivers nodes whose worker stopped renewing their lease. Every
// worker process runs it every LeaseTimeout/2 (RunReaper).
func (o *Orchestrator) Reap(ctx context.Context) (int, error) {
	return o.releaseDead(ctx, "", "worker lost: lease expired, delivering again")
}

// ReclaimOwn hands back at once the nodes this worker (WorkerID) held when
// it died: a restarted worker does not wait out its old leases. Call it
// before the queue starts, when this process holds no lease yet.
func (o *Orchestrator) ReclaimOwn(ctx context.Context) (int, error) {
	return o.releaseDead(ctx, o.cfg.WorkerID+"/", "worker "+o.cfg.WorkerID+" restarted: its previous run died holding this node, delivering again")
}

// releaseDead hands back dead workers' nodes (expired leases, or the
// leases of ownerPrefix): each death spent an attempt; a node with attempts
// left is queued again in the same transaction, one without fails its job
// with "worker died N times running this node".
func (o *Orchestrator) releaseDead(ctx context.Context, ownerPrefix, why string) (int, error) {
	var rel []store.Released
	var failed []string
	err := o.st.InTx(ctx, func(tx store.Tx) error {
		var err error
		failed = failed[:0]
		rel, err = tx.ReleaseDead(ctx, time.Now().UTC(), ownerPrefix)
		if err != nil {
			return err
		}
		var tasks []queue.Task
		for _, r := range rel {
			if r.Attempts >= r.MaxAttempts {
				msg := fmt.Sprintf("worker died %d times running this node", r.Deaths)
				if r.Deaths < r.Attempts {
					msg = fmt.Sprintf("worker died %d times running this node (%d attempts, the last one included)", r.Deaths, r.Attempts)
				}
				if _, err := o.failTx(ctx, tx, r.JobID, r.NodeID, "", r.Attempts, msg); err != nil {
					return err
				}
				failed = append(failed, r.JobID)
				continue
			}
			tasks = append(tasks, queue.Task{JobID: r.JobID, NodeID: r.NodeID})
			e := events.New(r.JobID, r.NodeID, events.Node, events.NodeData{Status: store.Pending, Attempt: r.Attempts, Error: why})
			if _, err := tx.AppendActiveEvent(ctx, e); err != nil {
				return err
			}
		}
		return o.q.EnqueueTx(ctx, tx, tasks...)
	})
	if err != nil {
		return 0, fmt.Errorf("release dead workers' nodes: %w", err)
	}
	for _, r := range rel {
		o.log.WarnContext(ctx, why, slog.String("job_id", r.JobID), slog.String("node", r.NodeID), slog.Int("attempts", r.Attempts), slog.Int("deaths", r.Deaths))
		o.bus.Notify(r.JobID)
	}
	for _, id := range failed {
		o.cancelRunning(id, "")
	}
	return len(rel), nil
}

// RunReaper calls Reap every LeaseTimeout/2 until ctx ends.
func (o *Orchestrator) RunReaper(ctx context.Context) {
	t := time.NewTicker(max(o.cfg.LeaseTimeout/2, 50*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := o.Reap(ctx); err != nil && ctx.Err() == nil {
				o.log.ErrorContext(ctx, "reap", slog.Any("error", err))
			}
		}
	}
}
