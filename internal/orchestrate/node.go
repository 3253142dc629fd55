package orchestrate

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/events"
	"github.com/whetstone/whetstone/internal/pipeline"
	"github.com/whetstone/whetstone/internal/queue"
	"github.com/whetstone/whetstone/internal/secret"
	"github.com/whetstone/whetstone/internal/store"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

// Handle runs one delivery of a node; it is the queue's handler.
func (o *Orchestrator) Handle(ctx context.Context, t queue.Task) error {
	job, err := o.st.GetJob(ctx, t.JobID)
	if errors.Is(err, store.ErrNotFound) {
		return queue.Discard(err)
	}
	if err != nil {
		return err
	}
	if job.Status.Terminal() {
		return nil
	}
	var node *store.Node
	for _, n := range job.Nodes {
		if n.ID == t.NodeID {
			node = n
		}
	}
	if node == nil {
		return queue.Discard(fmt.Errorf("job %s has no node %q", t.JobID, t.NodeID))
	}
	if node.Status.Terminal() {
		return nil
	}
	if o.isStopping() {
		// This worker is shutting down: leave the delivery for another.
		return queue.Snooze(0)
	}
	if ok, missing := o.cfg.Caps.Fits(requiresOf(job.Spec, node.ID)); !ok {
		// Not for this worker: put the delivery back for one that fits.
		o.log.DebugContext(ctx, "node needs more than this worker has", slog.String("job_id", t.JobID), slog.String("node", t.NodeID), slog.String("missing", missing))
		return queue.Snooze(o.cfg.PollInterval)
	}
	ag, agentOK := o.reg.Lookup(node.Agent)
	if job.Status == store.Pending && o.cfg.MaxRunningJobs > 0 {
		// A team at its running-job limit starts nothing more: the job
		// waits, it does not fail.
		_, running, err := o.st.ForTeam(job.Team).ListJobs(ctx, store.ListParams{Status: store.Running, Limit: 1})
		if err != nil {
			return err
		}
		if running >= o.cfg.MaxRunningJobs {
			return queue.Snooze(o.cfg.PollInterval)
		}
	}

	// Claim the node's lease.
	owner := o.owner + "/" + randHex(4)
	now := time.Now().UTC()
	var claimed bool
	err = o.st.InTx(ctx, func(tx store.Tx) error {
		var err error
		node, claimed, err = tx.ClaimNode(ctx, &store.ClaimParams{JobID: t.JobID, NodeID: t.NodeID, Owner: owner, Now: now, LeaseUntil: now.Add(o.cfg.LeaseTimeout)})
		if err != nil || !claimed {
			return err
		}
		started, err := tx.SetJobStatus(ctx, t.JobID, store.Running, "", now)
		if err != nil {
			return err
		}
		if started {
			if err := tx.AppendEvent(ctx, events.New(t.JobID, "", events.Status, events.StatusData{Status: store.Running})); err != nil {
				return err
			}
		}
		return tx.AppendEvent(ctx, events.New(t.JobID, t.NodeID, events.Node, events.NodeData{Status: store.Running, Attempt: node.Attempts}))
	})
	if err != nil {
		return err
	}
	if !claimed {
		switch {
		case node.Status.Terminal():
			return nil
		case node.Status == store.Running:
			// Another worker holds it: look again once its lease could end.
			return queue.Snooze(time.Until(node.LeaseUntil) + o.cfg.PollInterval)
		default:
			return queue.Snooze(o.cfg.PollInterval)
		}
	}
	o.bus.Notify(t.JobID)
	log := o.log.With(slog.String("job_id", t.JobID), slog.String("node", t.NodeID), slog.Int("attempt", node.Attempts))

	if !agentOK {
		return o.fail(ctx, job, node, owner, agent.Permanent(fmt.Errorf("agent %q is not available on this worker", node.Agent)))
	}
	if node.Attempts > node.MaxAttempts {
		return o.fail(ctx, job, node, owner, agent.Permanent(fmt.Errorf("gave up after %d attempts: %s", node.MaxAttempts, node.Error)))
	}

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ref := store.NodeRef{JobID: t.JobID, NodeID: t.NodeID}
	o.mu.Lock()
	o.running[ref] = cancel
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		delete(o.running, ref)
		o.mu.Unlock()
	}()
	watchDone := make(chan struct{})
	go o.watch(runCtx, cancel, ref, owner, now.Add(o.cfg.LeaseTimeout), watchDone)

	outs, cacheKey, cached, runErr := o.execute(runCtx, job, node, ag, log)
	cancel(nil)
	<-watchDone
	cause := context.Cause(runCtx)

	switch {
	case errors.Is(cause, errJobEnded):
		// The job was cancelled or failed elsewhere: record the node quietly.
		o.st.InTx(context.WithoutCancel(ctx), func(tx store.Tx) error {
			_, err := tx.FinishNode(ctx, &store.FinishNodeParams{JobID: t.JobID, NodeID: t.NodeID, Owner: owner, Status: store.Cancelled, Error: "cancelled", At: time.Now().UTC()})
			return err
		})
		log.InfoContext(ctx, "node cancelled")
		return nil
	case errors.Is(cause, errLeaseLost):
		log.WarnContext(ctx, "node lease lost; another worker owns it now")
		return nil
	case runErr == nil:
		return o.succeed(ctx, job, node, owner, outs, cacheKey, cached, log)
	case errors.Is(cause, errStopping) || ctx.Err() != nil:
		// This worker is stopping: hand the node back at once, without
		// spending an attempt, and queue a fresh delivery for another worker
		// in the same transaction (this delivery then ends).
		return o.handBack(context.WithoutCancel(ctx), t, node, owner, log)
	case agent.IsPermanent(runErr) || node.Attempts >= node.MaxAttempts:
		return o.fail(ctx, job, node, owner, runErr)
	}
	delay := o.backoff(node.Attempts)
	log.WarnContext(ctx, "node failed, retrying", slog.Any("error", runErr), slog.Duration("retry_in", delay))
	err = o.st.InTx(ctx, func(tx store.Tx) error {
		if ok, err := tx.RetryNode(ctx, t.JobID, t.NodeID, owner, runErr.Error()); err != nil || !ok {
			return err
		}
		_, err := tx.AppendActiveEvent(ctx, events.New(t.JobID, t.NodeID, events.Node, events.NodeData{Status: store.Pending, Attempt: node.Attempts, Error: runErr.Error(), RetryIn: delay.Seconds()}))
		return err
	})
	if err != nil {
		return err
	}
	o.bus.Notify(t.JobID)
	return queue.Snooze(delay)
}

