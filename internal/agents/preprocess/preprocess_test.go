package preprocess

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/ingest"
	"github.com/whetstone/whetstone/internal/agents/validate"
	"github.com/whetstone/whetstone/internal/data/datatest"
	"github.com/whetstone/whetstone/internal/data/prep"
	"github.com/whetstone/whetstone/internal/data/template"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

// node runs an agent with inputs and returns its artifacts with absolute
// paths and JSON-round-tripped Meta, as the orchestrator passes them on.
func node(t *testing.T, a agent.Agent, params agent.Params, inputs ...agent.Artifact) []agent.Artifact {
	t.Helper()
	env := &agent.Env{Params: params, Inputs: inputs, OutDir: t.TempDir(), WorkDir: datatest.Root(t), Emit: agent.Discard}
	arts, err := a.Run(context.Background(), env)
	if err != nil {
		t.Fatalf("%s: %v", a.Spec().Name, err)
	}
	for i := range arts {
		arts[i].Path = filepath.Join(env.OutDir, arts[i].Path)
		b, _ := json.Marshal(arts[i].Meta)
		arts[i].Meta = nil
		json.Unmarshal(b, &arts[i].Meta)
	}
	return arts
}

func readRows(t *testing.T, path string) []template.Row {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<26)
	var rows []template.Row
	for sc.Scan() {
		var r template.Row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	return rows
}

