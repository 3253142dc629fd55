package train

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/engine/model"
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

type recorder struct {
	mu      sync.Mutex
	metrics []map[string]float64
	prog    []float64
}

func (r *recorder) Log(slog.Level, string, ...slog.Attr) {}
func (r *recorder) Progress(f float64, _ time.Duration, _ string) {
	r.mu.Lock()
	r.prog = append(r.prog, f)
	r.mu.Unlock()
}
func (r *recorder) Metrics(_ int, v map[string]float64) {
	r.mu.Lock()
	r.metrics = append(r.metrics, v)
	r.mu.Unlock()
}

func writeDataset(t *testing.T) string {
	dir := t.TempDir()
	for name, n := range map[string]int{"train.jsonl": 24, "validation.jsonl": 4} {
		f, _ := os.Create(filepath.Join(dir, name))
		for i := range n {
			prompt := fmt.Sprintf("Question %d: what did the cat say?\nAnswer:", i)
			b, _ := json.Marshal(map[string]string{"prompt": prompt, "text": prompt + " The cat said meow meow."})
			f.Write(append(b, '\n'))
		}
		f.Close()
	}
	return dir
}

func TestAgentTrainsLoRA(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	out := t.TempDir()
	env := &agent.Env{
		Params: agent.Params{"base_model": storiesDir(t), "method": "lora", "epochs": 2.0, "batch_size": 4.0, "learning_rate": 5e-3,
			"schedule": "cosine", "warmup_steps": 2.0, "max_seq_len": 64.0, "checkpoint_every": 3.0, "seed": 1.0,
			"lora": map[string]any{"rank": 4.0, "alpha": 8.0, "dropout": 0.0, "targets": "all-linear"}},
		Inputs: []agent.Artifact{{Type: agent.Dataset, Name: "train", Path: writeDataset(t)}},
		OutDir: out, Emit: rec,
	}
	arts, err := New().Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != 1 || arts[0].Type != agent.Model || arts[0].Meta["method"] != "lora" {
		t.Fatalf("artifacts %+v", arts)
	}
	meta := arts[0].Meta
	if meta["base_model"] != storiesDir(t) && !filepath.IsAbs(meta["base_model"].(string)) {
		t.Errorf("base_model %v not absolute", meta["base_model"])
	}
	if meta["final_val_loss"].(float64) >= meta["initial_val_loss"].(float64) {
		t.Errorf("validation loss did not drop: %v → %v", meta["initial_val_loss"], meta["final_val_loss"])
	}
	// 24 examples / 4 per batch × 2 epochs = 12 steps.
	if len(rec.metrics) != 12 || rec.prog[len(rec.prog)-1] != 1 {
		t.Fatalf("%d metric events, last progress %v", len(rec.metrics), rec.prog)
	}
	for _, k := range []string{"loss", "learning_rate", "grad_norm", "tokens_per_s", "eta_s"} {
		if _, ok := rec.metrics[0][k]; !ok {
			t.Errorf("metrics lack %s: %v", k, rec.metrics[0])
		}
	}
	// The adapter loads back in PEFT layout.
	m, err := model.Load(storiesDir(t))
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.LoadAdapter(out)
	if err != nil {
		t.Fatal(err)
	}
	if c.Rank != 4 || len(c.Targets) != 7 || len(m.LoRAParams()) != 70 {
		t.Fatalf("adapter config %+v with %d tensors", c, len(m.LoRAParams()))
	}
	var hist []map[string]any
	b, err := os.ReadFile(filepath.Join(out, "history.json"))
	if err != nil || json.Unmarshal(b, &hist) != nil || len(hist) != 12 {
		t.Fatalf("history.json: %v, %d records", err, len(hist))
	}
	if _, err := os.Stat(filepath.Join(out, "checkpoints")); !os.IsNotExist(err) {
		t.Errorf("checkpoints left behind: %v", err)
	}
}

func TestAgentRejects(t *testing.T) {
	t.Parallel()
	data := writeDataset(t)
	bogus := t.TempDir()
	os.WriteFile(filepath.Join(bogus, "config.json"), []byte(`{"model_type":"gpt2"}`), 0o644)
	for name, p := range map[string]agent.Params{
		"qlora":       {"base_model": storiesDir(t), "method": "qlora"},
		"unsupported": {"base_model": bogus, "method": "lora"},
		"targets":     {"base_model": storiesDir(t), "lora": map[string]any{"targets": "q,attn"}},
		"memory":      {"base_model": storiesDir(t), "batch_size": 100000.0, "max_seq_len": 512.0},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := &agent.Env{Params: p, Inputs: []agent.Artifact{{Type: agent.Dataset, Path: data}}, OutDir: t.TempDir()}
			_, err := New().Run(context.Background(), env)
			if err == nil || !agent.IsPermanent(err) {
				t.Fatalf("err = %v, want a permanent error", err)
			}
			t.Log(err)
		})
	}
}