func (o *Orchestrator) handBack(ctx context.Context, t queue.Task, node *store.Node, owner string, log *slog.Logger) error {
	err := o.st.InTx(ctx, func(tx store.Tx) error {
		ok, err := tx.ReleaseNode(ctx, t.JobID, t.NodeID, owner)
		if err != nil || !ok {
			return err
		}
		e := events.New(t.JobID, t.NodeID, events.Node, events.NodeData{Status: store.Pending, Attempt: node.Attempts - 1, Error: "handed back: worker stopping (attempt not counted)"})
		if _, err := tx.AppendActiveEvent(ctx, e); err != nil {
			return err
		}
		return o.q.EnqueueTx(ctx, tx, t)
	})
	if err != nil {
		return err
	}
	o.bus.Notify(t.JobID)
	log.InfoContext(ctx, "node handed back: worker stopping")
	return nil
}

// watch renews the lease and watches for the job's end until ctx ends.
//
// If renewals stall (a write lock held for long, a paused process), the
// agent is cancelled shortly before the lease it holds ends, so it never
// runs on past its lease alongside a worker that took the node over.
func (o *Orchestrator) watch(ctx context.Context, cancel context.CancelCauseFunc, ref store.NodeRef, owner string, until time.Time, done chan<- struct{}) {
	defer close(done)
	margin := o.cfg.LeaseTimeout / 10
	expire := time.AfterFunc(time.Until(until)-margin, func() { cancel(errLeaseLost) })
	defer expire.Stop()
	poll := time.NewTicker(o.cfg.PollInterval)
	defer poll.Stop()
	renew := time.NewTicker(max(o.cfg.LeaseTimeout/3, 10*time.Millisecond))
	defer renew.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
			j, err := o.st.GetJob(ctx, ref.JobID)
			if err == nil && j.Status.Terminal() {
				cancel(errJobEnded)
				return
			}
		case <-renew.C:
			var ok bool
			newUntil := time.Now().UTC().Add(o.cfg.LeaseTimeout)
			err := o.st.InTx(ctx, func(tx store.Tx) error {
				var err error
				ok, err = tx.RenewLease(ctx, ref.JobID, ref.NodeID, owner, newUntil)
				return err
			})
			if err == nil && !ok {
				cancel(errLeaseLost)
				return
			}
			if err == nil {
				expire.Reset(time.Until(newUntil) - margin)
			}
		}
	}
}

