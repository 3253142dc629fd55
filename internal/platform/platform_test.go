package platform_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/ingest"
	"github.com/whetstone/whetstone/internal/agents/preprocess"
	"github.com/whetstone/whetstone/internal/agents/validate"
	"github.com/whetstone/whetstone/internal/assets"
	"github.com/whetstone/whetstone/internal/config"
	"github.com/whetstone/whetstone/internal/pipeline"
	"github.com/whetstone/whetstone/internal/platform"
	"github.com/whetstone/whetstone/internal/store"
	"github.com/whetstone/whetstone/internal/testsvc"
)

// machine opens a platform with its own data folder (scratch, cache) and
// nothing else of its own: the database file and the S3 bucket are shared.
func machine(t *testing.T, db, blobURL string, work bool) *platform.Platform {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir, cfg.Database, cfg.BlobURL = dir, db, blobURL
	cfg.BlobDir = filepath.Join(dir, "must-not-exist")
	cfg.PollInterval, cfg.LeaseTimeout, cfg.RetryBase = 50*time.Millisecond, 3*time.Second, 100*time.Millisecond
	cfg.WorkDir = assets.RepoRoot(t)
	var reg agent.Registry
	reg.Register(ingest.New())
	reg.Register(validate.New())
	reg.Register(preprocess.New())
	p, err := platform.Open(context.Background(), cfg, &reg, platform.Options{Work: work})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Stop(ctx)
	})
	return p
}

