package compare

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/evaluate"
	trainagent "github.com/whetstone/whetstone/internal/agents/train"
	"github.com/whetstone/whetstone/internal/eval"
)

func storiesDir(t testing.TB) string {
	t.Helper()
	d, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "..", "shared", "assets", "models", "stories260K")
		}
		p := filepath.Dir(d)
		if p == d {
			t.Fatal("go.mod not found")
		}
		d = p
	}
}

// recorder is an agent.Emitter that keeps what it gets.
type recorder struct {
	mu       sync.Mutex
	progress []float64
	etas     int
	metrics  []map[string]float64
	logs     []string
}

func (r *recorder) Log(_ slog.Level, msg string, _ ...slog.Attr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, msg)
}

func (r *recorder) Progress(f float64, eta time.Duration, _ string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.progress = append(r.progress, f)
	if eta > 0 {
		r.etas++
	}
}

func (r *recorder) Metrics(_ int, v map[string]float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.metrics = append(r.metrics, v)
}

// storyRows is a small story set in a style stories260K has never seen; the
// prompt is the first sentence and the answer follows from it.
func storyRows(n, offset int) []eval.Row {
	names := []string{"Tom", "Mia", "Ben", "Sue", "Max", "Zoe", "Sam", "Ann"}
	animals := []string{"cat", "dog", "frog", "bird", "fish", "duck", "bear"}
	colors := []string{"red", "blue", "green", "pink", "gray"}
	var rows []eval.Row
	for i := offset; i < offset+n; i++ {
		nm, an, co := names[i%len(names)], animals[(i/3)%len(animals)], colors[(i/5)%len(colors)]
		p := fmt.Sprintf("Log %d. %s saw a %s %s.", i%10, nm, co, an)
		rows = append(rows, eval.Row{Prompt: p, Text: fmt.Sprintf("%s The %s %s said hop. %s said hop too. End of log.", p, co, an, nm)})
	}
	return rows
}