// execute runs the agent, or takes its outputs from the cache.
func (o *Orchestrator) execute(ctx context.Context, job *store.Job, node *store.Node, ag agent.Agent, log *slog.Logger) (outs []agent.Artifact, key string, cached bool, err error) {
	spec := ag.Spec()
	scratch := filepath.Join(o.cfg.ScratchDir, job.ID, node.ID+"-"+randHex(4))
	defer os.RemoveAll(scratch)
	inDir := filepath.Join(scratch, "in")
	var inputs []agent.Artifact
	for _, p := range node.Preds {
		pn, err := o.st.GetNode(ctx, job.ID, p)
		if err != nil {
			return nil, "", false, err
		}
		for _, a := range pn.Outputs {
			local, err := o.materialize(ctx, a.URI, filepath.Join(inDir, p, a.Name))
			if err != nil {
				return nil, "", false, fmt.Errorf("input %s/%s: %w", p, a.Name, err)
			}
			a.Path = local
			inputs = append(inputs, a)
		}
	}
	workDir := job.WorkDir
	if workDir == "" {
		workDir = o.cfg.WorkDir
	}
	key = o.cacheKey(ctx, job.Team, workDir, spec, node.Agent, node.Params, inputs)
	emit := events.NewEmitter(ctx, o.bus, job.ID, node.ID)
	defer emit.Close() // stored before the node's outcome
	if node.Attempts > 1 {
		// A resumed attempt does not show steps an earlier one showed.
		if last, err := events.LastMetricStep(ctx, o.st, job.ID, node.ID); err == nil && last > 0 {
			emit.SkipMetricsThrough(last)
		}
	}
	if node.Cache {
		if hit, ok, err := o.st.GetCache(ctx, job.Team, key); err == nil && ok && o.blobsExist(ctx, hit) {
			emit.Log(slog.LevelInfo, "outputs taken from the cache", slog.String("cache_key", key))
			return hit, key, true, nil
		}
	}
	outDir := filepath.Join(scratch, "out")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, "", false, err
	}
	params, err := o.cfg.Secrets.OpenParams(spec.Params, node.Params, job.Team)
	if err != nil {
		return nil, key, false, agent.Permanent(err)
	}
	redact := secret.NewRedactor(secret.Values(spec.Params, params))
	redEmit := redact.Emitter(emit)
	env := &agent.Env{
		JobID: job.ID, NodeID: node.ID, Attempt: node.Attempts,
		Params: agent.Params(params), Inputs: inputs, OutDir: outDir, WorkDir: workDir,
		Emit: redEmit, Logger: teeLogger(log, redEmit), HTTP: o.http,
		ResolveSource: func(ctx context.Context, ref, kind string) (string, error) {
			return o.ResolveSource(ctx, job.Team, ref, kind, workDir, filepath.Join(scratch, "src"))
		},
		Checkpoints: newCheckpoints(o.blobs, key),
	}
	log.InfoContext(ctx, "node running")
	outs, err = safeRun(ctx, ag, env)
	if err != nil {
		return nil, key, false, redact.Error(err)
	}
	if err := ctx.Err(); err != nil {
		return nil, key, false, err
	}
	outs, err = o.storeOutputs(ctx, job, node, spec, outDir, outs)
	if err == nil {
		o.addLineage(ctx, job.Team, inputs, o.datasetVersions(ctx, job.Team, spec.Params, node.Params, workDir), outs)
		// Done: its checkpoints are of no more use.
		if cerr := newCheckpoints(o.blobs, key).Clear(ctx); cerr != nil {
			log.WarnContext(ctx, "checkpoints not removed (gc sweeps them)", slog.Any("error", cerr))
		}
	}
	return outs, key, false, err
}

