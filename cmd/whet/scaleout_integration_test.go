//go:build integration

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/redis/go-redis/v9"

	"github.com/whetstone/whetstone/internal/events"
	"github.com/whetstone/whetstone/internal/events/redisevents"
	"github.com/whetstone/whetstone/internal/store"
	"github.com/whetstone/whetstone/internal/store/pgstore/pgtest"
	"github.com/whetstone/whetstone/internal/testsvc"
)

// TestIntegrationScaleOut is issue 11's deployment in one test: 2 API
// processes (serve --no-worker) and 3 workers, each with its own data folder
// and nothing shared but PostgreSQL (a fresh schema), S3 (a fresh bucket on
// versitygw) and Redis. Ten pipelines go in at once, among them
// ../shared/examples/stories-lora.yaml and a LoRA run on the same data with
// checkpoint_every 5 ("stories-ck"). Every job has an SSE client, half of
// them on each API process. One API process is SIGKILLed while its clients
// stream (they reconnect to the other with Last-Event-ID); the worker that
// trains stories-ck is SIGKILLed after checkpoint 10 is stored. Then:
// every job succeeds; every SSE client got each event exactly once, in seq
// order; each job's history is 1..N; the killed training node resumed on
// another worker from the latest checkpoint in S3 (next step = checkpoint
// step + 1), its steps never repeat, and its final loss is the same float
// as an uninterrupted run's (same config, no checkpoints); `whet gc
// --dry-run` finds no orphan blob, and every object in the bucket belongs
// to a node output the database records.
//
//	go test -tags integration -run TestIntegrationScaleOut ./cmd/whet
func TestIntegrationScaleOut(t *testing.T) {
	root := repoRoot(t)
	s3 := testsvc.NeedS3(t)
	redisURL := testsvc.NeedRedis(t)
	db := pgtest.NewSchema(t)
	bucket, mc := freshBucket(t, s3)
	blobURL := "s3://" + bucket + "/whet?endpoint=" + url.QueryEscape(s3.Endpoint) + "&region=us-east-1&path_style=true"
	// Event streams are keyed by job id (fresh ids), so a Redis database
	// shared with other tests cannot mix them up.
	env := append(os.Environ(), "AWS_ACCESS_KEY_ID="+s3.AccessKey, "AWS_SECRET_ACCESS_KEY="+s3.Secret)
	for _, k := range []string{"WHET_DATABASE", "WHET_BLOB_URL", "WHET_EVENTS", "WHET_DATA_DIR"} {
		env = append(env, k+"=")
	}
	common := append([]string{"--database", db, "--blob-url", blobURL, "--events", redisURL,
		"--lease-timeout", "10s", "--poll-interval", "200ms", "--work-dir", root}, allowRepoAndShared(t)...)
	bin := buildWhet(t)

	var apis []*proc
	for i := range 2 {
		addr := freePort(t)
		p := startProc(t, bin, env, fmt.Sprintf("api%d", i), append([]string{"serve", "--no-worker", "--addr", addr, "--data-dir", t.TempDir()}, common...)...)
		p.url = "http://" + addr + "/api/v1"
		waitUp(t, p)
		apis = append(apis, p)
	}
	var workers []*proc
	for i := range 3 {
		workers = append(workers, startProc(t, bin, env, fmt.Sprintf("w%d", i),
			append([]string{"worker", "--worker-id", fmt.Sprintf("w%d", i), "--concurrency", "2", "--data-dir", t.TempDir()}, common...)...))
	}

	// The pipelines: the shared example as it is, the checkpointed LoRA run,
	// and eight small DAGs of sleep nodes whose outputs travel to their
	// successors through S3.
	lora, err := os.ReadFile(filepath.Join(root, "..", "shared", "examples", "stories-lora.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	type submission struct{ body, ctype string }
	subs := []submission{{string(lora), "application/yaml"}, {storiesCK(5), "application/json"}}
	for i := range 8 {
		subs = append(subs, submission{fmt.Sprintf(`{"name": "dag%d", "nodes": [
			{"id": "a", "agent": "sleep", "params": {"seconds": %g, "steps": 20}},
			{"id": "b", "agent": "sleep", "params": {"seconds": %g, "steps": 10}},
			{"id": "c", "agent": "sleep", "params": {"seconds": 1, "steps": 5}},
			{"id": "d", "agent": "sleep", "params": {"seconds": 0.5, "steps": 5}}],
			"edges": [{"from": "a", "to": "b"}, {"from": "a", "to": "c"}, {"from": "b", "to": "d"}, {"from": "c", "to": "d"}]}`,
			i, 4+float64(i), 2+float64(i)/2), "application/json"})
	}
	ids := make([]string, len(subs))
	var wg sync.WaitGroup
	for i, s := range subs {
		wg.Go(func() { ids[i] = submit(t, apis[i%2].url, s.ctype, s.body) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	lid, ckID := ids[0], ids[1]
	t.Logf("submitted %d jobs; stories-lora %s, stories-ck %s", len(ids), lid, ckID)

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	clients := map[string]*sseClient{}
	for i, id := range ids {
		c := &sseClient{jobID: id, urls: []string{apis[i%2].url, apis[(i+1)%2].url}, done: make(chan struct{})}
		clients[id] = c
		go c.run(ctx)
	}

	// The training steps of stories-ck, read from the API that stays up.
	ckSteps := func() []int { return metricSteps(t, historyAt(t, apis[1].url, ckID), "tune") }
	waitFor(t, ctx, "stories-ck training reaches step 3", func() bool { return len(ckSteps()) > 0 && slices.Max(ckSteps()) >= 3 })

	// SIGKILL API 0 while its clients stream.
	streaming := 0
	for i, id := range ids {
		if i%2 == 0 && clients[id].received() > 0 && !clients[id].finished() {
			streaming++
		}
	}
	if err := apis[0].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	apis[0].cmd.Wait()
	t.Logf("killed API 0 with %d of its SSE clients mid-stream", streaming)
	if streaming == 0 {
		t.Fatal("no SSE client of API 0 was streaming when it was killed: the test proves nothing")
	}

	// SIGKILL the worker training stories-ck once checkpoint 10 is in S3.
	waitFor(t, ctx, "stories-ck step 12 and a checkpoint in S3", func() bool {
		st := ckSteps()
		return len(st) > 0 && slices.Max(st) >= 12 && len(checkpointSteps(t, mc, bucket)) > 0
	})
	victim := -1
	for i, w := range workers {
		if runsNode(w.log.String(), ckID, "tune", 0) {
			victim = i
		}
	}
	if victim < 0 {
		t.Fatal("no worker log says it runs stories-ck/tune")
	}
	if err := workers[victim].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	workers[victim].cmd.Wait()
	stepsAtKill := ckSteps()
	ckAtKill := slices.Max(checkpointSteps(t, mc, bucket)) // nothing writes after a SIGKILL
	t.Logf("killed worker w%d training stories-ck at step %d; latest checkpoint in S3: %d", victim, slices.Max(stepsAtKill), ckAtKill)
	if slices.Max(stepsAtKill) >= 30 || ckAtKill < 10 {
		t.Fatalf("the kill came at step %d with checkpoint %d: not mid-training (30 steps, checkpoint every 5)", slices.Max(stepsAtKill), ckAtKill)
	}

	// The same training config, never interrupted and never checkpointed:
	// the reference for the final loss.
	refID := submit(t, apis[1].url, "application/json", storiesCK(0))
	refClient := &sseClient{jobID: refID, urls: []string{apis[1].url}, done: make(chan struct{})}
	clients[refID] = refClient
	go refClient.run(ctx)
	ids = append(ids, refID)

	for _, id := range ids {
		select {
		case <-clients[id].done:
		case <-ctx.Done():
			t.Fatalf("job %s: SSE client not done after 8 minutes (%d events)\n%s", id, clients[id].received(), logsOf(apis, workers))
		}
	}

	// Every job succeeded, its history is 1..N, and its SSE client saw
	// exactly that, across the reconnect.
	jobs := map[string]store.Job{}
	reconnected := 0
	for _, id := range ids {
		var j store.Job
		getJSON(t, apis[1].url+"/jobs/"+id, &j)
		jobs[id] = j
		if j.Status != store.Succeeded {
			for _, n := range j.Nodes {
				t.Logf("job %s node %s: %s attempts %d %s", id, n.ID, n.Status, n.Attempts, n.Error)
			}
			t.Errorf("job %s (%s): %s %s", id, j.Name, j.Status, j.Error)
			continue
		}
		h := historyAt(t, apis[1].url, id)
		for k, e := range h {
			if e.Seq != int64(k+1) {
				t.Fatalf("job %s: history event %d has seq %d", id, k, e.Seq)
			}
		}
		if !events.IsFinal(h[len(h)-1]) {
			t.Errorf("job %s: history does not end with the final status", id)
		}
		c := clients[id]
		c.mu.Lock()
		if c.err != nil {
			t.Errorf("job %s SSE: %v", id, c.err)
		}
		if len(c.evs) != len(h) {
			t.Errorf("job %s: SSE client got %d events, history has %d", id, len(c.evs), len(h))
		}
		for k, e := range c.evs {
			if k >= len(h) || e.Seq != h[k].Seq || e.Type != h[k].Type || string(e.Data) != string(h[k].Data) {
				t.Errorf("job %s: SSE event %d is %d/%s, history has %+v", id, k, e.Seq, e.Type, h[min(k, len(h)-1)])
				break
			}
		}
		if c.resumedAfter > 0 {
			reconnected++
			t.Logf("job %s: SSE client reconnected to %s with Last-Event-ID %d", id, c.resumedOn, c.resumedAfter)
			if c.resumedOn != apis[1].url {
				t.Errorf("job %s: SSE client resumed on %s, not on the API that stayed up", id, c.resumedOn)
			}
		}
		c.mu.Unlock()
	}
	if reconnected < streaming {
		t.Errorf("%d SSE clients reconnected with a Last-Event-ID; %d were streaming from the killed API", reconnected, streaming)
	}
	if t.Failed() {
		t.FailNow()
	}

	// The killed training node resumed on another worker from the latest
	// checkpoint; its steps never repeat; its final loss is the
	// uninterrupted run's.
	tune := nodeOf(jobs[ckID], "tune")
	if tune.Attempts < 2 {
		t.Errorf("stories-ck tune ran %d attempts; its worker was killed", tune.Attempts)
	}
	resumer := -1
	for i, w := range workers {
		if i != victim && runsNode(w.log.String(), ckID, "tune", 0) {
			resumer = i
		}
	}
	if resumer < 0 {
		t.Errorf("no other worker ran stories-ck/tune after w%d was killed", victim)
	}
	h := historyAt(t, apis[1].url, ckID)
	resumes := 0
	for _, e := range h {
		var d events.LogData
		if e.Type != events.Log || e.Node != "tune" || json.Unmarshal(e.Data, &d) != nil || d.Msg != "resumed from checkpoint" {
			continue
		}
		resumes++
		ck, next := d.Attrs["checkpoint_step"], d.Attrs["next_step"]
		t.Logf("resumed: %v", d.Attrs)
		if ck != float64(ckAtKill) || next != float64(ckAtKill+1) {
			t.Errorf("resumed from checkpoint %v at step %v; the latest checkpoint in S3 at the kill was %d (want next step %d)", ck, next, ckAtKill, ckAtKill+1)
		}
	}
	if resumes != 1 {
		t.Errorf("%d 'resumed from checkpoint' events, want 1", resumes)
	}
	steps := metricSteps(t, h, "tune")
	for k, s := range steps {
		if s != k+1 {
			t.Fatalf("stories-ck training steps in its events are %v, want 1..N once each", steps)
		}
	}
	refTune := nodeOf(jobs[refID], "tune")
	got, want := finalLoss(t, tune), finalLoss(t, refTune)
	t.Logf("final loss: resumed run %v, uninterrupted run %v (%d steps shown, %d steps at the kill)", got, want, len(steps), slices.Max(stepsAtKill))
	if got != want {
		t.Errorf("final loss after the resume %v != uninterrupted run's %v", got, want)
	}
	if last := steps[len(steps)-1]; float64(last) != refTune.Outputs[0].Meta["steps"] {
		t.Errorf("last step shown %d, the run has %v steps", last, refTune.Outputs[0].Meta["steps"])
	}

	// Each job's events went through Redis (its stream exists).
	rc := redisClient(t, redisURL)
	for _, id := range ids {
		if n, err := rc.XLen(ctx, redisevents.Key(id)).Result(); err != nil || n == 0 {
			t.Errorf("job %s: Redis stream %s has %d entries (%v)", id, redisevents.Key(id), n, err)
		}
	}

	// No orphan blob: whet gc finds none, and every object belongs to a
	// node output the database records.
	time.Sleep(1100 * time.Millisecond) // gc counts only blobs older than blobs=1s
	gc := exec.Command(bin, append([]string{"gc", "--dry-run", "--retain", "blobs=1s", "--data-dir", t.TempDir()}, common...)...)
	gc.Env = env
	var gcErr lockedBuffer
	gc.Stderr = &gcErr
	out, err := gc.Output()
	if err != nil {
		t.Fatalf("whet gc: %v\n%s", err, gcErr.String())
	}
	var rep struct {
		Blobs     []string `json:"blobs"`
		Temporary int      `json:"temporary_uploads"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("whet gc output %q: %v", out, err)
	}
	if len(rep.Blobs) != 0 || rep.Temporary != 0 {
		t.Errorf("whet gc --dry-run: orphans %v, %d temporary uploads", rep.Blobs, rep.Temporary)
	}
	var referenced []string
	for _, j := range jobs {
		for _, n := range j.Nodes {
			for _, o := range n.Outputs {
				referenced = append(referenced, o.URI)
			}
		}
	}
	objects := 0
	for o := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "whet/", Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		objects++
		key := strings.TrimPrefix(o.Key, "whet/")
		if !slices.ContainsFunc(referenced, func(u string) bool { return key == u || (strings.HasSuffix(u, "/") && strings.HasPrefix(key, u)) }) {
			t.Errorf("object %s belongs to no node output", key)
		}
	}
	t.Logf("%d objects in the bucket, all referenced; gc: no orphans", objects)
}

// storiesCK is stories-lora's data and training nodes with
// checkpoint_every: every (0: never).
func storiesCK(every int) string {
	return fmt.Sprintf(`{"name": "stories-ck%d", "nodes": [
		{"id": "data", "agent": "dataset", "params": {"source": "../shared/assets/datasets/llama-factory/alpaca_en_demo.json"}},
		{"id": "check", "agent": "validate", "params": {}},
		{"id": "prep", "agent": "preprocess", "params": {"tokenizer": "../shared/assets/models/stories260K", "template": "alpaca",
			"max_tokens": 256, "validation_split": 0.1, "seed": 42}},
		{"id": "tune", "agent": "train", "params": {"base_model": "../shared/assets/models/stories260K", "method": "lora",
			"lora": {"rank": 8, "alpha": 16, "dropout": 0.0, "targets": "all-linear"}, "epochs": 1, "batch_size": 8,
			"learning_rate": 3.0e-3, "schedule": "cosine", "warmup_steps": 10, "max_seq_len": 256, "checkpoint_every": %d, "seed": 42}}],
		"edges": [{"from": "data", "to": "check"}, {"from": "check", "to": "prep"}, {"from": "prep", "to": "tune"}]}`, every, every)
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  *lockedBuffer
	url  string
}

func startProc(t *testing.T, bin string, env []string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, log: &lockedBuffer{}}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Signal(syscall.SIGTERM)
			p.cmd.Wait()
		}
	})
	return p
}

func waitUp(t *testing.T, p *proc) {
	t.Helper()
	for range 300 {
		if resp, err := http.Get(p.url + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not come up:\n%s", p.name, p.log.String())
}

func logsOf(ps ...[]*proc) string {
	var b strings.Builder
	for _, l := range ps {
		for _, p := range l {
			fmt.Fprintf(&b, "--- %s ---\n%s\n", p.name, p.log.String())
		}
	}
	return b.String()
}

func submit(t *testing.T, api, ctype, body string) string {
	resp, err := http.Post(api+"/jobs", ctype, strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return ""
	}
	defer resp.Body.Close()
	var sub struct {
		JobID string `json:"job_id"`
	}
	json.NewDecoder(resp.Body).Decode(&sub)
	if resp.StatusCode != http.StatusAccepted || sub.JobID == "" {
		t.Errorf("POST /jobs: %s", resp.Status)
	}
	return sub.JobID
}

func waitFor(t *testing.T, ctx context.Context, what string, ok func() bool) {
	t.Helper()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting until %s", what)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// metricSteps returns the steps of node's metric events, in seq order.
func metricSteps(t *testing.T, h []store.Event, node string) []int {
	var out []int
	for _, e := range h {
		if e.Type != events.Metric || e.Node != node {
			continue
		}
		var d events.MetricData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatalf("metric event %d: %v", e.Seq, err)
		}
		out = append(out, d.Step)
	}
	return out
}

var checkpointKey = regexp.MustCompile(`^whet/checkpoints/[^/]+/checkpoint-(\d+)/complete\.json$`)

// checkpointSteps lists the complete checkpoints in the bucket.
func checkpointSteps(t *testing.T, mc *minio.Client, bucket string) []int {
	var out []int
	for o := range mc.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: "whet/checkpoints/", Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		if m := checkpointKey.FindStringSubmatch(o.Key); m != nil {
			n, _ := strconv.Atoi(m[1])
			out = append(out, n)
		}
	}
	return out
}

// runsNode reports whether a worker's log says it started job/node (attempt
// 0: any attempt).
func runsNode(log, jobID, node string, attempt int) bool {
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		l := sc.Text()
		if strings.Contains(l, `msg="node running"`) && strings.Contains(l, "job_id="+jobID+" ") && strings.Contains(l, "node="+node+" ") &&
			(attempt == 0 || strings.Contains(l, "attempt="+strconv.Itoa(attempt))) {
			return true
		}
	}
	return false
}

func nodeOf(j store.Job, id string) *store.Node {
	for _, n := range j.Nodes {
		if n.ID == id {
			return n
		}
	}
	return &store.Node{}
}

func finalLoss(t *testing.T, n *store.Node) float64 {
	t.Helper()
	if len(n.Outputs) == 0 {
		t.Fatalf("node %s has no outputs", n.ID)
	}
	f, ok := n.Outputs[0].Meta["final_loss"].(float64)
	if !ok {
		t.Fatalf("node %s output meta has no final_loss: %v", n.ID, n.Outputs[0].Meta)
	}
	return f
}

func freshBucket(t *testing.T, s testsvc.S3) (string, *minio.Client) {
	t.Helper()
	host := strings.TrimPrefix(strings.TrimPrefix(s.Endpoint, "http://"), "https://")
	mc, err := minio.New(host, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.Secret, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	bucket := testsvc.Name("whet-it-")
	ctx := context.Background()
	if err := mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatalf("make bucket %s: %v", bucket, err)
	}
	t.Cleanup(func() {
		for o := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
			if o.Err == nil {
				mc.RemoveObject(ctx, bucket, o.Key, minio.RemoveObjectOptions{})
			}
		}
		mc.RemoveBucket(ctx, bucket)
	})
	return bucket, mc
}

func redisClient(t *testing.T, u string) *redis.Client {
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// sseClient streams one job's events, reconnecting to the next API process
// with Last-Event-ID when a stream breaks, until the final status event.
type sseClient struct {
	jobID string
	urls  []string

	mu           sync.Mutex
	evs          []store.Event
	resumedAfter int64  // Last-Event-ID of the first reconnect that got events
	resumedOn    string // the API it reconnected to
	err          error
	done         chan struct{}
}

func (c *sseClient) received() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.evs)
}

func (c *sseClient) finished() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *sseClient) run(ctx context.Context) {
	defer close(c.done)
	for try := 0; ctx.Err() == nil; try++ {
		c.mu.Lock()
		last := int64(0)
		if n := len(c.evs); n > 0 {
			last = c.evs[n-1].Seq
		}
		c.mu.Unlock()
		final, err := c.stream(ctx, c.urls[try%len(c.urls)], last)
		if final {
			return
		}
		if err != nil && ctx.Err() == nil && try > 200 {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stream reads one connection after event last; it returns whether the
// final event came.
func (c *sseClient) stream(ctx context.Context, api string, last int64) (final bool, err error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api+"/logs/stream/"+c.jobID, nil)
	if last > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(last, 10))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return false, fmt.Errorf("GET stream: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var id, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		case line == "" && data != "":
			var e store.Event
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				return false, fmt.Errorf("event %s: %v", id, err)
			}
			if strconv.FormatInt(e.Seq, 10) != id {
				return false, fmt.Errorf("event id %s carries seq %d", id, e.Seq)
			}
			c.mu.Lock()
			if last > 0 && c.resumedAfter == 0 {
				c.resumedAfter, c.resumedOn = last, api
			}
			c.evs = append(c.evs, e)
			c.mu.Unlock()
			id, data = "", ""
			if events.IsFinal(e) {
				return true, nil
			}
		}
	}
	return false, sc.Err()
}

func historyAt(t *testing.T, api, id string) []store.Event {
	var h struct{ Events []store.Event }
	getJSON(t, api+"/logs/history/"+id+"?limit=10000", &h)
	return h.Events
}
