package api_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/ingest"
	"github.com/whetstone/whetstone/internal/api"
	"github.com/whetstone/whetstone/internal/config"
	"github.com/whetstone/whetstone/internal/platform"
	"github.com/whetstone/whetstone/internal/preflight"
	"github.com/whetstone/whetstone/internal/store"
)

// TestPreflight: POST /pipelines/validate lists problems on their node and
// field, and POST /jobs refuses the same pipeline with 422 before queueing.
func TestPreflight(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir, cfg.Database, cfg.BlobDir = dir, filepath.Join(dir, "whet.db"), filepath.Join(dir, "blobs")
	cfg.WorkDir = repoRoot(t)
	var reg agent.Registry
	reg.Register(ingest.New())
	p, err := platform.Open(context.Background(), cfg, &reg, platform.Options{Work: false})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Stop(ctx)
	})
	srv := &api.Server{Store: p.Store, Blobs: p.Blobs, Bus: p.Bus, Orch: p.Orch, Agents: &reg,
		Preflight: &preflight.Checker{WorkDir: cfg.WorkDir}} // as whet serve: the orchestrator checks stored references
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	url := ts.URL + "/api/v1"

	bad := `{name: x, nodes: [{id: d, agent: dataset, params: {source: no/such/file.json}}]}`
	resp, b := do(t, "POST", url+"/pipelines/validate", "application/yaml", strings.NewReader(bad))
	var v struct {
		Valid  bool
		Errors []struct{ Node, Field, Message string }
	}
	if err := json.Unmarshal(b, &v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("validate = %d %s", resp.StatusCode, b)
	}
	if v.Valid || len(v.Errors) != 1 || v.Errors[0].Node != "d" || v.Errors[0].Field != "params.source" || !strings.Contains(v.Errors[0].Message, "no such file") {
		t.Errorf("validate body = %s", b)
	}
	resp, b = do(t, "POST", url+"/jobs", "application/yaml", strings.NewReader(bad))
	if resp.StatusCode != 422 || !strings.Contains(string(b), `nodes[d].params.source`) {
		t.Errorf("POST /jobs = %d %s, want 422 on nodes[d].params.source", resp.StatusCode, b)
	}
	if _, n, _ := p.Store.ListJobs(context.Background(), store.ListParams{Limit: 10}); n != 0 {
		t.Errorf("%d jobs queued, want none", n)
	}
	// schema problems come through the same list
	resp, b = do(t, "POST", url+"/pipelines/validate", "application/yaml", strings.NewReader(`{name: x, nodes: [{id: d, agent: dataset, params: {source: `+alpaca+`, samples: 1000}}]}`))
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"field":"params.samples"`) {
		t.Errorf("schema error: %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "POST", url+"/pipelines/validate", "application/yaml", strings.NewReader(`{name: x, nodes: [{id: d, agent: dataset, params: {source: `+alpaca+`}}]}`))
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"valid":true`) {
		t.Errorf("valid spec: %d %s", resp.StatusCode, b)
	}

	// The team's own uploaded dataset is valid; another team's reads as an unknown id: the same one
	// error on the node and field, so a refusal tells nothing of it.
	ctx := context.Background()
	theirs := &store.Dataset{ID: store.NewID("ds"), Team: "other", Name: "a.jsonl", Size: 3, SHA256: "cd", Format: "jsonl",
		BlobKey: "datasets/x/a.jsonl", CreatedAt: time.Now().UTC(), Version: "sha256:cd"}
	if err := p.Store.InTx(ctx, func(tx store.Tx) error { return tx.CreateDataset(ctx, theirs) }); err != nil {
		t.Fatal(err)
	}
	ours := &store.Dataset{ID: store.NewID("ds"), Name: "a.jsonl", Size: 3, SHA256: "cd", Format: "jsonl",
		BlobKey: "datasets/y/a.jsonl", CreatedAt: time.Now().UTC(), Version: "sha256:cd"}
	if err := p.Store.InTx(ctx, func(tx store.Tx) error { return tx.CreateDataset(ctx, ours) }); err != nil {
		t.Fatal(err)
	}
	resp, b = do(t, "POST", url+"/pipelines/validate", "application/yaml", strings.NewReader(`{name: x, nodes: [{id: d, agent: dataset, params: {source: `+ours.ID+`}}]}`))
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"valid":true`) {
		t.Errorf("the team's own dataset: %d %s", resp.StatusCode, b)
	}
	var bodies []string
	for _, id := range []string{theirs.ID, "ds_nosuchdataset"} {
		resp, b = do(t, "POST", url+"/pipelines/validate", "application/yaml", strings.NewReader(`{name: x, nodes: [{id: d, agent: dataset, params: {source: `+id+`}}]}`))
		if err := json.Unmarshal(b, &v); err != nil || resp.StatusCode != 200 || v.Valid || len(v.Errors) != 1 || v.Errors[0].Node != "d" || v.Errors[0].Field != "params.source" {
			t.Errorf("validate %s = %d %s, want one error on d params.source", id, resp.StatusCode, b)
		}
		bodies = append(bodies, strings.ReplaceAll(string(b), id, "ID"))
	}
	if bodies[0] != bodies[1] {
		t.Errorf("another team's dataset: %s\nan unknown one:        %s\nwant the same", bodies[0], bodies[1])
	}
}