func safeRun(ctx context.Context, ag agent.Agent, env *agent.Env) (outs []agent.Artifact, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = agent.Permanent(fmt.Errorf("agent %s panicked: %v\n%s", ag.Spec().Name, r, debug.Stack()))
		}
	}()
	return ag.Run(ctx, env)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// storeOutputs checks the agent's artifacts and moves them into the blob
// store under jobs/JOB/NODE/NAME/FILE (a file) or jobs/JOB/NODE/NAME/ (a folder).
func (o *Orchestrator) storeOutputs(ctx context.Context, job *store.Job, node *store.Node, spec agent.Spec, outDir string, outs []agent.Artifact) ([]agent.Artifact, error) {
	seen := map[string]bool{}
	var stored []agent.Artifact
	for _, a := range outs {
		if a.Name == "" {
			a.Name = string(a.Type)
		}
		if !nameRE.MatchString(a.Name) || seen[a.Name] {
			return nil, agent.Permanent(fmt.Errorf("agent %s returned a bad or duplicate output name %q", node.Agent, a.Name))
		}
		seen[a.Name] = true
		declared := false
		for _, p := range spec.Outputs {
			declared = declared || p.Type == a.Type
		}
		if !declared {
			return nil, agent.Permanent(fmt.Errorf("agent %s returned a %s output it does not declare", node.Agent, a.Type))
		}
		rel := filepath.Clean(a.Path)
		if a.Path == "" || filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil, agent.Permanent(fmt.Errorf("agent %s output %q: path %q must be relative to OutDir", node.Agent, a.Name, a.Path))
		}
		src := filepath.Join(outDir, rel)
		fi, err := os.Stat(src)
		if err != nil {
			return nil, agent.Permanent(fmt.Errorf("agent %s output %q: %w", node.Agent, a.Name, err))
		}
		base := fmt.Sprintf("jobs/%s/%s/%s", job.ID, node.ID, a.Name)
		meta := map[string]any{}
		for k, v := range a.Meta {
			meta[k] = v
		}
		if fi.IsDir() {
			var files []map[string]any
			var size int64
			h := sha256.New()
			err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				r, _ := filepath.Rel(src, p)
				r = filepath.ToSlash(r)
				info, err := o.put(ctx, base+"/"+r, p)
				if err != nil {
					return err
				}
				files = append(files, map[string]any{"path": r, "size": info.Size, "sha256": info.SHA256})
				size += info.Size
				fmt.Fprintf(h, "%s %s\n", r, info.SHA256)
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("store output %s: %w", a.Name, err)
			}
			a.URI = base + "/"
			meta["sha256"] = hex.EncodeToString(h.Sum(nil))
			meta["size"] = size
			meta["files"] = mergeFileMeta(files, a.Meta["files"])
		} else {
			// Keep the file's own name (and extension) under the output's name.
			key := base + "/" + filepath.Base(rel)
			info, err := o.put(ctx, key, src)
			if err != nil {
				return nil, fmt.Errorf("store output %s: %w", a.Name, err)
			}
			a.URI = key
			meta["sha256"] = info.SHA256
			meta["size"] = info.Size
		}
		a.Path = filepath.ToSlash(rel)
		a.Meta = meta
		stored = append(stored, a)
	}
	return stored, nil
}

