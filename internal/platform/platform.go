// Package platform wires Whetstone's parts from a config.Config: the
// metadata store (SQLite, or PostgreSQL for a postgres:// database), the local blob store, the event bus, the River queue and
// the orchestrator. `whet serve`, `whet worker` and `whet run` all start one.
// Swapping in PostgreSQL, S3 or Redis backends happens here.
package platform

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/blob/fsblob"
	"github.com/whetstone/whetstone/internal/blob/s3blob"
	"github.com/whetstone/whetstone/internal/config"
	"github.com/whetstone/whetstone/internal/events"
	"github.com/whetstone/whetstone/internal/events/redisevents"
	"github.com/whetstone/whetstone/internal/metrics"
	"github.com/whetstone/whetstone/internal/orchestrate"
	"github.com/whetstone/whetstone/internal/outbound"
	"github.com/whetstone/whetstone/internal/pipeline"
	"github.com/whetstone/whetstone/internal/queue"
	"github.com/whetstone/whetstone/internal/sandbox"
	"github.com/whetstone/whetstone/internal/secret"
	"github.com/whetstone/whetstone/internal/store"
	"github.com/whetstone/whetstone/internal/store/pgstore"
	"github.com/whetstone/whetstone/internal/store/sqlitestore"
)

// Platform is a running set of parts.
type Platform struct {
	Config config.Config
	Store  store.Store
	Blobs  blob.Store
	Bus    *events.Bus
	// Fanout is the Redis event fan-out, nil without --events.
	Fanout *redisevents.Fanout
	Orch   *orchestrate.Orchestrator
	Queue  *queue.Queue
	Log    *slog.Logger

	// WorkerID names this process's worker across restarts ("" without one).
	WorkerID string
	// Caps is what its worker advertises.
	Caps orchestrate.Capabilities

	work   bool
	lock   *os.File
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// Options chooses what a Platform does.
type Options struct {
	// Work runs nodes in this process (serve and worker); false only
	// queues them.
	Work   bool
	Logger *slog.Logger
	// Metrics, when set, observes events and node attempts and gets the
	// job, queue and SSE gauges.
	Metrics *metrics.Metrics
	// Sandbox restricts the server paths jobs may name to
	// cfg.SandboxRoots(AuthOn) (serve, worker); `whet run` leaves it off.
	Sandbox bool
	AuthOn  bool
}

// Open opens the stores and builds the queue and orchestrator.
func Open(ctx context.Context, cfg config.Config, reg *agent.Registry, opts Options) (*Platform, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st, newQueue, err := openStore(ctx, cfg.Database)
	if err != nil {
		return nil, err
	}
	blobs, err := OpenBlobs(ctx, cfg, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	var fan *redisevents.Fanout
	if cfg.Events != "" {
		if fan, err = redisevents.Open(ctx, cfg.Events, log); err != nil {
			st.Close()
			return nil, err
		}
	}
	scratch := filepath.Join(cfg.DataDir, "tmp")
	if err := os.MkdirAll(scratch, 0o755); err != nil {
		st.Close()
		return nil, fmt.Errorf("platform: %w", err)
	}
	var paths pipeline.PathPolicy
	if opts.Sandbox {
		pol, err := sandbox.New(cfg.WorkDir, cfg.SandboxRoots(opts.AuthOn), cfg.ServerFiles()...)
		if err != nil {
			st.Close()
			return nil, err
		}
		paths = pol
		log.Info("server paths jobs may read", slog.Any("allow_path", pol.Roots()))
	}
	var box *secret.Box
	var out *outbound.Policy
	if opts.Sandbox {
		key, err := secret.LoadKey(cfg.SecretKeyFile, true)
		if err == nil {
			box, err = secret.New(key)
		}
		if err == nil {
			out, err = outbound.New(cfg.AllowURL)
		}
		if err != nil {
			st.Close()
			return nil, err
		}
	}
	var obs store.Store = st
	if opts.Metrics != nil {
		obs = opts.Metrics.ObserveStore(st)
	}
	bus := events.NewBus(obs, cfg.PollInterval, log)
	if fan != nil {
		bus.SetFanout(fan)
	}
	if opts.Metrics != nil {
		opts.Metrics.CollectJobs(st)
		opts.Metrics.CollectSubscribers(bus.Subscribers)
	}
	var lock *os.File
	workerID := cfg.WorkerID
	if opts.Work && workerID == "" {
		if workerID, lock, err = defaultWorkerID(cfg.DataDir); err != nil {
			st.Close()
			return nil, err
		}
	}
	var labels []string
	for _, l := range strings.Split(cfg.Labels, ",") {
		if l = strings.TrimSpace(l); l != "" {
			labels = append(labels, l)
		}
	}
	caps := orchestrate.DetectCapabilities(cfg.GPUs, labels)
	orch := orchestrate.New(obs, blobs, bus, reg, orchestrate.Config{
		WorkDir: cfg.WorkDir, ScratchDir: scratch, MaxAttempts: cfg.MaxAttempts,
		RetryBase: cfg.RetryBase, RetryMax: cfg.RetryMax, LeaseTimeout: cfg.LeaseTimeout,
		PollInterval: cfg.PollInterval, WorkerID: workerID, Caps: &caps, Logger: log, Paths: paths, Secrets: box, Outbound: out,
		CacheDir: filepath.Join(cfg.DataDir, "cache"), CacheBytes: cfg.ScratchCacheBytes, MaxRunningJobs: cfg.MaxRunningJobs,
	})
	conc := 0
	if opts.Work {
		conc = cfg.Concurrency
	}
	q, err := newQueue(ctx, orch.Handle, queue.Config{Concurrency: conc, PollInterval: cfg.PollInterval, Logger: log})
	if err != nil {
		st.Close()
		return nil, err
	}
	orch.SetQueue(q)
	return &Platform{Config: cfg, Store: st, Blobs: blobs, Bus: bus, Fanout: fan, Orch: orch, Queue: q, Log: log, work: opts.Work,
		WorkerID: workerID, Caps: caps, lock: lock}, nil
}

// defaultWorkerID names this worker HOST-HASH-N: HASH of the data folder's
// absolute path, N the first slot whose DataDir/worker-N.lock this process
// can lock. Two live workers on one data folder get different names; a
// worker restarted after a crash (the kernel drops a dead process's lock)
// gets its old name back, and with it its dead leases at once. The lock is
// held until Stop.
func defaultWorkerID(dataDir string) (string, *os.File, error) {
	host, _ := os.Hostname()
	abs, _ := filepath.Abs(dataDir)
	h := sha256.Sum256([]byte(abs))
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return "", nil, fmt.Errorf("platform: %w", err)
	}
	for n := 1; n <= 256; n++ {
		f, err := os.OpenFile(filepath.Join(dataDir, fmt.Sprintf("worker-%d.lock", n)), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return "", nil, fmt.Errorf("platform: worker lock: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
			return fmt.Sprintf("%s-%x-%d", host, h[:4], n), f, nil
		}
		f.Close()
	}
	return "", nil, fmt.Errorf("platform: more than 256 workers on data folder %s", dataDir)
}

// OpenBlobs opens the configured blob store: S3 with --blob-url, else the
// local folder. A bad S3 configuration (no such bucket, rejected
// credentials, unreachable endpoint) is an error naming it.
func OpenBlobs(ctx context.Context, cfg config.Config, log *slog.Logger) (blob.Store, error) {
	if cfg.BlobURL == "" {
		return fsblob.Open(cfg.BlobDir)
	}
	c, err := s3blob.ParseURL(cfg.BlobURL, os.Getenv)
	if err != nil {
		return nil, err
	}
	return s3blob.Open(ctx, c, log)
}

type queueMaker func(ctx context.Context, h queue.Handler, cfg queue.Config) (*queue.Queue, error)

// openStore opens the metadata store the database setting names (a
// postgres:// URL, else a SQLite file) and says how to make its queue.
func openStore(ctx context.Context, database string) (store.Store, queueMaker, error) {
	if pgstore.IsURL(database) {
		st, err := pgstore.Open(ctx, database)
		if err != nil {
			return nil, nil, err
		}
		return st, func(ctx context.Context, h queue.Handler, cfg queue.Config) (*queue.Queue, error) {
			return queue.NewPostgres(ctx, st.Pool(), h, cfg)
		}, nil
	}
	if strings.Contains(database, "://") {
		return nil, nil, fmt.Errorf("database %q: want a SQLite file path, sqlite://PATH or postgres://USER@HOST:PORT/DB", database)
	}
	st, err := sqlitestore.Open(ctx, database)
	if err != nil {
		return nil, nil, err
	}
	return st, func(ctx context.Context, h queue.Handler, cfg queue.Config) (*queue.Queue, error) {
		return queue.NewSQLite(ctx, st.WriteDB(), h, cfg)
	}, nil
}

// Start starts working nodes and reaping dead workers' leases.
func (p *Platform) Start(ctx context.Context) error {
	if !p.work {
		return nil
	}
	p.cleanScratch(ctx)
	if n, err := p.Orch.ReclaimOwn(ctx); err != nil {
		return err
	} else if n > 0 {
		p.Log.Warn("took back the nodes this worker held when it died", slog.String("worker_id", p.WorkerID), slog.Int("nodes", n))
	}
	p.Log.Info("worker capabilities", slog.String("worker_id", p.WorkerID), slog.Int("cpus", p.Caps.CPUs),
		slog.Int64("memory_bytes", p.Caps.MemoryBytes), slog.Int("gpus", p.Caps.GPUs), slog.Any("labels", p.Caps.Labels))
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	if err := p.Queue.Start(rctx); err != nil {
		cancel()
		return err
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.Orch.RunReaper(rctx)
	}()
	return nil
}

// Stop stops working and closes the stores: running nodes are stopped and
// handed back at once without spending an attempt (another worker takes
// them from the queue), then the queue stops (until ctx ends). Safe to
// call twice.
func (p *Platform) Stop(ctx context.Context) error {
	var err error
	p.once.Do(func() {
		if p.work {
			p.Orch.HandBack()
			err = p.Queue.Stop(ctx)
		}
		if p.cancel != nil {
			p.cancel()
		}
		p.wg.Wait()
		err = errors.Join(err, p.Store.Close())
		if p.Fanout != nil {
			err = errors.Join(err, p.Fanout.Close())
		}
		if p.lock != nil {
			p.lock.Close()
		}
	})
	return err
}

// Health checks each part; the map holds "ok" or the error for "database",
// "blob_store" and "queue".
func (p *Platform) Health(ctx context.Context) (map[string]string, bool) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	out := map[string]string{}
	ok := true
	checks := map[string]func(context.Context) error{
		"database": p.Store.Ping, "blob_store": p.Blobs.Ping, "queue": p.Queue.Ping,
	}
	if p.Fanout != nil {
		checks["events"] = p.Fanout.Ping
	}
	for name, check := range checks {
		if err := check(ctx); err != nil {
			out[name] = err.Error()
			ok = false
		} else {
			out[name] = "ok"
		}
	}
	return out, ok
}

// cleanScratch removes scratch folders that processes killed mid-node left
// behind, for jobs that are no longer active (live workers of active jobs
// may share the folder).
func (p *Platform) cleanScratch(ctx context.Context) {
	dir := filepath.Join(p.Config.DataDir, "tmp")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	active, err := p.Store.ActiveJobs(ctx)
	if err != nil {
		return
	}
	keep := map[string]bool{}
	for _, id := range active {
		keep[id] = true
	}
	for _, e := range entries {
		if e.IsDir() && !keep[e.Name()] {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// OpenStore opens only the metadata store cfg names (migrating it), for
// commands that need no queue or blobs (`whet keys`).
func OpenStore(ctx context.Context, cfg config.Config) (store.Store, error) {
	st, _, err := openStore(ctx, cfg.Database)
	return st, err
}
