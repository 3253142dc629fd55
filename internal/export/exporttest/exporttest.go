// Package exporttest builds models for export tests and benchmarks.
package exporttest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/export/peft"
	"github.com/whetstone/whetstone/internal/safetensors"
)

// Shape is a llama-family model shape.
type Shape struct {
	Hidden, Layers, Heads, KVHeads, Inter, Vocab int
	RopeTheta                                    float64
	// HeadDim defaults to Hidden/Heads.
	HeadDim int
	// ModelType is "llama" (default), "qwen2" (q/k/v biases) or "qwen3"
	// (per-head q/k RMSNorm).
	ModelType string
	// Tokenizer is the asset folder (under shared/assets) whose tokenizer
	// files are copied in. Defaults to tokenizers/smollm2-135m.
	Tokenizer string
	// TestInit draws norm weights 1 + N(0, 0.1²) and biases N(0, 0.02²)
	// instead of ones and zeros, so mistakes in their handling show.
	TestInit bool
	Seed     uint64
}

// SmolLM2_135M is the shape of HuggingFaceTB/SmolLM2-135M (tied embeddings).
var SmolLM2_135M = Shape{Hidden: 576, Layers: 30, Heads: 9, KVHeads: 3, Inter: 1536, Vocab: 49152, RopeTheta: 100000}

// Qwen2Tiny is a small Qwen2-style model with the Qwen3 tokenizer (151,669
// ids) and random norms and biases, for the llama.cpp checks.
var Qwen2Tiny = Shape{Hidden: 64, Layers: 2, Heads: 4, KVHeads: 2, Inter: 128, Vocab: 151669, RopeTheta: 1e6,
	ModelType: "qwen2", Tokenizer: "tokenizers/qwen3", TestInit: true, Seed: 7}

// LlamaK256 is a small llama model whose rows are multiples of 256, so every
// GGUF type, K-quants included, applies without fallbacks; it uses the
// stories260K SentencePiece tokenizer.
var LlamaK256 = Shape{Hidden: 256, Layers: 2, Heads: 4, KVHeads: 2, Inter: 512, Vocab: 512, RopeTheta: 10000,
	Tokenizer: "models/stories260K", TestInit: true, Seed: 11}

// Qwen3Tiny is a small Qwen3-style model (q/k norms, head_dim 32 ≠
// hidden/heads) with the Qwen3 tokenizer.
var Qwen3Tiny = Shape{Hidden: 64, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 32, Inter: 128, Vocab: 151669, RopeTheta: 1e6,
	ModelType: "qwen3", Tokenizer: "tokenizers/qwen3", TestInit: true, Seed: 13}

// SmolLM2Tiny is a one-layer model with the SmolLM2 tokenizer (byte-level
// BPE with llama.cpp's "smollm" pre-tokenizer: single digits).
var SmolLM2Tiny = Shape{Hidden: 64, Layers: 1, Heads: 4, KVHeads: 2, Inter: 128, Vocab: 49152, RopeTheta: 100000,
	TestInit: true, Seed: 17}

// Named are the shapes tests refer to by name.
var Named = map[string]Shape{"smollm2-135m": SmolLM2_135M, "qwen2-tiny": Qwen2Tiny, "llama-k256": LlamaK256, "qwen3-tiny": Qwen3Tiny, "smollm2-tiny": SmolLM2Tiny}

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
	hd := cmp.Or(s.HeadDim, s.Hidden/s.Heads)
	mt, archName, bos, eos := "llama", "LlamaForCausalLM", any(0), any(0)
	if strings.HasSuffix(s.Tokenizer, "stories260K") {
		bos, eos = 1, 2
	}
	switch s.ModelType {
	case "qwen2":
		mt, archName, bos, eos = "qwen2", "Qwen2ForCausalLM", nil, 151645
	case "qwen3":
		mt, archName, bos, eos = "qwen3", "Qwen3ForCausalLM", nil, 151645
	}
	cfg := map[string]any{"architectures": []string{archName}, "model_type": mt, "hidden_size": s.Hidden,
		"intermediate_size": s.Inter, "num_hidden_layers": s.Layers, "num_attention_heads": s.Heads, "num_key_value_heads": s.KVHeads,
		"head_dim": hd, "vocab_size": s.Vocab, "max_position_embeddings": 8192, "rms_norm_eps": 1e-5, "rope_theta": s.RopeTheta,
		"hidden_act": "silu", "tie_word_embeddings": true, "bos_token_id": bos, "eos_token_id": eos,
		"torch_dtype": map[safetensors.DType]string{safetensors.F32: "float32", safetensors.BF16: "bfloat16"}[dtype]}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		tb.Fatal(err)
	}
	tok := filepath.Join(RepoRoot(tb), "..", "shared", "assets", cmp.Or(s.Tokenizer, "tokenizers/smollm2-135m"))
	for _, f := range []string{"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"} {
		b, err := os.ReadFile(filepath.Join(tok, f))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			tb.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	r := rand.New(rand.NewPCG(1, 2+s.Seed))
	var ts []safetensors.Tensor
	add := func(name string, norm bool, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		x := make([]float32, n)
		bias := strings.HasSuffix(name, ".bias")
		for i := range x {
			switch {
			case norm && s.TestInit:
				x[i] = float32(1 + r.NormFloat64()*0.1)
			case norm:
				x[i] = 1
			case bias && !s.TestInit:
				x[i] = 0
			default:
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
		if s.ModelType == "qwen3" {
			add(p+"self_attn.q_norm.weight", true, hd)
			add(p+"self_attn.k_norm.weight", true, hd)
		}
		if s.ModelType == "qwen2" {
			add(p+"self_attn.q_proj.bias", false, s.Heads*hd)
			add(p+"self_attn.k_proj.bias", false, s.KVHeads*hd)
			add(p+"self_attn.v_proj.bias", false, s.KVHeads*hd)
		}
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

// LoRA describes a random adapter.
type LoRA struct {
	Rank   int
	Std    float64 // of A and B entries; defaults to 0.01
	RSLoRA bool
}

// Adapter writes a random PEFT LoRA adapter (alpha = 2·rank) on every linear
// layer of a model of shape s to dir.
func Adapter(tb testing.TB, dir, base string, s Shape, l LoRA) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(3, 4+s.Seed))
	hd := cmp.Or(s.HeadDim, s.Hidden/s.Heads)
	type mod struct {
		name    string
		out, in int
	}
	mods := []mod{{"self_attn.q_proj", s.Heads * hd, s.Hidden}, {"self_attn.k_proj", s.KVHeads * hd, s.Hidden},
		{"self_attn.v_proj", s.KVHeads * hd, s.Hidden}, {"self_attn.o_proj", s.Hidden, s.Heads * hd},
		{"mlp.gate_proj", s.Inter, s.Hidden}, {"mlp.up_proj", s.Inter, s.Hidden}, {"mlp.down_proj", s.Hidden, s.Inter}}
	r := l.Rank
	std := l.Std
	if std == 0 {
		std = 0.01
	}
	a := &peft.Adapter{Config: peft.NewConfig(base, r, float64(2*r), []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})}
	a.Config.UseRSLoRA = l.RSLoRA
	randn := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * std)
		}
		return x
	}
	for i := 0; i < s.Layers; i++ {
		for _, m := range mods {
			a.Layers = append(a.Layers, &peft.Layer{Module: fmt.Sprintf("model.layers.%d.%s", i, m.name), Rank: r, Out: m.out, In: m.in,
				A: randn(r * m.in), B: randn(m.out * r)})
		}
	}
	if err := peft.Write(dir, a); err != nil {
		tb.Fatal(err)
	}
}