func (o *Orchestrator) put(ctx context.Context, key, path string) (blob.Info, error) {
	return blob.PutFile(ctx, o.blobs, key, path, true)
}

// materialize returns a local path for the stored object key (a file, or a
// folder: of the files only names when set): the blob store's own file when
// it is local, else links into the worker's blob cache (or downloads)
// placed at dst (blob.Cache.Materialize). Callers must not write to it.
func (o *Orchestrator) materialize(ctx context.Context, key, dst string, only ...string) (string, error) {
	return o.cache.Materialize(ctx, key, dst, only...)
}

func (o *Orchestrator) blobsExist(ctx context.Context, outs []agent.Artifact) bool {
	for _, a := range outs {
		if strings.HasSuffix(a.URI, "/") {
			l, err := o.blobs.List(ctx, a.URI)
			if err != nil || len(l) == 0 {
				return false
			}
		} else if _, err := o.blobs.Stat(ctx, a.URI); err != nil {
			return false
		}
	}
	return true
}

// cacheKey is the key node's outputs are cached under (pipeline.CacheKey):
// its agent, params, its inputs' content (their sha256 and blob keys, in
// edge order) and the content of the local files its params name.
func (o *Orchestrator) cacheKey(ctx context.Context, team, workDir string, spec agent.Spec, agentName string, params map[string]any, inputs []agent.Artifact) string {
	inHashes := make([]string, 0, len(inputs))
	for _, a := range inputs {
		h, _ := a.Meta["sha256"].(string)
		inHashes = append(inHashes, string(a.Type)+":"+a.Name+":"+h+":"+a.URI)
	}
	return pipeline.CacheKey(agentName, params, inHashes, o.fileFacts(ctx, team, spec.Params, params, workDir)...)
}

// fileFacts lists size and modification time of the local files and folders
// named by path-like string params, so the cache notices edited inputs.
func (o *Orchestrator) fileFacts(ctx context.Context, team string, decls []agent.Param, params map[string]any, workDir string) []string {
	var out []string
	for _, d := range decls {
		s, ok := params[d.Name].(string)
		if !ok || s == "" || d.Type != agent.String {
			continue
		}
		if !sourceParam(d) {
			continue
		}
		if ds, err := o.st.ForTeam(team).GetDataset(ctx, s); err == nil {
			out = append(out, d.Name+"=dataset:"+ds.SHA256)
			continue
		}
		if m, err := o.st.ForTeam(team).GetModel(ctx, s); err == nil {
			out = append(out, d.Name+"=model:"+m.URI)
			continue
		}
		p := s
		if !filepath.IsAbs(p) {
			p = filepath.Join(workDir, p)
		}
		// By content (each file's SHA-256, remembered per size and
		// modification time), not by where or when: the same files give
		// the same key on every machine.
		sum, n := o.listingSum(p)
		out = append(out, fmt.Sprintf("%s=%s:%d:%s", d.Name, s, n, sum))
	}
	sort.Strings(out)
	return out
}

// fileSum returns path's SHA-256, hashed once per size and modification time.
func (o *Orchestrator) fileSum(path string, fi fs.FileInfo) string {
	if !fi.Mode().IsRegular() {
		// A named pipe or device would block or never end the read.
		return "unreadable"
	}
	k := fmt.Sprintf("%s\x00%d\x00%d", path, fi.Size(), fi.ModTime().UnixNano())
	if v, ok := o.sums.Load(k); ok {
		return v.(string)
	}
	f, err := os.Open(path)
	if err != nil {
		return "unreadable"
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "unreadable"
	}
	sum := hex.EncodeToString(h.Sum(nil))
	o.sums.Store(k, sum)
	return sum
}

