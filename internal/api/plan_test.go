package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/ingest"
	"github.com/whetstone/whetstone/internal/agents/preprocess"
	"github.com/whetstone/whetstone/internal/agents/train"
)

type planBody struct {
	JobID string `json:"job_id"`
	Nodes []struct {
		ID, Agent string
		Cached    bool
		Estimate  *agent.Estimate
		Error     string
	}
}

// TestDryRun plans a dataset → preprocess → train pipeline on stories260K
// without running it, runs it, and plans it again: the second plan takes
// every node from the cache.
func TestDryRun(t *testing.T) {
	var reg agent.Registry
	reg.Register(ingest.New())
	reg.Register(preprocess.New())
	reg.Register(train.New())
	e := setupWith(t, &reg, true)
	const spec = `name: plan
nodes:
  - {id: data, agent: dataset, params: {source: ` + alpaca + `}}
  - {id: prep, agent: preprocess, params: {tokenizer: ../shared/assets/models/stories260K, template: alpaca, max_tokens: 256}}
  - {id: tune, agent: train, params: {base_model: ../shared/assets/models/stories260K, max_steps: 4, batch_size: 4, max_seq_len: 256, device: cpu}}
edges: [{from: data, to: prep}, {from: prep, to: tune}]
`
	plan := func() planBody {
		t.Helper()
		resp, b := do(t, "POST", e.url+"/jobs?dry_run=true", "application/yaml", strings.NewReader(spec))
		if resp.StatusCode != 200 {
			t.Fatalf("POST /jobs?dry_run=true = %d %s", resp.StatusCode, b)
		}
		var p planBody
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		if p.JobID != "" || len(p.Nodes) != 3 || p.Nodes[0].ID != "data" || p.Nodes[1].ID != "prep" || p.Nodes[2].ID != "tune" {
			t.Fatalf("plan = %s; want the three nodes in order and no job", b)
		}
		return p
	}
	p := plan()
	for _, n := range p.Nodes {
		if n.Cached || n.Error != "" {
			t.Fatalf("first plan: node %+v cached or failed", n)
		}
	}
	est := p.Nodes[2].Estimate
	if est == nil || est.Device != "cpu" || est.Steps != 4 || est.Tokens <= 0 || est.Seconds <= 0 || est.MemoryBytes <= 0 || !est.Fits {
		t.Fatalf("train estimate = %+v", est)
	}
	if p.Nodes[0].Estimate != nil || p.Nodes[1].Estimate != nil {
		t.Fatalf("data nodes have estimates: %+v", p.Nodes)
	}
	_, b := do(t, "GET", e.url+"/jobs", "", nil)
	if !strings.Contains(string(b), `"total":0`) {
		t.Fatalf("the dry run queued a job: %s", b)
	}

	id := e.submit(t, spec)
	if j := e.wait(t, id); j["status"] != "succeeded" {
		t.Fatalf("job = %v", j)
	}
	p = plan()
	for _, n := range p.Nodes {
		if !n.Cached || n.Estimate != nil {
			t.Fatalf("second plan: node %+v, want cached without an estimate", n)
		}
	}
}