func writeRows(t testing.TB, path string, rows []eval.Row) {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fineTune runs the real train agent (a LoRA on the engine) on the dataset
// folder and returns its model artifact with an absolute path, as the
// orchestrator hands it on.
func fineTune(t testing.TB, base, data, out string) agent.Artifact {
	t.Helper()
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	p := agent.Params{"base_model": base, "method": "lora",
		"lora":   map[string]any{"rank": int64(8), "alpha": 16.0, "dropout": 0.0, "targets": "all-linear", "rslora": false},
		"epochs": int64(4), "batch_size": int64(8), "grad_accum": int64(1), "learning_rate": 5e-3, "schedule": "cosine",
		"warmup_steps": int64(3), "max_seq_len": int64(64), "max_steps": int64(0), "weight_decay": 0.0, "max_grad_norm": 1.0,
		"eval_every": int64(8), "checkpoint_every": int64(0), "packing": false, "seed": int64(7)}
	arts, err := trainagent.New().Run(t.Context(), &agent.Env{Params: p, OutDir: out, Emit: agent.Discard,
		Inputs: []agent.Artifact{{Type: agent.Dataset, Name: "train", Path: data}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != 1 || arts[0].Type != agent.Model {
		t.Fatalf("train artifacts %+v", arts)
	}
	a := arts[0]
	a.Path = filepath.Join(out, a.Path)
	return a
}

// TestFineTunedBeatsBase is the acceptance path on the real engine
// and the real stories260K model: fine-tune a LoRA adapter on a small story
// dataset, run the evaluate agent on it, then the compare agent, which
// re-runs the base model on the same held-out samples. The fine-tuned model
// must beat the base on loss and ROUGE-L with intervals that exclude zero,
// and the HTML report must be written.
func TestFineTunedBeatsBase(t *testing.T) {
	t.Parallel()
	base := storiesDir(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	writeRows(t, filepath.Join(data, "train.jsonl"), storyRows(48, 0))
	writeRows(t, filepath.Join(data, "validation.jsonl"), storyRows(16, 100))
	adapter := filepath.Join(dir, "adapter")
	start := time.Now()
	tuned := fineTune(t, base, data, adapter)
	t.Logf("fine-tune: %v", time.Since(start))

	rec := &recorder{}
	evalOut := filepath.Join(dir, "score")
	os.MkdirAll(evalOut, 0o755)
	start = time.Now()
	arts, err := evaluate.New(nil).Run(t.Context(), &agent.Env{
		Params: agent.Params{"metrics": []any{"loss", "perplexity", "exact_match", "token_f1", "rouge_l", "bleu"},
			"max_new_tokens": 40, "samples": 12, "temperature": 0.0, "seed": 42},
		Inputs: []agent.Artifact{
			tuned,
			{Type: agent.Dataset, Name: "train", Path: data},
		},
		OutDir: evalOut, Emit: rec,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("evaluate: %v", time.Since(start))
	if len(arts) != 1 || arts[0].Path != evaluate.ReportFile || arts[0].Type != agent.Report {
		t.Fatalf("evaluate artifacts %+v", arts)
	}
	if len(rec.metrics) != 1 || rec.metrics[0]["loss"] == 0 || rec.progress[len(rec.progress)-1] != 1 || rec.etas == 0 {
		t.Errorf("evaluate emitted metrics %v, progress %v, %d ETAs", rec.metrics, rec.progress, rec.etas)
	}
	e, err := eval.ReadEvaluation(filepath.Join(evalOut, evaluate.ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Samples) != 12 || e.Model.Adapter != adapter || e.Model.History != filepath.Join(adapter, "history.json") {
		t.Errorf("evaluation: %d samples, model %+v", len(e.Samples), e.Model)
	}
	for _, s := range e.Samples[:2] {
		t.Logf("tuned: %q → %q (reference %q)", s.Prompt, s.Output, s.Reference)
	}

	rec = &recorder{}
	cmpOut := filepath.Join(dir, "versus")
	os.MkdirAll(cmpOut, 0o755)
	start = time.Now()
	arts, err = New(nil).Run(t.Context(), &agent.Env{
		Params: agent.Params{"report_html": true, "bootstrap": 1000, "seed": 42, "confidence": 0.95},
		Inputs: []agent.Artifact{{Type: agent.Report, Name: eval.KindEvaluation, Path: filepath.Join(evalOut, evaluate.ReportFile)}},
		OutDir: cmpOut, Emit: rec,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("compare: %v", time.Since(start))
	if len(arts) != 2 || arts[1].Path != HTMLFile {
		t.Fatalf("compare artifacts %+v", arts)
	}
	b, err := os.ReadFile(filepath.Join(cmpOut, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	var c eval.Comparison
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.Primary != eval.MetricRougeL {
		t.Errorf("primary metric %q", c.Primary)
	}
	got := map[string]eval.MetricComparison{}
	for _, m := range c.Metrics {
		got[m.Name] = m
		t.Logf("%-11s base %.4f tuned %.4f Δ %+.4f [%+.4f, %+.4f] w/t/l %d/%d/%d", m.Name, m.Base.Estimate, m.Tuned.Estimate,
			m.Delta.Estimate, m.Delta.Lo, m.Delta.Hi, m.Wins, m.Ties, m.Losses)
	}
	for _, name := range []string{eval.MetricLoss, eval.MetricPerplexity, eval.MetricRougeL, eval.MetricTokenF1} {
		m := got[name]
		if !m.Improved || !m.Significant {
			t.Errorf("%s: fine-tuned does not beat base significantly: %+v", name, m)
		}
	}
	if m := got[eval.MetricRougeL]; m.Wins <= m.Losses {
		t.Errorf("rouge_l wins %d, losses %d", m.Wins, m.Losses)
	}
	if len(c.History) == 0 || c.Base.Model.Adapter != "" || c.Base.Model.Path != base {
		t.Errorf("history %d points, base model %+v", len(c.History), c.Base.Model)
	}
	for i, s := range c.Samples {
		if s.BaseOutput == s.TunedOutput && i < 3 {
			t.Logf("sample %d: identical outputs %q", i, s.BaseOutput)
		}
	}
	if meta := arts[0].Meta; meta["improved"] != true {
		t.Errorf("comparison artifact meta %v", meta)
	}
	html, err := os.ReadFile(filepath.Join(cmpOut, HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(html, []byte("<polyline")) || !strings.Contains(string(html), "rouge_l") {
		t.Error("HTML report lacks the loss curve or the metrics")
	}
	if dir := os.Getenv("EVAL_HTML_OUT"); dir != "" {
		os.WriteFile(filepath.Join(dir, "stories-comparison.html"), html, 0o644)
		os.WriteFile(filepath.Join(dir, "stories-comparison.json"), b, 0o644)
	}
}
