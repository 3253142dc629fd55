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
	trainer "github.com/whetstone/whetstone/internal/engine/train"
	"github.com/whetstone/whetstone/internal/safetensors"
	"github.com/whetstone/whetstone/internal/tokenizer"
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
	for _, method := range []string{"lora", "qlora"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			testAgentTrains(t, method)
		})
	}
}

// testAgentTrains runs the agent with method lora or qlora; both write the
// same kind of PEFT adapter (PEFT records no base quantization in it).
func testAgentTrains(t *testing.T, method string) {
	rec := &recorder{}
	out := t.TempDir()
	// base_model as a pipeline writes it: relative to the work folder.
	env := &agent.Env{WorkDir: filepath.Dir(storiesDir(t)),
		Params: agent.Params{"base_model": filepath.Base(storiesDir(t)), "method": method, "double_quant": method == "qlora", "epochs": 2.0, "batch_size": 4.0, "learning_rate": 5e-3,
			"schedule": "cosine", "warmup_steps": 2.0, "max_seq_len": 64.0, "checkpoint_every": 3.0, "seed": 1.0,
			"lora": map[string]any{"rank": 4.0, "alpha": 8.0, "dropout": 0.0, "targets": "all-linear"}},
		Inputs: []agent.Artifact{{Type: agent.Dataset, Name: "train", Path: writeDataset(t)}},
		OutDir: out, Emit: rec,
	}
	arts, err := New().Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != 1 || arts[0].Type != agent.Model || arts[0].Meta["method"] != method || arts[0].Meta["format"] != "peft-lora" {
		t.Fatalf("artifacts %+v", arts)
	}
	meta := arts[0].Meta
	if meta["base_model"] != filepath.Clean(storiesDir(t)) {
		t.Errorf("meta base_model %v, want the resolved %s (successors load it)", meta["base_model"], storiesDir(t))
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
	var ac map[string]any
	if b, err := os.ReadFile(filepath.Join(out, "adapter_config.json")); err != nil || json.Unmarshal(b, &ac) != nil {
		t.Fatalf("adapter_config.json: %v", err)
	}
	// The files name the base as the pipeline wrote it, not by the folder it
	// resolved to (a server's layout).
	if ac["peft_type"] != "LORA" || ac["base_model_name_or_path"] != filepath.Base(storiesDir(t)) {
		t.Errorf("adapter_config.json %v, want base_model_name_or_path %q", ac, filepath.Base(storiesDir(t)))
	}
	var res struct{ Meta map[string]any }
	if b, err := os.ReadFile(filepath.Join(out, "result.json")); err != nil || json.Unmarshal(b, &res) != nil || res.Meta["base_model"] != filepath.Base(storiesDir(t)) {
		t.Errorf("result.json meta base_model %v (%v), want %q", res.Meta["base_model"], err, filepath.Base(storiesDir(t)))
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
		"double_quant lora": {"base_model": storiesDir(t), "method": "lora", "double_quant": true},
		"qlora targets":     {"base_model": storiesDir(t), "method": "qlora", "lora": map[string]any{"targets": "q,attn"}},
		"unsupported":       {"base_model": bogus, "method": "lora"},
		"targets":           {"base_model": storiesDir(t), "lora": map[string]any{"targets": "q,attn"}},
		"memory":            {"base_model": storiesDir(t), "batch_size": 100000.0, "max_seq_len": 512.0},
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

// tinyChatModel writes a small random Llama with the SmolLM2 tokenizer and
// its ChatML template into a temp folder.
func tinyChatModel(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	tokDir := filepath.Join(filepath.Dir(storiesDir(t)), "..", "tokenizers", "smollm2-135m")
	for _, n := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(tokDir, n))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, n), b, 0o644)
	}
	const D, I, V, L = 16, 32, 49152, 1
	cfg := map[string]any{"model_type": "llama", "hidden_size": D, "intermediate_size": I, "num_hidden_layers": L,
		"num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": V, "max_position_embeddings": 512,
		"rms_norm_eps": 1e-5, "tie_word_embeddings": true, "eos_token_id": 2}
	b, _ := json.Marshal(cfg)
	os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
	rnd := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32((i*7919)%201-100) * 2e-4
		}
		return x
	}
	ones := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = 1
		}
		return x
	}
	ts := []safetensors.Tensor{safetensors.F32Tensor("model.embed_tokens.weight", []int{V, D}, rnd(V*D)),
		safetensors.F32Tensor("model.norm.weight", []int{D}, ones(D))}
	p := "model.layers.0."
	for n, sh := range map[string][]int{"self_attn.q_proj": {D, D}, "self_attn.k_proj": {D / 2, D}, "self_attn.v_proj": {D / 2, D},
		"self_attn.o_proj": {D, D}, "mlp.gate_proj": {I, D}, "mlp.up_proj": {I, D}, "mlp.down_proj": {D, I}} {
		ts = append(ts, safetensors.F32Tensor(p+n+".weight", sh, rnd(sh[0]*sh[1])))
	}
	ts = append(ts, safetensors.F32Tensor(p+"input_layernorm.weight", []int{D}, ones(D)),
		safetensors.F32Tensor(p+"post_attention_layernorm.weight", []int{D}, ones(D)))
	f, _ := os.Create(filepath.Join(dir, "model.safetensors"))
	if err := safetensors.Write(f, ts, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return dir
}

