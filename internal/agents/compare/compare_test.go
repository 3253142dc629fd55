package compare

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/evaluate"
	"github.com/whetstone/whetstone/internal/eval"
)

// byteTok tokenizes bytes: id = byte + 3, BOS 1, EOS 2.
type byteTok struct{}

func (byteTok) Encode(s string, special bool) []int {
	var out []int
	if special {
		out = append(out, 1)
	}
	for _, b := range []byte(s) {
		out = append(out, int(b)+3)
	}
	return out
}

func (byteTok) Decode(ids []int, _ bool) string {
	var b []byte
	for _, id := range ids {
		if id >= 3 {
			b = append(b, byte(id-3))
		}
	}
	return string(b)
}

func (byteTok) EOS() (int, bool) { return 2, true }

// constModel always answers answer.
type constModel struct{ answer string }

func (m constModel) Loss(_ context.Context, ids, labels []int) (float64, int, error) {
	n := 0
	for _, l := range labels {
		if l != eval.IgnoreIndex {
			n++
		}
	}
	return float64(n), n, nil
}

func (m constModel) Generate(context.Context, []int, eval.GenerateOptions) ([]int, error) {
	return byteTok{}.Encode(m.answer, false), nil
}

// loader gives the base model (no adapter) answer "no" and the adapter "yes".
func loader(calls *atomic.Int32) eval.Loader {
	return func(_ context.Context, base, adapter string) (eval.Model, eval.Tokenizer, error) {
		calls.Add(1)
		if adapter == "" {
			return constModel{"no"}, byteTok{}, nil
		}
		return constModel{"yes"}, byteTok{}, nil
	}
}

func setupData(t *testing.T) (dir string, model, data agent.Artifact) {
	t.Helper()
	dir = t.TempDir()
	var rows strings.Builder
	for i := range 20 {
		fmt.Fprintf(&rows, `{"text":"Q%d? yes","prompt":"Q%d?"}`+"\n", i, i)
	}
	os.MkdirAll(filepath.Join(dir, "data"), 0o755)
	os.WriteFile(filepath.Join(dir, "data", "validation.jsonl"), []byte(rows.String()), 0o644)
	os.MkdirAll(filepath.Join(dir, "adapter"), 0o755)
	os.WriteFile(filepath.Join(dir, "adapter", "adapter_config.json"), []byte(`{"r":4}`), 0o644)
	return dir, agent.Artifact{Type: agent.Model, Path: filepath.Join(dir, "adapter"), Meta: map[string]any{"base_model": "/base"}},
		agent.Artifact{Type: agent.Dataset, Path: filepath.Join(dir, "data")}
}

