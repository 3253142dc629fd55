package orchestrate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/config"
	"github.com/whetstone/whetstone/internal/events"
	"github.com/whetstone/whetstone/internal/pipeline"
	"github.com/whetstone/whetstone/internal/platform"
	"github.com/whetstone/whetstone/internal/store"
)

// recorder notes when each node ran.
type recorder struct {
	mu    sync.Mutex
	spans map[string][]span // node id -> attempts
	calls map[string]int    // agent name -> runs
}

type span struct {
	start, end time.Time
	err        error
}

func (r *recorder) add(node string, s span) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spans[node] = append(r.spans[node], s)
}

func (r *recorder) n(agentName string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[agentName]
}

func (r *recorder) get(node string) []span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]span(nil), r.spans[node]...)
}

// testAgent is a configurable fake agent: it writes its node id after the
// contents of its inputs, sleeping "sleep_ms" and failing the first
// "fail_times" attempts (permanently when "permanent" is set).
type testAgent struct {
	name string
	rec  *recorder
}

func (a *testAgent) Spec() agent.Spec {
	return agent.Spec{Name: a.name,
		Params: []agent.Param{
			{Name: "sleep_ms", Type: agent.Integer, Default: int64(0)},
			{Name: "fail_times", Type: agent.Integer, Default: int64(0)},
			{Name: "permanent", Type: agent.Boolean, Default: false},
			{Name: "block", Type: agent.Boolean, Default: false},
			{Name: "tag", Type: agent.String, Default: ""},
			{Name: "source", Type: agent.String, Kind: "dataset"},
			{Name: "base_model", Type: agent.String, Default: ""},
			{Name: "weights", Type: agent.String, Default: ""},
			{Name: "model", Type: agent.String, Kind: "model"},
			{Name: "tokenizer", Type: agent.String, Kind: "tokenizer"},
			{Name: "tokenizer_json", Type: agent.String, Default: ""},
		},
		Inputs:  []agent.Port{{Type: agent.Dataset, Name: "in", Multiple: true}},
		Outputs: []agent.Port{{Type: agent.Dataset, Name: "out"}, {Type: agent.Model, Name: "model"}},
	}
}