func TestChatRowsMaskPrompts(t *testing.T) {
	t.Parallel()
	base := tinyChatModel(t)
	data := filepath.Join(t.TempDir(), "chat.jsonl")
	var rows []byte
	for i := range 6 {
		b, _ := json.Marshal(map[string]any{"messages": []map[string]any{
			{"role": "user", "content": fmt.Sprintf("What is %d plus %d?", i, i)},
			{"role": "assistant", "content": fmt.Sprintf("It is %d.", 2*i)}}})
		rows = append(append(rows, b...), '\n')
	}
	os.WriteFile(data, rows, 0o644)
	tok, err := tokenizer.Load(base)
	if err != nil {
		t.Fatal(err)
	}
	exs, err := trainer.LoadJSONL(data, chatTokenizer{tok}, true)
	if err != nil {
		t.Fatal(err)
	}
	trained := 0
	for _, m := range exs[0].Train {
		if m {
			trained++
		}
	}
	if trained == 0 || trained >= len(exs[0].IDs)/2 {
		t.Fatalf("%d of %d tokens get loss; want only the short assistant reply", trained, len(exs[0].IDs))
	}
	out, err := Run(context.Background(), Job{BaseModel: base, Data: data, OutDir: t.TempDir(),
		Config: trainer.Config{BatchSize: 2, MaxSteps: 2, LearningRate: 1e-3}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Result.Steps != 2 {
		t.Fatalf("%d steps", out.Result.Steps)
	}
}

// TestBaseModelRef: the model artifact's meta names the base model by a
// reference any worker resolves when the platform stores it (a produced
// model's id, a stored model input), never by the folder this worker read
// it from; a folder the pipeline named stays that folder.
func TestBaseModelRef(t *testing.T) {
	t.Parallel()
	data := writeDataset(t)
	copyDir := t.TempDir() // where this worker's copy of a stored model lies
	resolve := func(context.Context, string, string) (string, error) { return copyDir, nil }
	tests := []struct {
		name     string
		params   agent.Params
		input    *agent.Artifact
		resolve  func(context.Context, string, string) (string, error)
		wantBase string
		wantRef  string
	}{
		{"a folder the pipeline named", agent.Params{"base_model": storiesDir(t)}, nil, nil, storiesDir(t), ""},
		{"a produced model by id", agent.Params{"base_model": "mdl_0123"}, nil, resolve, copyDir, "mdl_0123"},
		{"a stored model input", agent.Params{}, &agent.Artifact{Type: agent.Model, Path: copyDir, URI: "jobs/job_1/tune/model/"}, nil, copyDir, "blob:jobs/job_1/tune/model/"},
		{"a model input never stored", agent.Params{}, &agent.Artifact{Type: agent.Model, Path: copyDir}, nil, copyDir, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := &agent.Env{Params: tt.params, Inputs: []agent.Artifact{{Type: agent.Dataset, Path: data}}, OutDir: t.TempDir(), ResolveSource: tt.resolve}
			if tt.input != nil {
				env.Inputs = append(env.Inputs, *tt.input)
			}
			job, err := jobOf(context.Background(), env)
			if err != nil {
				t.Fatal(err)
			}
			if job.BaseModel != tt.wantBase || job.BaseModelRef != tt.wantRef {
				t.Errorf("base %q ref %q, want base %q ref %q", job.BaseModel, job.BaseModelRef, tt.wantBase, tt.wantRef)
			}
		})
	}
}