func readStats(t *testing.T, path string) prep.Stats {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st prep.Stats
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestDataCheckPipeline runs examples/data-check.yaml's nodes in order.
func TestDataCheckPipeline(t *testing.T) {
	t.Parallel()
	tokDir := "../shared/assets/tokenizers/smollm2-135m"
	data := node(t, ingest.New(), agent.Params{"source": "../shared/assets/datasets/llama-factory/alpaca_en_demo.json", "format": "auto", "tokenizer": tokDir})
	check := node(t, validate.New(), agent.Params{"near_duplicate_threshold": 0.9, "fail_on": []any{"unreadable"}}, data[0])
	params := agent.Params{"tokenizer": tokDir, "template": "alpaca", "redact_pii": true, "dedup": "near", "max_tokens": 512, "validation_split": 0.1, "seed": 42}
	out := node(t, New(), params, check[0])
	if len(out) != 2 || out[0].Type != agent.Dataset || out[1].Name != "preprocess" {
		t.Fatalf("artifacts %+v", out)
	}
	st := readStats(t, out[1].Path)
	dropped := 0
	for _, n := range st.Dropped {
		dropped += n
	}
	if st.RowsIn != 999 || st.RowsOut+dropped != st.RowsIn || st.RowsTrain+st.RowsValidation != st.RowsOut {
		t.Fatalf("stats %+v", st)
	}
	// validate found 14 exact duplicate rows in this file; dedup drops them.
	if st.Dropped[prep.DropDuplicate] != 14 || st.Dropped[prep.DropTooLong] == 0 || st.Redacted["email"] == 0 {
		t.Errorf("dropped %v redacted %v", st.Dropped, st.Redacted)
	}
	if want := int(math.Round(0.1 * float64(st.RowsOut))); st.RowsValidation != want {
		t.Errorf("validation rows %d, want %d", st.RowsValidation, want)
	}
	m := out[0].Meta
	if m["rows_train"] != float64(st.RowsTrain) || m["template"] != "alpaca" || m["append_eos"] != true || m["tokens"] != float64(st.Tokens) {
		t.Errorf("meta %v", m)
	}
	tok, err := tokenizer.Load(datatest.Asset(t, "tokenizers/smollm2-135m"))
	if err != nil {
		t.Fatal(err)
	}
	train := readRows(t, filepath.Join(out[0].Path, "train.jsonl"))
	val := readRows(t, filepath.Join(out[0].Path, "validation.jsonl"))
	if len(train) != st.RowsTrain || len(val) != st.RowsValidation {
		t.Fatalf("files hold %d + %d rows", len(train), len(val))
	}
	var tokens int64
	for _, r := range append(train, val...) {
		if !strings.HasPrefix(r.Text, r.Prompt) || !strings.HasPrefix(r.Prompt, "Below is an instruction") || !strings.HasSuffix(r.Prompt, "### Response:\n") {
			t.Fatalf("row %q / %q", r.Prompt, r.Text)
		}
		// Tokens: the text with special tokens, plus the EOS.
		if want := len(tok.Encode(r.Text, true)) + 1; r.Tokens != want || r.Tokens > 512 {
			t.Fatalf("tokens %d, want %d (<= 512)", r.Tokens, want)
		}
		if strings.Contains(r.Text, "@example.com") {
			t.Errorf("unredacted e-mail in %q", r.Text)
		}
		tokens += int64(r.Tokens)
	}
	if tokens != st.Tokens || st.TokensTrain+st.TokensVal != st.Tokens {
		t.Errorf("tokens %d, stats %d = %d + %d", tokens, st.Tokens, st.TokensTrain, st.TokensVal)
	}
	// The same seed gives the same split; another seed another one.
	again := node(t, New(), params, check[0])
	b1, _ := os.ReadFile(filepath.Join(out[0].Path, "validation.jsonl"))
	b2, _ := os.ReadFile(filepath.Join(again[0].Path, "validation.jsonl"))
	if string(b1) != string(b2) {
		t.Error("same seed, different validation split")
	}
	params["seed"] = 7
	other := node(t, New(), params, check[0])
	b3, _ := os.ReadFile(filepath.Join(other[0].Path, "validation.jsonl"))
	if string(b1) == string(b3) {
		t.Error("different seeds, same validation split")
	}
}

// TestStoriesLoRA runs the data nodes of examples/stories-lora.yaml: a
// tokenizer.model-only folder with the alpaca template.
func TestStoriesLoRA(t *testing.T) {
	t.Parallel()
	data := node(t, ingest.New(), agent.Params{"source": "../shared/assets/datasets/llama-factory/alpaca_en_demo.json"})
	check := node(t, validate.New(), agent.Params{}, data[0])
	out := node(t, New(), agent.Params{"tokenizer": "../shared/assets/models/stories260K", "template": "alpaca", "max_tokens": 256, "validation_split": 0.1, "seed": 42}, check[0])
	st := readStats(t, out[1].Path)
	if st.RowsTrain == 0 || st.RowsValidation == 0 || st.Template != "alpaca" {
		t.Fatalf("stats %+v", st)
	}
	for _, r := range readRows(t, filepath.Join(out[0].Path, "train.jsonl")) {
		if r.Tokens > 256 {
			t.Fatalf("row with %d tokens", r.Tokens)
		}
	}
}

func TestChatAndChunks(t *testing.T) {
	t.Parallel()
	// Chat messages with SmolLM2's ChatML template.
	data := node(t, ingest.New(), agent.Params{"source": "../shared/assets/datasets/llama-factory/v1_sft_demo.jsonl"})
	out := node(t, New(), agent.Params{"tokenizer": "../shared/assets/tokenizers/smollm2-135m", "validation_split": 0.0, "max_tokens": 0}, data[0])
	if out[0].Meta["template"] != "chat" || out[0].Meta["append_eos"] != false {
		t.Fatalf("meta %v", out[0].Meta)
	}
	rows := readRows(t, filepath.Join(out[0].Path, "train.jsonl"))
	if len(rows) != 500 {
		t.Errorf("%d rows", len(rows))
	}
	r := rows[0]
	if r.Prompt != "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n" || !strings.HasSuffix(r.Text, "<|im_end|>\n") || len(r.Messages) != 2 {
		t.Errorf("row %+v", r)
	}

	// Raw text chunked by tokens with overlap.
	text := node(t, ingest.New(), agent.Params{"source": "../shared/assets/datasets/llama-factory/wiki_demo.txt"})
	out = node(t, New(), agent.Params{"tokenizer": "../shared/assets/tokenizers/gpt2", "chunk_tokens": 256, "chunk_overlap": 32, "max_tokens": 300, "validation_split": 0.1, "seed": 1}, text[0])
	st := readStats(t, out[1].Path)
	if st.Chunked < 25 || st.Chunks < 25*4 || st.RowsOut != st.Chunks+30-st.Chunked || st.Dropped[prep.DropTooLong] != 0 {
		t.Errorf("chunk stats %+v", st)
	}
	for _, r := range readRows(t, filepath.Join(out[0].Path, "train.jsonl")) {
		if r.Prompt != "" || r.Tokens > 260 {
			t.Fatalf("chunk row prompt %q tokens %d", r.Prompt, r.Tokens)
		}
	}
}

func TestNoChatTemplate(t *testing.T) {
	t.Parallel()
	data := node(t, ingest.New(), agent.Params{"source": "../shared/assets/datasets/llama-factory/v1_sft_demo.jsonl"})
	env := &agent.Env{Params: agent.Params{"tokenizer": "../shared/assets/models/stories260K", "template": "chat"}, Inputs: data[:1],
		OutDir: t.TempDir(), WorkDir: datatest.Root(t), Emit: agent.Discard}
	if _, err := New().Run(context.Background(), env); err == nil || !agent.IsPermanent(err) || !strings.Contains(err.Error(), "no chat template") {
		t.Errorf("err = %v", err)
	}
}

// TestTokenizerFromRegisteredModel: a tokenizer param naming a registered
// model (mdl_...) is read where env.ResolveSource puts it, on the dataset
// agent and again on preprocess through the dataset's meta, which names it
// by its id (another worker resolves it), never by the first worker's
// copy, and as a tokenizer (agent.KindTokenizer: its tokenizer files, not
// its weights); a registered model without a tokenizer is a permanent error
// naming it.
func TestTokenizerFromRegisteredModel(t *testing.T) {
	t.Parallel()
	root := datatest.Root(t)
	models := map[string]string{
		"mdl_merged":  filepath.Join(root, "../shared/assets/models/stories260K"),
		"mdl_adapter": t.TempDir(), // adapter_config.json and weights only
	}
	os.WriteFile(filepath.Join(models["mdl_adapter"], "adapter_config.json"), []byte(`{}`), 0o644)
	var resolved []string
	env := func(params agent.Params, inputs ...agent.Artifact) *agent.Env {
		return &agent.Env{Params: params, Inputs: inputs, OutDir: t.TempDir(), WorkDir: root, Emit: agent.Discard,
			ResolveSource: func(_ context.Context, ref, kind string) (string, error) {
				resolved = append(resolved, ref+" as "+kind)
				if p, ok := models[ref]; ok {
					return p, nil
				}
				return filepath.Join(root, ref), nil
			}}
	}
	de := env(agent.Params{"source": "../shared/assets/datasets/llama-factory/alpaca_en_demo.json", "tokenizer": "mdl_merged"})
	data, err := ingest.New().Run(context.Background(), de)
	if err != nil {
		t.Fatal(err)
	}
	if got := data[0].Meta["tokenizer"]; got != "mdl_merged" {
		t.Errorf("dataset meta tokenizer %v, want mdl_merged", got)
	}
	data[0].Path = filepath.Join(de.OutDir, data[0].Path)

	pe := env(agent.Params{"template": "alpaca", "max_tokens": 256, "seed": 1}, data[0])
	resolved = nil
	out, err := New().Run(context.Background(), pe)
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Meta["tokenizer"]; got != "mdl_merged" {
		t.Errorf("preprocess meta tokenizer %v, want mdl_merged", got)
	}
	if len(resolved) != 1 || resolved[0] != "mdl_merged as "+agent.KindTokenizer {
		t.Errorf("preprocess resolved %q, want the dataset's tokenizer mdl_merged as a tokenizer (its tokenizer files only)", resolved)
	}
	if st := readStats(t, filepath.Join(pe.OutDir, out[1].Path)); st.Tokens == 0 || st.RowsTrain == 0 {
		t.Errorf("stats %+v: want rows counted in tokens", st)
	}

	_, err = New().Run(context.Background(), env(agent.Params{"tokenizer": "mdl_adapter"}, data[0]))
	if err == nil || !agent.IsPermanent(err) || !strings.Contains(err.Error(), `"mdl_adapter"`) || !strings.Contains(err.Error(), "tokenizer.model") {
		t.Errorf("adapter as a tokenizer: %v, want a permanent error naming mdl_adapter and the missing tokenizer.json or tokenizer.model", err)
	}
}
