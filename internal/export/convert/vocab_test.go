package convert

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/export/exporttest"
	"github.com/whetstone/whetstone/internal/safetensors"
)

func TestBPEVocab(t *testing.T) {
	t.Parallel()
	tests := []struct {
		shape         string
		pre           string
		bos, eos, eot int
		addBOS        bool
		merges        int
	}{
		// SmolLM2: EOS is <|endoftext|> (0), the ChatML template ends turns with <|im_end|> (2).
		{"smollm2-tiny", "smollm", 0, 0, 2, false, 48900},
		// Qwen: no BOS, EOS <|im_end|>, which is also the end of turn.
		{"qwen2-tiny", "qwen2", -1, 151645, -1, false, 151387},
	}
	for _, tt := range tests {
		t.Run(tt.shape, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), tt.shape)
			exporttest.Model(t, dir, exporttest.Named[tt.shape], safetensors.F32)
			cfg, err := LoadConfig(dir)
			if err != nil {
				t.Fatal(err)
			}
			v, err := LoadVocab(dir, cfg, "")
			if err != nil {
				t.Fatal(err)
			}
			if v.Model != "gpt2" || v.Pre != tt.pre || v.BOS != tt.bos || v.EOS != tt.eos || v.EOT != tt.eot || v.AddBOS != tt.addBOS {
				t.Errorf("model %s pre %s bos %d eos %d eot %d add_bos %v", v.Model, v.Pre, v.BOS, v.EOS, v.EOT, v.AddBOS)
			}
			if len(v.Merges) < tt.merges || !strings.Contains(v.Merges[0], " ") {
				t.Errorf("%d merges, first %q", len(v.Merges), v.Merges[0])
			}
			if v.ChatTemplate == "" {
				t.Error("no chat template")
			}
			if id, _ := v.TokenID("<|im_start|>"); v.Types[id] != tokControl {
				t.Errorf("<|im_start|> has type %d", v.Types[id])
			}
		})
	}
}

func TestDetectPre(t *testing.T) {
	t.Parallel()
	re := func(p string) string {
		b, _ := json.Marshal(p)
		return string(b)
	}
	tests := []struct{ json, want string }{
		{`{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}`, "gpt-2"},
		{`{"type":"Sequence","pretokenizers":[{"type":"Digits","individual_digits":true},{"type":"ByteLevel","use_regex":true}]}`, "smollm"},
		{`{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":` + re(llama3Split) + `}},{"type":"ByteLevel","use_regex":false}]}`, "llama-bpe"},
		{`{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":` + re(qwen2Split) + `}},{"type":"ByteLevel","use_regex":false}]}`, "qwen2"},
		{`{"type":"Metaspace","replacement":"▁"}`, ""},
		{`null`, ""},
	}
	for _, tt := range tests {
		got, err := detectPre(json.RawMessage(tt.json))
		if got != tt.want || (tt.want == "") != (err != nil) {
			t.Errorf("detectPre(%s) = %q, %v; want %q", tt.json, got, err, tt.want)
		}
	}
}

func TestConvertErrors(t *testing.T) {
	t.Parallel()
	src := filepath.Join(exporttest.RepoRoot(t), "..", "shared", "assets", "models", "stories260K")
	setup := func(t *testing.T, edit func(cfg map[string]any)) string {
		dir := t.TempDir()
		for _, f := range []string{"model.safetensors", "tokenizer.model", "tokenizer_config.json"} {
			b, err := os.ReadFile(filepath.Join(src, f))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, f), b, 0o644)
		}
		var cfg map[string]any
		b, _ := os.ReadFile(filepath.Join(src, "config.json"))
		json.Unmarshal(b, &cfg)
		edit(cfg)
		b, _ = json.Marshal(cfg)
		os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
		return dir
	}
	tests := []struct {
		name string
		edit func(map[string]any)
		want string
	}{
		{"arch", func(c map[string]any) { c["model_type"] = "gpt_neox" }, `model_type "gpt_neox"`},
		{"missing field", func(c map[string]any) { delete(c, "hidden_size") }, "hidden_size"},
		{"shape", func(c map[string]any) { c["intermediate_size"] = 100.0 }, "config.json implies"},
		{"layers", func(c map[string]any) { c["num_hidden_layers"] = 3.0 }, "layer 3"},
		{"vocab", func(c map[string]any) { c["vocab_size"] = 600.0 }, "config.json implies [600 64]"},
		{"act", func(c map[string]any) { c["hidden_act"] = "gelu" }, "hidden_act"},
		{"untied without head", func(c map[string]any) { c["tie_word_embeddings"] = false }, "lm_head.weight"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := setup(t, tt.edit)
			st, err := safetensors.OpenDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			_, err = Model(context.Background(), io.Discard, &Params{Dir: dir, Weights: Safetensors(st)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestVocabPadding(t *testing.T) {
	t.Parallel()
	// Qwen2.5 checkpoints have vocab_size 151936 for 151,665 tokenizer ids:
	// llama.cpp's converter fills the rest with user-defined "[PADn]" tokens.
	dir := filepath.Join(exporttest.RepoRoot(t), "..", "shared", "assets", "tokenizers", "qwen3")
	v, err := bpeVocab(filepath.Join(dir, "tokenizer.json"), &Config{VocabSize: 151936}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Tokens) != 151936 || v.Tokens[151935] != "[PAD151935]" || v.Types[151935] != tokUserDefined || v.Types[151643] != tokControl {
		t.Errorf("%d tokens, last %q type %d", len(v.Tokens), v.Tokens[len(v.Tokens)-1], v.Types[len(v.Types)-1])
	}
}