func runJob(t *testing.T, p *platform.Platform, spec string) *store.Job {
	t.Helper()
	sp, err := pipeline.Parse([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	j, err := p.Orch.Submit(context.Background(), sp, "")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		got, err := p.Store.GetJob(context.Background(), j.ID)
		if err == nil && got.Status.Terminal() {
			if got.Status != store.Succeeded {
				t.Fatalf("job %s: %s %s", j.ID, got.Status, got.Error)
			}
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("job %s did not finish", j.ID)
	return nil
}

// TestMachinesShareOnlyDatabaseAndS3: an uploaded dataset, node inputs and
// outputs travel through S3 only; a second machine gets the first one's
// outputs from the cache by content, and runs nodes itself with inputs
// downloaded into its own scratch cache.
func TestMachinesShareOnlyDatabaseAndS3(t *testing.T) {
	s3 := testsvc.NeedS3(t)
	t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3.Secret)
	url := s3.URL(testsvc.Name("plat"))
	db := filepath.Join(t.TempDir(), "whet.db")
	a := machine(t, db, url, true)
	ctx := context.Background()

	// An upload, as the API stores it.
	src, err := os.Open(assets.Path(t, "datasets", "llama-factory", "alpaca_en_demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ds := &store.Dataset{ID: store.NewID("ds"), Name: "alpaca.json", Format: "json", CreatedAt: time.Now().UTC()}
	ds.BlobKey = "datasets/" + ds.ID + "/" + ds.Name
	info, err := a.Blobs.Put(ctx, ds.BlobKey, src)
	if err != nil {
		t.Fatal(err)
	}
	ds.Size, ds.SHA256 = info.Size, info.SHA256
	if err := a.Store.InTx(ctx, func(tx store.Tx) error { return tx.CreateDataset(ctx, ds) }); err != nil {
		t.Fatal(err)
	}
	spec := func(cache bool) string {
		return fmt.Sprintf(`{"name": "x", "nodes": [
			{"id": "data", "agent": "dataset", "cache": %[2]v, "params": {"source": %[1]q, "tokenizer": "../shared/assets/tokenizers/smollm2-135m"}},
			{"id": "check", "agent": "validate", "cache": %[2]v, "params": {}},
			{"id": "prep", "agent": "preprocess", "cache": %[2]v, "params": {"tokenizer": "../shared/assets/tokenizers/smollm2-135m", "template": "alpaca", "validation_split": 0.1, "seed": 42}}],
			"edges": [{"from": "data", "to": "check"}, {"from": "check", "to": "prep"}]}`, ds.ID, cache)
	}
	first := runJob(t, a, spec(true))
	for _, n := range first.Nodes {
		if n.Cached {
			t.Errorf("first run: node %s cached", n.ID)
		}
	}
	ctxStop, cancel := context.WithTimeout(ctx, 10*time.Second)
	a.Stop(ctxStop)
	cancel()

	b := machine(t, db, url, true)
	second := runJob(t, b, spec(true))
	for _, n := range second.Nodes {
		if !n.Cached {
			t.Errorf("second machine: node %s not taken from the cache", n.ID)
		}
	}
	third := runJob(t, b, spec(false))
	for i, n := range third.Nodes {
		if n.Cached {
			t.Errorf("cache: false: node %s cached", n.ID)
		}
		// Same inputs, same code: the same content, computed on b.
		if got, want := n.Outputs[0].Meta["sha256"], first.Nodes[i].Outputs[0].Meta["sha256"]; got != want {
			t.Errorf("node %s output %v on b, %v on a", n.ID, got, want)
		}
	}
	for _, p := range []*platform.Platform{a, b} {
		if _, err := os.Stat(p.Config.BlobDir); !os.IsNotExist(err) {
			t.Errorf("a local blob folder was used: %v", err)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(b.Config.DataDir, "cache")); len(ents) == 0 {
		t.Error("b's input cache is empty: inputs did not come through it")
	}
}

// TestS3DownTenSeconds: S3 goes away for 10 s in the middle of a pipeline
// (after its first node stored its output; the next nodes read that and
// write their own). Work waits and resumes: the job is still running when
// S3 comes back, then succeeds with every node on its first attempt and
// every output readable with its recorded SHA-256.
func TestS3DownTenSeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("stops its own S3 server for 10 s")
	}
	srv := testsvc.StartOwnS3(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.Secret)
	p := machine(t, filepath.Join(t.TempDir(), "whet.db"), srv.URL(testsvc.Name("down")), true)
	ctx := context.Background()
	sp, err := pipeline.Parse([]byte(`{"name": "outage", "nodes": [
		{"id": "data", "agent": "dataset", "params": {"source": "../shared/assets/datasets/llama-factory/alpaca_en_demo.json"}},
		{"id": "check", "agent": "validate", "params": {}},
		{"id": "prep", "agent": "preprocess", "params": {"tokenizer": "../shared/assets/tokenizers/smollm2-135m", "template": "alpaca", "validation_split": 0.1, "seed": 42}}],
		"edges": [{"from": "data", "to": "check"}, {"from": "check", "to": "prep"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	j, err := p.Orch.Submit(ctx, sp, "")
	if err != nil {
		t.Fatal(err)
	}
	job := func() *store.Job {
		got, err := p.Store.GetJob(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for deadline := time.Now().Add(time.Minute); job().Nodes[0].Status != store.Succeeded; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) || job().Status.Terminal() {
			t.Fatalf("first node did not succeed: %+v", job().Nodes[0])
		}
	}
	srv.Stop()
	down := time.Now()
	time.Sleep(10 * time.Second)
	if got := job(); got.Status.Terminal() {
		t.Fatalf("job ended while S3 was down: %s %s", got.Status, got.Error)
	}
	srv.Start(t)
	var got *store.Job
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if got = job(); got.Status.Terminal() || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("job ended %s after S3 went down for 10 s", time.Since(down).Round(time.Millisecond))
	if got.Status != store.Succeeded {
		t.Fatalf("job %s %s", got.Status, got.Error)
	}
	for _, n := range got.Nodes {
		if n.Attempts != 1 {
			t.Errorf("node %s took %d attempts; the outage must delay work, not fail it", n.ID, n.Attempts)
		}
		for _, o := range n.Outputs {
			files, _ := p.Blobs.List(ctx, o.URI)
			if len(files) == 0 {
				t.Errorf("node %s output %s: no blobs", n.ID, o.URI)
			}
			for _, f := range files {
				if info, err := p.Blobs.Stat(ctx, f.Key); err != nil || len(info.SHA256) != 64 {
					t.Errorf("output blob %s: %+v %v", f.Key, info, err)
				}
			}
		}
	}
}