func (a *testAgent) Run(ctx context.Context, env *agent.Env) ([]agent.Artifact, error) {
	s := span{start: time.Now()}
	defer func() { s.end = time.Now(); a.rec.add(env.NodeID, s); a.rec.add(env.JobID+"/"+env.NodeID, s) }()
	a.rec.mu.Lock()
	a.rec.calls[a.name]++
	a.rec.mu.Unlock()
	env.Emit.Log(0, "hello from "+env.NodeID)
	env.Emit.Progress(0.5, time.Second, "half")
	env.Emit.Metrics(1, map[string]float64{"loss": 1.5})
	if env.Params.Bool("block") {
		<-ctx.Done()
		s.err = ctx.Err()
		return nil, ctx.Err()
	}
	select {
	case <-time.After(time.Duration(env.Params.Int("sleep_ms")) * time.Millisecond):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if env.Attempt <= env.Params.Int("fail_times") {
		s.err = fmt.Errorf("injected failure %d", env.Attempt)
		if env.Params.Bool("permanent") {
			return nil, agent.Permanent(s.err)
		}
		return nil, s.err
	}
	var text string
	for _, in := range env.InputsOf(agent.Dataset) {
		b, err := os.ReadFile(in.Path)
		if err != nil {
			return nil, err
		}
		text += string(b)
	}
	text += env.NodeID + ";"
	if err := os.WriteFile(filepath.Join(env.OutDir, "out.txt"), []byte(text), 0o644); err != nil {
		return nil, err
	}
	os.MkdirAll(filepath.Join(env.OutDir, "m", "sub"), 0o755)
	os.WriteFile(filepath.Join(env.OutDir, "m", "sub", "w.bin"), []byte("weights"), 0o644)
	if w := env.Params.String("weights"); w != "" {
		os.WriteFile(filepath.Join(env.OutDir, "m", "model.safetensors"), []byte(w), 0o644)
	}
	if tj := env.Params.String("tokenizer_json"); tj != "" {
		os.WriteFile(filepath.Join(env.OutDir, "m", "tokenizer.json"), []byte(tj), 0o644) // a merged model keeps its tokenizer
	}
	meta := map[string]any{"method": "test"}
	if b := env.Params.String("base_model"); b != "" {
		meta["base_model"] = b // as the train agent names a registered base: by id
	}
	return []agent.Artifact{
		{Type: agent.Dataset, Name: "out", Path: "out.txt"},
		{Type: agent.Model, Name: "model", Path: "m", Meta: meta},
	}, nil
}

type bundle struct {
	p   *platform.Platform
	rec *recorder
}

func setup(t *testing.T, mut ...func(*config.Config)) *bundle {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Config{DataDir: dir, Concurrency: 4, PollInterval: 50 * time.Millisecond, LeaseTimeout: 2 * time.Second,
		RetryBase: 100 * time.Millisecond, RetryMax: time.Second}
	for _, m := range mut {
		m(&cfg)
	}
	if onPostgres() && cfg.Database == "" {
		cfg.Database = pgSchemaFor(t, cfg.DataDir)
	}
	var err error
	cfg, err = configFill(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{spans: map[string][]span{}, calls: map[string]int{}}
	var reg agent.Registry
	reg.Register(&testAgent{name: "step", rec: rec})
	reg.Register(&testAgent{name: "other", rec: rec})
	p, err := platform.Open(context.Background(), cfg, &reg, platform.Options{Work: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Stop(ctx)
	})
	return &bundle{p: p, rec: rec}
}

func configFill(c config.Config) (config.Config, error) {
	d := config.Default()
	if c.Database == "" {
		c.Database = filepath.Join(c.DataDir, "whet.db")
	}
	if c.BlobDir == "" {
		c.BlobDir = filepath.Join(c.DataDir, "blobs")
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	c.WorkDir, c.Heartbeat, c.MaxUploadBytes, c.LogLevel, c.Addr, c.DryRunTimeout = d.WorkDir, d.Heartbeat, d.MaxUploadBytes, d.LogLevel, d.Addr, d.DryRunTimeout
	return c, c.Validate()
}

func (b *bundle) submit(t *testing.T, yaml string) *store.Job {
	t.Helper()
	s, err := pipeline.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	j, err := b.p.Orch.Submit(context.Background(), s, "")
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (b *bundle) wait(t *testing.T, id string, d time.Duration) *store.Job {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		j, err := b.p.Store.GetJob(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status.Terminal() {
			return j
		}
		time.Sleep(20 * time.Millisecond)
	}
	j, _ := b.p.Store.GetJob(context.Background(), id)
	b2, _ := json.MarshalIndent(j, "", " ")
	t.Fatalf("job %s did not end within %s: %s", id, d, b2)
	return nil
}

func node(j *store.Job, id string) *store.Node {
	for _, n := range j.Nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

func (b *bundle) read(t *testing.T, a agent.Artifact) string {
	t.Helper()
	o, err := b.p.Blobs.Open(context.Background(), a.URI)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	buf := make([]byte, 1000)
	n, _ := o.Read(buf)
	return string(buf[:n])
}

func TestDAGOrderAndConcurrentBranches(t *testing.T) {
	t.Parallel()
	b := setup(t)
	j := b.submit(t, `
name: diamond
nodes:
  - {id: src, agent: step}
  - {id: left, agent: step, params: {sleep_ms: 1200}}
  - {id: right, agent: other, params: {sleep_ms: 1200}}
  - {id: join, agent: step}
edges: [{from: src, to: left}, {from: src, to: right}, {from: left, to: join}, {from: right, to: join}]`)
	j = b.wait(t, j.ID, 20*time.Second)
	if j.Status != store.Succeeded {
		t.Fatalf("job %s: %s", j.Status, j.Error)
	}
	src, left, right, join := b.rec.get("src")[0], b.rec.get("left")[0], b.rec.get("right")[0], b.rec.get("join")[0]
	if left.start.Before(src.end) || right.start.Before(src.end) || join.start.Before(left.end) || join.start.Before(right.end) {
		t.Errorf("order violated: src %v left %v right %v join %v", src, left, right, join)
	}
	if !(left.start.Before(right.end) && right.start.Before(left.end)) {
		t.Errorf("branches did not overlap: left %v-%v right %v-%v", left.start, left.end, right.start, right.end)
	}
	out := node(j, "join").Outputs
	if got := b.read(t, out[0]); got != "src;left;src;right;join;" {
		t.Errorf("join output = %q (inputs not handed in edge order)", got)
	}
	if out[1].Type != agent.Model || !strings.HasSuffix(out[1].URI, "/") || out[1].Meta["sha256"] == "" {
		t.Errorf("model output = %+v", out[1])
	}
	models, total, _ := b.p.Store.ListModels(context.Background(), store.ListParams{})
	if total != 4 || models[0].Files[0] != "sub/w.bin" || models[0].Size != 7 {
		t.Errorf("models = %d %+v", total, models)
	}
	// History: gapless, starts pending, ends with the final status.
	evs, _ := b.p.Store.ListEvents(context.Background(), j.ID, 0, 0)
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
	}
	if !events.IsFinal(evs[len(evs)-1]) || evs[0].Type != events.Status {
		t.Errorf("history ends with %+v", evs[len(evs)-1])
	}
	types := map[string]int{}
	for _, e := range evs {
		types[e.Type]++
	}
	if types[events.Log] < 4 || types[events.Progress] != 4 || types[events.Metric] != 4 || types[events.Node] != 8 {
		t.Errorf("event counts = %v", types)
	}
}

func TestRetryWithBackoff(t *testing.T) {
	t.Parallel()
	b := setup(t)
	j := b.submit(t, `
name: flaky
nodes: [{id: f, agent: step, params: {fail_times: 2}}]`)
	j = b.wait(t, j.ID, 20*time.Second)
	if j.Status != store.Succeeded || node(j, "f").Attempts != 3 {
		t.Fatalf("job %s, attempts %d", j.Status, node(j, "f").Attempts)
	}
	sp := b.rec.get("f")
	if len(sp) != 3 {
		t.Fatalf("%d runs, want 3", len(sp))
	}
	// RetryBase 100ms: first gap 75..125ms+, second 150..250ms+ (±25% jitter).
	g1, g2 := sp[1].start.Sub(sp[0].end), sp[2].start.Sub(sp[1].end)
	if g1 < 75*time.Millisecond || g2 < 150*time.Millisecond {
		t.Errorf("retry gaps %v, %v: want >= 75ms then >= 150ms", g1, g2)
	}
	if g1 > 2*time.Second || g2 > 2*time.Second {
		t.Errorf("retry gaps %v, %v: far beyond the backoff", g1, g2)
	}
}

func TestPermanentErrorFailsFast(t *testing.T) {
	t.Parallel()
	b := setup(t)
	j := b.submit(t, `
name: bad
nodes: [{id: a, agent: step, params: {fail_times: 5, permanent: true}}, {id: b, agent: step}]
edges: [{from: a, to: b}]`)
	j = b.wait(t, j.ID, 20*time.Second)
	a := node(j, "a")
	if j.Status != store.Failed || a.Status != store.Failed || a.Attempts != 1 || len(b.rec.get("a")) != 1 {
		t.Fatalf("job %s node %s attempts %d", j.Status, a.Status, a.Attempts)
	}
	if !strings.Contains(j.Error, "node a: injected failure 1") || node(j, "b").Status != store.Cancelled {
		t.Errorf("job error %q, b %s", j.Error, node(j, "b").Status)
	}
	// Transient errors stop at max_attempts.
	j = b.submit(t, `
name: exhaust
nodes: [{id: c, agent: step, max_attempts: 2, params: {fail_times: 5}}]`)
	j = b.wait(t, j.ID, 20*time.Second)
	if j.Status != store.Failed || node(j, "c").Attempts != 2 || len(b.rec.get("c")) != 2 {
		t.Errorf("exhaust: job %s attempts %d runs %d", j.Status, node(j, "c").Attempts, len(b.rec.get("c")))
	}
}

func TestCancelStopsRunningAgent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	j := b.submit(t, `
name: long
nodes: [{id: slow, agent: step, params: {block: true}}, {id: after, agent: step}]
edges: [{from: slow, to: after}]`)
	deadline := time.Now().Add(10 * time.Second)
	for b.rec.n("step") == 0 || node(mustJob(t, b, j.ID), "slow").Status != store.Running {
		if time.Now().After(deadline) {
			t.Fatal("node never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t0 := time.Now()
	if err := b.p.Orch.Cancel(context.Background(), j.ID); err != nil {
		t.Fatal(err)
	}
	for len(b.rec.get("slow")) == 0 {
		if time.Since(t0) > 3*time.Second {
			t.Fatal("agent still running 3s after cancel")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := b.rec.get("slow")[0].err; !errors.Is(err, context.Canceled) {
		t.Errorf("agent saw %v, want context.Canceled", err)
	}
	for range 100 { // the worker records the node's end just after the agent returns
		if j = mustJob(t, b, j.ID); node(j, "slow").Status != store.Running {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if j.Status != store.Cancelled || node(j, "slow").Status != store.Cancelled || node(j, "after").Status != store.Cancelled {
		t.Errorf("after cancel: job %s, slow %s, after %s", j.Status, node(j, "slow").Status, node(j, "after").Status)
	}
	if err := b.p.Orch.Cancel(context.Background(), j.ID); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second cancel = %v, want ErrConflict", err)
	}
	evs, _ := b.p.Store.ListEvents(context.Background(), j.ID, 0, 0)
	if !events.IsFinal(evs[len(evs)-1]) {
		t.Errorf("history does not end with the final status: %+v", evs[len(evs)-1])
	}
	// Every node's last node event is final, so a page replaying the history
	// shows no node still running.
	last := map[string]store.Status{}
	for _, e := range evs {
		if e.Type == events.Node {
			var d events.NodeData
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatal(err)
			}
			last[e.Node] = d.Status
		}
	}
	if last["slow"] != store.Cancelled || last["after"] != store.Cancelled {
		t.Errorf("last node events: %v, want slow and after cancelled", last)
	}
}

func mustJob(t *testing.T, b *bundle, id string) *store.Job {
	t.Helper()
	j, err := b.p.Store.GetJob(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestCacheSkipsFinishedWork(t *testing.T) {
	t.Parallel()
	b := setup(t)
	spec := `
name: cached
nodes: [{id: a, agent: step, params: {tag: x}}, {id: b, agent: other}]
edges: [{from: a, to: b}]`
	j1 := b.wait(t, b.submit(t, spec).ID, 20*time.Second)
	j2 := b.wait(t, b.submit(t, spec).ID, 20*time.Second)
	if j1.Status != store.Succeeded || j2.Status != store.Succeeded {
		t.Fatalf("jobs %s %s", j1.Status, j2.Status)
	}
	if b.rec.n("step") != 1 || b.rec.n("other") != 1 {
		t.Errorf("agent runs = %d %d, want one each", b.rec.n("step"), b.rec.n("other"))
	}
	if !node(j2, "a").Cached || !node(j2, "b").Cached || node(j1, "a").Cached {
		t.Errorf("cached flags: j1 %v, j2 %v %v", node(j1, "a").Cached, node(j2, "a").Cached, node(j2, "b").Cached)
	}
	if b.read(t, node(j2, "b").Outputs[0]) != "a;b;" {
		t.Errorf("cached output differs")
	}
	// A changed param misses the cache.
	j3 := b.wait(t, b.submit(t, strings.Replace(spec, "tag: x", "tag: y", 1)).ID, 20*time.Second)
	if node(j3, "a").Cached || b.rec.n("step") != 2 || b.rec.n("other") != 2 || node(j3, "b").Cached {
		t.Errorf("changed param: cached %v %v, runs %d %d", node(j3, "a").Cached, node(j3, "b").Cached, b.rec.n("step"), b.rec.n("other"))
	}
	// Models are registered by the runs that made them, not again on cache hits.
	if _, total, _ := b.p.Store.ListModels(context.Background(), store.ListParams{}); total != 4 {
		t.Errorf("%d models registered, want 4 (2 runs x 2 nodes)", total)
	}
}

func TestInvalidSpecQueuesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s, _ := pipeline.Parse([]byte(`{name: x, nodes: [{id: a, agent: nope}]}`))
	_, err := b.p.Orch.Submit(context.Background(), s, "")
	var ve *pipeline.ValidationError
	if !errors.As(err, &ve) || ve.Errors[0].Node != "a" || ve.Errors[0].Field != "agent" {
		t.Fatalf("Submit = %v", err)
	}
	if _, n, _ := b.p.Store.ListJobs(context.Background(), store.ListParams{}); n != 0 {
		t.Errorf("%d jobs stored", n)
	}
}

// Two worker processes' worth of platforms share one database: every node
// runs exactly once and never on both at the same time.
func TestTwoWorkersNeverRunANodeTwice(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	long := func(c *config.Config) { c.DataDir = dir; c.LeaseTimeout = 10 * time.Second }
	a, b := setup(t, long), setup(t, long)
	var ids []string
	for i := range 12 {
		s := fmt.Sprintf("name: w%d\nnodes: [{id: n, agent: step, cache: false, params: {sleep_ms: 30}}, {id: m, agent: other, cache: false}]\nedges: [{from: n, to: m}]", i)
		ids = append(ids, a.submit(t, s).ID)
	}
	for _, id := range ids {
		if j := a.wait(t, id, 30*time.Second); j.Status != store.Succeeded {
			t.Fatalf("job %s: %s %s", id, j.Status, j.Error)
		}
	}
	runsA, runsB := a.rec.n("step")+a.rec.n("other"), b.rec.n("step")+b.rec.n("other")
	if runsA+runsB < 24 {
		t.Errorf("nodes ran %d+%d times, want at least 24", runsA, runsB)
	}
	// A node may run again if a lease ends under heavy load (with 2s leases
	// here), but never while another run of it goes on.
	for _, id := range ids {
		for _, n := range []string{"n", "m"} {
			spans := append(a.rec.get(id+"/"+n), b.rec.get(id+"/"+n)...)
			for i := range spans {
				for k := range spans {
					if i != k && spans[i].start.Before(spans[k].end) && spans[k].start.Before(spans[i].end) {
						t.Errorf("job %s node %s: runs overlap: %v-%v and %v-%v", id, n, spans[i].start, spans[i].end, spans[k].start, spans[k].end)
					}
				}
			}
		}
	}
	if runsA+runsB > 24 {
		t.Logf("%d nodes ran again after a lease ended", runsA+runsB-24)
	}
	if runsA == 0 || runsB == 0 {
		t.Logf("one worker did all the work (%d, %d)", runsA, runsB)
	}
}

// A node held by a worker that stopped heartbeating is delivered again once
// its lease expires, and not before.
func TestDeadWorkerLeaseExpires(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := setup(t, func(c *config.Config) { c.DataDir = dir; c.LeaseTimeout = 600 * time.Millisecond })
	ctx := context.Background()
	// Submit through the store as if a dead process had claimed the node.
	j := &store.Job{ID: store.NewID("job"), Name: "ghost", Status: store.Running, Spec: []byte(`{}`), CreatedAt: time.Now()}
	j.Nodes = []*store.Node{{ID: "n", Agent: "step", Params: map[string]any{"sleep_ms": 0}, MaxAttempts: 3, Cache: false}}
	now := time.Now()
	err := b.p.Store.InTx(ctx, func(tx store.Tx) error {
		if err := tx.CreateJob(ctx, j); err != nil {
			return err
		}
		_, _, err := tx.ClaimNode(ctx, &store.ClaimParams{JobID: j.ID, NodeID: "n", Owner: "dead", Now: now, LeaseUntil: now.Add(time.Second)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got := b.wait(t, j.ID, 10*time.Second)
	sp := b.rec.get("n")
	if got.Status != store.Succeeded || node(got, "n").Attempts != 2 || len(sp) != 1 {
		t.Fatalf("job %s attempts %d runs %d", got.Status, node(got, "n").Attempts, len(sp))
	}
	if sp[0].start.Before(now.Add(time.Second)) {
		t.Errorf("node ran %s after the claim, before the dead worker's lease ended", sp[0].start.Sub(now))
	}
	evs, _ := b.p.Store.ListEvents(ctx, j.ID, 0, 0)
	if len(evs) == 0 || !strings.Contains(string(evs[0].Data), "worker lost") {
		t.Errorf("first event = %+v, want a worker-lost node event", evs)
	}
}

// When lease renewals stall (here: the store's write lock held past the
// lease), the agent is cancelled before its lease ends; the node then runs
// again once the lease is reclaimed.
func TestStalledRenewalsStopTheAgentBeforeItsLeaseEnds(t *testing.T) {
	skipOnPostgres(t, "stalls renewals by holding SQLite's one write lock")
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.LeaseTimeout = 900 * time.Millisecond })
	ctx := context.Background()
	// Many attempts: on a loaded machine renewals of a 900ms lease may stall again.
	j := b.submit(t, "name: stall\nnodes: [{id: n, agent: step, cache: false, max_attempts: 20, params: {sleep_ms: 1500}}]")
	var claimed time.Time
	for range 500 {
		if n := node(mustJob(t, b, j.ID), "n"); n.Status == store.Running {
			claimed = *n.StartedAt
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if claimed.IsZero() {
		t.Fatal("node never ran")
	}
	// From lockedAt no renewal gets through, so the lease ends by
	// lockedAt+900ms at the latest.
	var lockedAt time.Time
	b.p.Store.InTx(ctx, func(tx store.Tx) error { lockedAt = time.Now(); time.Sleep(1200 * time.Millisecond); return nil })
	j = b.wait(t, j.ID, 20*time.Second)
	sp := b.rec.get("n")
	if j.Status != store.Succeeded || len(sp) < 2 {
		t.Fatalf("job %s after %d runs", j.Status, len(sp))
	}
	if !errors.Is(sp[0].err, context.Canceled) && sp[0].err != nil {
		t.Errorf("first run ended with %v", sp[0].err)
	}
	// Cancelled at 810ms (lease - 10%); allow for a loaded scheduler, but
	// well short of the 1500ms the agent would run uncancelled.
	// Cancelled by lockedAt+810ms (lease - 10%); allow 490ms for a loaded
	// scheduler, still short of the 1500ms the agent runs uncancelled.
	if d := sp[0].end.Sub(lockedAt); d > 1300*time.Millisecond {
		t.Errorf("first run stopped %s after renewals stalled (%s after its claim); its lease was 900ms", d, lockedAt.Sub(claimed))
	}
	for i := 1; i < len(sp); i++ {
		if !sp[i].start.After(sp[i-1].end) {
			t.Errorf("runs %d and %d overlap", i-1, i)
		}
	}
}
