// Package exporttest builds models for export tests and benchmarks.
package exporttest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/whetstone/whetstone/internal/export/peft"
	"github.com/whetstone/whetstone/internal/safetensors"
)

// Shape is a llama-family model shape.
type Shape struct {
	Hidden, Layers, Heads, KVHeads, Inter, Vocab int
	RopeTheta                                    float64
}

// SmolLM2_135M is the shape of HuggingFaceTB/SmolLM2-135M (tied embeddings).
var SmolLM2_135M = Shape{Hidden: 576, Layers: 30, Heads: 9, KVHeads: 3, Inter: 1536, Vocab: 49152, RopeTheta: 100000}

// RepoRoot walks up from the working folder to go.mod.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			tb.Fatal("go.mod not found")
		}
		dir = filepath.Dir(dir)
	}
}

// Model writes a random-weight llama model of shape s (weights N(0, 0.02²),
// norms 1) in dtype, with the SmolLM2 tokenizer files, to dir. It stands in
// for the real checkpoint in speed and memory measurements.
func Model(tb testing.TB, dir string, s Shape, dtype safetensors.DType) {
	tb.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	hd := s.Hidden / s.Heads
	cfg := map[string]any{"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama", "hidden_size": s.Hidden,
		"intermediate_size": s.Inter, "num_hidden_layers": s.Layers, "num_attention_heads": s.Heads, "num_key_value_heads": s.KVHeads,
		"head_dim": hd, "vocab_size": s.Vocab, "max_position_embeddings": 8192, "rms_norm_eps": 1e-5, "rope_theta": s.RopeTheta,
		"hidden_act": "silu", "tie_word_embeddings": true, "bos_token_id": 0, "eos_token_id": 0,
		"torch_dtype": map[safetensors.DType]string{safetensors.F32: "float32", safetensors.BF16: "bfloat16"}[dtype]}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		tb.Fatal(err)
	}
	tok := filepath.Join(RepoRoot(tb), "..", "shared", "assets", "tokenizers", "smollm2-135m")
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"} {
		b, err := os.ReadFile(filepath.Join(tok, f))
		if err != nil {
			tb.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	r := rand.New(rand.NewPCG(1, 2))
	var ts []safetensors.Tensor
	add := func(name string, norm bool, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		x := make([]float32, n)
		for i := range x {
			if norm {
				x[i] = 1
			} else {
				x[i] = float32(r.NormFloat64() * 0.02)
			}
		}
		data, err := safetensors.ConvertF32(x, dtype)
		if err != nil {
			tb.Fatal(err)
		}
		ts = append(ts, safetensors.Tensor{Name: name, DType: dtype, Shape: shape, Data: data})
	}
	add("model.embed_tokens.weight", false, s.Vocab, s.Hidden)
	add("model.norm.weight", true, s.Hidden)
	for i := 0; i < s.Layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		add(p+"input_layernorm.weight", true, s.Hidden)
		add(p+"post_attention_layernorm.weight", true, s.Hidden)
		add(p+"self_attn.q_proj.weight", false, s.Heads*hd, s.Hidden)
		add(p+"self_attn.k_proj.weight", false, s.KVHeads*hd, s.Hidden)
		add(p+"self_attn.v_proj.weight", false, s.KVHeads*hd, s.Hidden)
		add(p+"self_attn.o_proj.weight", false, s.Hidden, s.Heads*hd)
		add(p+"mlp.gate_proj.weight", false, s.Inter, s.Hidden)
		add(p+"mlp.up_proj.weight", false, s.Inter, s.Hidden)
		add(p+"mlp.down_proj.weight", false, s.Hidden, s.Inter)
	}
	f, err := os.Create(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := safetensors.Write(f, ts, map[string]string{"format": "pt"}); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// Adapter writes a random rank-r PEFT LoRA adapter on every linear layer
// of a model of shape s to dir.
func Adapter(tb testing.TB, dir, base string, s Shape, r int) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	hd := s.Hidden / s.Heads
	dims := map[string][2]int{"self_attn.q_proj": {s.Heads * hd, s.Hidden}, "self_attn.k_proj": {s.KVHeads * hd, s.Hidden},
		"self_attn.v_proj": {s.KVHeads * hd, s.Hidden}, "self_attn.o_proj": {s.Hidden, s.Heads * hd},
		"mlp.gate_proj": {s.Inter, s.Hidden}, "mlp.up_proj": {s.Inter, s.Hidden}, "mlp.down_proj": {s.Hidden, s.Inter}}
	a := &peft.Adapter{Config: peft.NewConfig(base, r, float64(2*r), []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})}
	randn := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 0.01)
		}
		return x
	}
	for i := 0; i < s.Layers; i++ {
		for m, d := range dims {
			a.Layers = append(a.Layers, &peft.Layer{Module: fmt.Sprintf("model.layers.%d.%s", i, m), Rank: r, Out: d[0], In: d[1],
				A: randn(r * d[1]), B: randn(d[0] * r)})
		}
	}
	if err := peft.Write(dir, a); err != nil {
		tb.Fatal(err)
	}
}
