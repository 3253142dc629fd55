//go:build integration

package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/whetstone/whetstone/internal/store"
)

// TestContinuedFineTuneThroughAPI: red trains a LoRA on stories260K and
// exports it merged, which the job registers (mdl_...); a second pipeline
// fine-tunes that registered model further (base_model: mdl_...) on the
// worker, tokenizing with the same model (tokenizer: mdl_...: the merged
// folder keeps stories260K's tokenizer), and the model it registers shows
// its whole lineage through GET /models/{id}: its base by id and version,
// then the chain back to stories260K (by folder name and version) through
// red's first model with its job and datasets, and no server path. The
// LoRA adapter the first job registered keeps no tokenizer: naming it as
// one is a 422 on the preprocess node's tokenizer that points at the
// merged model. Blue, another team, may not name red's model: 422 on the
// train node's base_model and the preprocess node's tokenizer, and 404
// reading it.
func TestContinuedFineTuneThroughAPI(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	red, blue := newKey(t, data, "red", "member"), newKey(t, data, "blue", "member")
	base := inProcessServer(t, data, "--auth", "required") + "/api/v1"
	c := http.DefaultClient
	get := func(key, path string, v any) string {
		t.Helper()
		st, body, _ := call(t, c, key, "GET", base+path, "", nil)
		if st != 200 {
			t.Fatalf("GET %s = %d %s", path, st, body)
		}
		if err := json.Unmarshal([]byte(body), v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return body
	}
	run := func(spec string) string {
		t.Helper()
		st, body, _ := call(t, c, red, "POST", base+"/jobs", "application/yaml", []byte(spec))
		var sub struct {
			JobID string `json:"job_id"`
		}
		if st != 202 || json.Unmarshal([]byte(body), &sub) != nil {
			t.Fatalf("POST /jobs = %d %s", st, body)
		}
		var j store.Job
		for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
			get(red, "/jobs/"+sub.JobID, &j)
			if j.Status.Terminal() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s still %s after 3 minutes", sub.JobID, j.Status)
			}
		}
		if j.Status != store.Succeeded {
			for _, n := range j.Nodes {
				t.Logf("node %s: %s %s", n.ID, n.Status, n.Error)
			}
			t.Fatalf("job %s: %s %s", j.ID, j.Status, j.Error)
		}
		return j.ID
	}
	registered := func(jobID, node, output string) *store.Model {
		t.Helper()
		var l struct{ Models []*store.Model }
		get(red, "/models?limit=100", &l)
		for _, m := range l.Models {
			if m.JobID == jobID && m.NodeID == node && m.Output == output {
				return m
			}
		}
		t.Fatalf("job %s registered no %s/%s model", jobID, node, output)
		return nil
	}
	merged := func(jobID string) *store.Model { return registered(jobID, "ship", "merged") }
	// A few LoRA steps, merged into the base: alpaca rows are short enough
	// for 256 tokens.
	spec := func(name, baseModel, tokenizer, source string) string {
		return `name: ` + name + `
nodes:
  - {id: data, agent: dataset, params: {source: ` + source + `}}
  - {id: prep, agent: preprocess, params: {tokenizer: ` + tokenizer + `, template: alpaca, max_tokens: 256, seed: 1}}
  - {id: tune, agent: train, params: {base_model: ` + baseModel + `, method: lora, max_steps: 3, batch_size: 4, max_seq_len: 256, seed: 1}}
  - {id: ship, agent: export, params: {formats: [merged]}}
edges: [{from: data, to: prep}, {from: prep, to: tune}, {from: tune, to: ship}]
`
	}

	stories := "../shared/assets/models/stories260K"
	job1 := run(spec("first", stories, stories, "../shared/assets/datasets/torchtune/alpaca_tiny.json"))
	first := merged(job1)
	if l := first.Lineage; l == nil || l.BaseModel != "stories260K" || !strings.HasPrefix(l.BaseModelVersion, "sha256:") || len(l.Datasets) != 1 {
		t.Fatalf("first model's lineage %+v, want stories260K with its version and one dataset", l)
	}

	// The second dataset by its absolute path (under an allowed root): the
	// API shows its name, not the server's folder. The registered model is
	// both the base and the tokenizer.
	shared := filepath.Join(repoRoot(t), "..", "shared")
	job2 := run(spec("second", first.ID, first.ID, filepath.Join(shared, "assets", "datasets", "llama-factory", "alpaca_en_demo.json")))
	second := merged(job2)
	var got store.Model
	body := get(red, "/models/"+second.ID, &got)
	for _, p := range []string{repoRoot(t), data, filepath.Clean(shared)} {
		if strings.Contains(body, p) {
			t.Errorf("GET /models/%s names the server path %s: %s", second.ID, p, body)
		}
	}
	if got.Meta["base_model"] != first.ID {
		t.Errorf("second model's meta base_model %v, want %s", got.Meta["base_model"], first.ID)
	}
	wantChain := []store.Ancestor{
		{BaseModel: "stories260K", Version: first.Lineage.BaseModelVersion},
		{ModelID: first.ID, Name: first.Name, JobID: job1, Version: first.Lineage.BaseModelVersion, Datasets: first.Lineage.Datasets},
	}
	l := got.Lineage
	if l == nil {
		t.Fatalf("second model has no lineage: %s", body)
	}
	// The first model's version: the documented sum over its config.json
	// and weight files, from the sums GET /models lists.
	var files struct {
		Files []struct{ Path, SHA256 string }
	}
	b, _ := json.Marshal(first.Meta)
	json.Unmarshal(b, &files)
	var lines []string
	for _, f := range files.Files {
		if f.Path == "config.json" || strings.HasSuffix(f.Path, ".safetensors") {
			lines = append(lines, f.Path+" "+f.SHA256+"\n")
		}
	}
	sort.Strings(lines)
	if len(lines) < 2 {
		t.Fatalf("first model's files %+v, want config.json and weights", files.Files)
	}
	wantChain[1].Version = "sha256:" + sum([]byte(strings.Join(lines, "")))
	if l.BaseModel != first.ID || l.BaseModelVersion != wantChain[1].Version || len(l.Datasets) != 1 || l.Datasets[0].Name != "alpaca_en_demo.json" {
		t.Errorf("second model's lineage %+v, want base %s version %s and alpaca_en_demo.json", l, first.ID, wantChain[1].Version)
	}
	if diff := cmp.Diff(wantChain, l.Chain); diff != "" {
		t.Errorf("second model's chain (-want +got):\n%s", diff)
	}

	// The merged folder's model card says the same.
	st, card, _ := call(t, c, red, "GET", base+"/models/"+second.ID+"/download?file=README.md", "", nil)
	for _, want := range []string{"Base model: " + first.ID, "- Chain, oldest first:\n  1. stories260K, version `" + first.Lineage.BaseModelVersion + "`",
		"  2. " + first.Name + " (`" + first.ID + "`, job `" + job1 + "`), version `" + wantChain[1].Version + "`, trained on alpaca_tiny.json"} {
		if st != 200 || !strings.Contains(card, want) {
			t.Errorf("model card (%d) lacks %q:\n%s", st, want, card)
		}
	}

	// The first job's LoRA adapter keeps no tokenizer: a 422 on prep's
	// tokenizer, naming the adapter, what it lacks and the merged model.
	adapter := registered(job1, "tune", "model")
	st, resp, _ := call(t, c, red, "POST", base+"/jobs", "application/yaml", []byte(spec("adapter-tokenizer", first.ID, adapter.ID, "../shared/assets/datasets/torchtune/alpaca_tiny.json")))
	if st != 422 || !hasFieldError(resp, "prep", "params.tokenizer", adapter.ID, "keeps no tokenizer (tokenizer.json or tokenizer.model;", first.Name) {
		t.Errorf("adapter as a tokenizer = %d %s, want 422 on prep's params.tokenizer naming %s, the missing tokenizer and the merged model %s", st, resp, adapter.ID, first.Name)
	}

	// Blue may not name red's model, nor read it.
	st, resp, _ = call(t, c, blue, "POST", base+"/jobs", "application/yaml", []byte(spec("stolen", first.ID, first.ID, "../shared/assets/datasets/torchtune/alpaca_tiny.json")))
	if st != 422 || !hasFieldError(resp, "tune", "params.base_model", first.ID) || !hasFieldError(resp, "prep", "params.tokenizer", first.ID) {
		t.Errorf("blue fine-tunes red's model = %d %s, want 422 naming tune's params.base_model and prep's params.tokenizer", st, resp)
	}
	if st, resp, _ := call(t, c, blue, "GET", base+"/models/"+first.ID, "", nil); st != 404 {
		t.Errorf("blue reads red's model = %d %s, want 404", st, resp)
	}
}

// hasFieldError reports whether the problem body resp (RFC 9457, as the
// API answers 422) lists an error on node's field whose message holds
// every part.
func hasFieldError(resp, node, field string, parts ...string) bool {
	var p struct {
		Errors []struct{ Location, Message string } `json:"errors"`
	}
	if json.Unmarshal([]byte(resp), &p) != nil {
		return false
	}
	for _, e := range p.Errors {
		if e.Location != "nodes["+node+"]."+field {
			continue
		}
		ok := true
		for _, w := range parts {
			ok = ok && strings.Contains(e.Message, w)
		}
		if ok {
			return true
		}
	}
	return false
}
