package model

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestShapeFromConfig: the shape read from config.json alone has the
// parameter count and biases of the loaded checkpoint, and the loaded
// model set up for a run reports the shape NewShape predicts.
func TestShapeFromConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, dir string
		biases    []string
	}{
		{"stories260K", storiesDir(t), nil},
		{"tiny-llama", "testdata/tiny-llama", nil},
		{"tiny-qwen2", "testdata/tiny-qwen2", []string{"q", "k", "v"}},
		{"tiny-bf16", "testdata/tiny-bf16", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := ReadConfig(tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			lora := LoRAConfig{Rank: 4, Dropout: 0.1, Targets: []string{"q_proj", "self_attn.v_proj", "down"}}
			s, err := NewShape(*cfg, "lora", lora, false)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Biases, tc.biases) {
				t.Errorf("biases from config %v, want %v", s.Biases, tc.biases)
			}
			m, err := Load(tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := s.NumParams(), int64(m.NumParams()); got != want {
				t.Errorf("NumParams from config %d, loaded %d", got, want)
			}
			if err := m.AddLoRA(lora, 1); err != nil {
				t.Fatal(err)
			}
			m.EnableLoRAGrad()
			got := m.Shape()
			if !slices.Equal(got.Biases, s.Biases) || got.Full || got.NF4 || got.LoRA.Rank != 4 || !got.LoRA.Dropout || got.LoRA.Frozen ||
				!slices.Equal(got.LoRA.Targets, []string{"q", "v", "down"}) || got.Cfg.TieWordEmbeddings != cfg.TieWordEmbeddings {
				t.Errorf("loaded model's shape %+v, config's %+v", got, s)
			}
			if _, err := m.QuantizeNF4(true); err != nil {
				t.Fatal(err)
			}
			if got := m.Shape(); !got.NF4 || !got.DoubleQuant {
				t.Errorf("after QuantizeNF4(true): NF4 %v DoubleQuant %v", got.NF4, got.DoubleQuant)
			}
		})
	}
}

func TestConfigBiases(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		c    Config
		want []string
	}{
		{Config{ModelType: "llama"}, nil},
		{Config{ModelType: "qwen2"}, []string{"q", "k", "v"}},
		{Config{ModelType: "llama", AttentionBias: true}, []string{"q", "k", "v", "o"}},
		{Config{ModelType: "llama", MLPBias: true}, []string{"gate", "up", "down"}},
	} {
		if got := tc.c.Biases(); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: Biases() = %v, want %v", tc.c, got, tc.want)
		}
	}
}

func TestNewShapeErrors(t *testing.T) {
	t.Parallel()
	cfg, err := ReadConfig("testdata/tiny-llama")
	if err != nil {
		t.Fatal(err)
	}
	bad := *cfg
	bad.IntermediateSize = 0
	r8 := LoRAConfig{Rank: 8}
	for _, tc := range []struct {
		name   string
		c      Config
		method string
		l      LoRAConfig
		dq     bool
		want   string
	}{
		{"method", *cfg, "dpo", r8, false, `method "dpo"`},
		{"rank", *cfg, "lora", LoRAConfig{}, false, "lora rank must be positive"},
		{"dropout", *cfg, "qlora", LoRAConfig{Rank: 8, Dropout: 1}, false, "lora dropout"},
		{"target", *cfg, "lora", LoRAConfig{Rank: 8, Targets: []string{"lm_head"}}, false, `lora target "lm_head"`},
		{"double-quant", *cfg, "lora", r8, true, "double_quant applies to method qlora only"},
		{"config", bad, "full", r8, false, "field intermediate_size"},
	} {
		if _, err := NewShape(tc.c, tc.method, tc.l, tc.dq); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// TestReadConfigFileErrors: a missing file, bad JSON and a bad field are
// errors naming the file (and the field).
func TestReadConfigFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		path string
		want []string
	}{
		{filepath.Join(dir, "nope.json"), []string{"nope.json", "no such file"}},
		{write("trunc.json", `{"model_type": "llama",`), []string{"trunc.json"}},
		{write("heads.json", `{"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 0, "vocab_size": 10}`),
			[]string{"heads.json", "field num_attention_heads"}},
		{write("gpt2.json", `{"model_type": "gpt2"}`), []string{"gpt2.json", `model_type "gpt2"`}},
	} {
		_, err := ReadConfigFile(tc.path)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: err = %v, want one containing %q", filepath.Base(tc.path), err, w)
			}
		}
	}
}