// ResolveSource turns a dataset or model reference into a local path: an
// uploaded dataset id, a registered model id or a blob: artifact of team
// (another team's is not found: storedSource), or a path (relative to
// workDir). kind is the Kind of the param naming ref (agent.Env.Resolve):
// for agent.KindTokenizer a stored folder (a registered model) is fetched
// with only the tokenizer's files (tokenizer.Files), into its own folder
// under scratch, so a later fetch of the whole model for another param is
// never handed the partial copy. scratch receives downloads from non-local
// blob stores; a local store's own files are returned whatever kind.
func (o *Orchestrator) ResolveSource(ctx context.Context, team, ref, kind, workDir, scratch string) (string, error) {
	if ref == "" {
		return "", agent.Permanent(errors.New("empty source"))
	}
	if storedRef(ref) {
		// An uploaded dataset, a registered model or an artifact another
		// node recorded by its blob key: only team's (storedSource).
		key, name, err := o.storedSource(ctx, team, ref)
		var only []string
		if err == nil && kind == agent.KindTokenizer && strings.HasSuffix(key, "/") {
			// Its tokenizer, not its weights: a folder of its own.
			only, scratch = tokenizer.Files, filepath.Join(scratch, agent.KindTokenizer)
		}
		switch {
		case err == nil && strings.HasPrefix(ref, agent.BlobRef):
			sum := sha256.Sum256([]byte(key))
			dst := filepath.Join(scratch, "blob-"+hex.EncodeToString(sum[:8]))
			if !strings.HasSuffix(key, "/") {
				// A file keeps its name (readers go by its extension).
				dst = filepath.Join(dst, path.Base(key))
			}
			return o.materialize(ctx, key, dst, only...)
		case err == nil:
			// From the blob store, on any worker.
			return o.materialize(ctx, key, filepath.Join(scratch, ref, name), only...)
		case errors.Is(err, errNoSource) && !strings.HasPrefix(ref, agent.BlobRef):
			// Not team's: then only a path of that name (below), as for
			// an id that names nothing.
		case errors.Is(err, errNoSource):
			return "", agent.Permanent(fmt.Errorf("source %w", err))
		default:
			return "", err
		}
	}
	if strings.Contains(ref, "://") {
		return "", agent.Permanent(fmt.Errorf("source %q: only local paths and uploaded dataset ids are supported by this server's blob store", ref))
	}
	p := ref
	if !filepath.IsAbs(p) {
		p = filepath.Join(workDir, p)
	}
	if o.cfg.Paths != nil {
		if _, err := o.cfg.Paths.Resolve(p); err != nil {
			return "", agent.Permanent(fmt.Errorf("source: %w", err))
		}
	}
	if _, err := os.Stat(p); err != nil {
		return "", agent.Permanent(fmt.Errorf("source %q: no such file or uploaded dataset (looked in %s)", ref, workDir))
	}
	return p, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// mergeFileMeta returns the stored files ({path, size, sha256}) with any
// extra per-file facts the agent reported under meta "files" (a list of
// objects with a "path", e.g. the export agent's GGUF "type") added.
func mergeFileMeta(stored []map[string]any, agentFiles any) []map[string]any {
	b, err := json.Marshal(agentFiles)
	if err != nil {
		return stored
	}
	var reported []map[string]any
	if json.Unmarshal(b, &reported) != nil {
		return stored
	}
	byPath := map[string]map[string]any{}
	for _, f := range reported {
		if p, ok := f["path"].(string); ok {
			byPath[p] = f
		}
	}
	for _, f := range stored {
		for k, v := range byPath[f["path"].(string)] {
			if _, ours := f[k]; !ours {
				f[k] = v
			}
		}
	}
	return stored
}