func runEvaluate(t *testing.T, load eval.Loader, params agent.Params, inputs ...agent.Artifact) string {
	t.Helper()
	p := agent.Params{"metrics": []any{"loss", "exact_match", "rouge_l"}, "max_new_tokens": 8, "samples": 15, "seed": 1, "temperature": 0.0}
	for k, v := range params {
		p[k] = v
	}
	out := t.TempDir()
	arts, err := evaluate.New(load).Run(t.Context(), &agent.Env{Params: p, Inputs: inputs, OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(out, arts[0].Path)
}

func compareParams() agent.Params {
	return agent.Params{"report_html": false, "bootstrap": 200, "seed": 3, "confidence": 0.9}
}

func readComparison(t *testing.T, dir string) *eval.Comparison {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	var c eval.Comparison
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

func TestCompareRerunsBaseOnSameSamples(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	_, model, data := setupData(t)
	report := runEvaluate(t, loader(&calls), nil, model, data)
	out := t.TempDir()
	arts, err := New(loader(&calls)).Run(t.Context(), &agent.Env{Params: compareParams(), OutDir: out,
		Inputs: []agent.Artifact{{Type: agent.Report, Path: report}}})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 || len(arts) != 1 {
		t.Errorf("%d loads, artifacts %+v (report_html false)", calls.Load(), arts)
	}
	c := readComparison(t, out)
	if len(c.Samples) != 15 || !slicesEqual(c.Base.SampleIndices, c.Tuned.SampleIndices) {
		t.Fatalf("samples %d, indices %v vs %v", len(c.Samples), c.Base.SampleIndices, c.Tuned.SampleIndices)
	}
	for _, m := range c.Metrics {
		if m.Name == "exact_match" && (m.Wins != 15 || m.Delta.Estimate != 1 || !m.Significant) {
			t.Errorf("exact_match %+v", m)
		}
	}
	if c.Samples[0].BaseOutput != "no" || c.Samples[0].TunedOutput != "yes" || c.Samples[0].Outcome != eval.Win {
		t.Errorf("sample 0 %+v", c.Samples[0])
	}
	if c.Confidence != 0.9 || c.Bootstrap != 200 {
		t.Errorf("settings %v %v", c.Confidence, c.Bootstrap)
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCompareTwoReportsDoesNotReload(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	dir, model, data := setupData(t)
	tuned := runEvaluate(t, loader(&calls), nil, model, data)
	os.MkdirAll(filepath.Join(dir, "plain"), 0o755)
	base := runEvaluate(t, loader(&calls), nil, agent.Artifact{Type: agent.Model, Path: filepath.Join(dir, "plain")}, data)
	calls.Store(0)
	out := t.TempDir()
	p := compareParams()
	p["report_html"] = true
	arts, err := New(loader(&calls)).Run(t.Context(), &agent.Env{Params: p, OutDir: out,
		Inputs: []agent.Artifact{{Type: agent.Report, Path: base}, {Type: agent.Report, Path: filepath.Dir(tuned)}}})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 0 || len(arts) != 2 {
		t.Errorf("%d loads, %d artifacts", calls.Load(), len(arts))
	}
	if _, err := os.Stat(filepath.Join(out, HTMLFile)); err != nil {
		t.Error(err)
	}
}

func TestCompareErrors(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	dir, _, data := setupData(t)
	os.MkdirAll(filepath.Join(dir, "plain"), 0o755)
	plain := runEvaluate(t, loader(&calls), nil, agent.Artifact{Type: agent.Model, Path: filepath.Join(dir, "plain")}, data)
	notEval := filepath.Join(dir, "other.json")
	os.WriteFile(notEval, []byte(`{"kind":"validation"}`), 0o644)
	tests := []struct {
		name   string
		inputs []agent.Artifact
		want   string
	}{
		{"no report", nil, "want one or two evaluation reports"},
		{"not an evaluation", []agent.Artifact{{Type: agent.Report, Path: notEval}}, `kind is "validation"`},
		{"no base to compare", []agent.Artifact{{Type: agent.Report, Path: plain}}, "no separate base model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(loader(&calls)).Run(t.Context(), &agent.Env{Params: compareParams(), Inputs: tt.inputs, OutDir: t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !agent.IsPermanent(err) {
				t.Errorf("error %v (permanent %v), want a permanent error containing %q", err, agent.IsPermanent(err), tt.want)
			}
		})
	}
}

// TestCompareWithModelAndDatasetInputs moves the model and dataset after
// evaluation (as a non-local blob store does with a node's scratch folder):
// compare fails with advice, then works when they are connected to it.
func TestCompareWithModelAndDatasetInputs(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	dir, model, data := setupData(t)
	baseDir := filepath.Join(dir, "base")
	os.MkdirAll(baseDir, 0o755)
	model.Meta["base_model"] = baseDir
	report := runEvaluate(t, loader(&calls), nil, model, data)
	moved := filepath.Join(dir, "moved")
	os.MkdirAll(moved, 0o755)
	os.Rename(data.Path, filepath.Join(moved, "data"))
	os.Rename(model.Path, filepath.Join(moved, "adapter"))
	in := []agent.Artifact{{Type: agent.Report, Path: report}}
	_, err := New(loader(&calls)).Run(t.Context(), &agent.Env{Params: compareParams(), OutDir: t.TempDir(), Inputs: in})
	if err == nil || !strings.Contains(err.Error(), "connect the model") {
		t.Fatalf("error %v", err)
	}
	model.Path, data.Path = filepath.Join(moved, "adapter"), filepath.Join(moved, "data")
	out := t.TempDir()
	if _, err := New(loader(&calls)).Run(t.Context(), &agent.Env{Params: compareParams(), OutDir: out, Inputs: append(in, model, data)}); err != nil {
		t.Fatal(err)
	}
	if c := readComparison(t, out); len(c.Samples) != 15 {
		t.Errorf("%d samples", len(c.Samples))
	}
}

// TestJudgeThroughAgents runs evaluate with judge_url pointing at an
// OpenAI-compatible test endpoint, then compare with judge_key: the base
// outputs are judged too, with the key compare was given (the report never
// stores it).
func TestJudgeThroughAgents(t *testing.T) {
	t.Parallel()
	var judged atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer k1" {
			http.Error(w, `{"error":{"message":"unauthorized"}}`, http.StatusUnauthorized)
			return
		}
		var req struct {
			Messages []struct{ Content string }
		}
		json.NewDecoder(r.Body).Decode(&req)
		judged.Add(1)
		score := 2
		if strings.Contains(req.Messages[1].Content, "## Candidate answer\nyes") {
			score = 9
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"choices":[{"index":0,"message":{"role":"assistant","content":"{\"score\": %d, \"reason\": \"r\"}"}}]}`, score)
	}))
	defer ts.Close()
	var calls atomic.Int32
	_, model, data := setupData(t)
	report := runEvaluate(t, loader(&calls), agent.Params{"judge_url": ts.URL + "/v1", "judge_key": "k1", "judge_model": "m", "samples": 5}, model, data)
	b, _ := os.ReadFile(report)
	if strings.Contains(string(b), "k1") {
		t.Error("the evaluation report contains the judge key")
	}
	out := t.TempDir()
	p := compareParams()
	p["judge_key"] = "k1"
	if _, err := New(loader(&calls)).Run(t.Context(), &agent.Env{Params: p, OutDir: out,
		Inputs: []agent.Artifact{{Type: agent.Report, Path: report}}}); err != nil {
		t.Fatal(err)
	}
	c := readComparison(t, out)
	if judged.Load() != 10 {
		t.Errorf("judge called %d times, want 10", judged.Load())
	}
	for _, m := range c.Metrics {
		if m.Name == "judge" && (m.Base.Estimate != 2 || m.Tuned.Estimate != 9 || m.Wins != 5) {
			t.Errorf("judge comparison %+v", m)
		}
	}
	if c.Primary != "judge" {
		t.Errorf("primary %q, want judge", c.Primary)
	}
}
