package convert

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/whetstone/whetstone/internal/export/gguf"
)

// GGUFModel is a GGUF model file read back for Whetstone's engine: its
// hyperparameters as a Hugging Face config and its tensors as a Source by
// Hugging Face name, dequantized to float32 in PyTorch shapes, with the
// llama q/k rows permuted back to the rotate-half layout. It undoes what
// Model writes.
type GGUFModel struct {
	Arch   string
	Config Config
	// RopeFreqs are the per-frequency divisors of rope_freqs.weight
	// (Llama-3.1 RoPE scaling), nil when the file has none.
	RopeFreqs []float32

	f      *gguf.File
	byHF   map[string]string // Hugging Face name -> GGUF name
	hfList []string
}

// hfNames inverts layerNames.
var hfNames = func() map[string]string {
	m := map[string]string{}
	for hf, g := range layerNames {
		m[g] = hf
	}
	return m
}()

// HFName maps a llama.cpp tensor name back to the Hugging Face one; false
// for tensors with no Hugging Face counterpart (rope_freqs.weight).
func HFName(g string) (string, bool) {
	switch g {
	case "token_embd.weight":
		return "model.embed_tokens.weight", true
	case "output_norm.weight":
		return "model.norm.weight", true
	case "output.weight":
		return "lm_head.weight", true
	}
	rest, ok := strings.CutPrefix(g, "blk.")
	if !ok {
		return "", false
	}
	i := strings.IndexByte(rest, '.')
	if i <= 0 {
		return "", false
	}
	hf, ok := hfNames[rest[i+1:]]
	if !ok {
		return "", false
	}
	return "model.layers." + rest[:i] + "." + hf, true
}

// ReadGGUF reads the model hyperparameters and tensor directory of f (a
// GGUF of architecture llama, qwen2 or qwen3). Tensors are read on demand
// through the returned model's Source methods; f must stay open.
func ReadGGUF(f *gguf.File) (*GGUFModel, error) {
	arch, _ := f.String("general.architecture")
	switch arch {
	case "llama", "qwen2", "qwen3":
	default:
		return nil, fmt.Errorf("general.architecture %q: want llama, qwen2 or qwen3", arch)
	}
	u := func(key string, required bool) (int, error) {
		v, ok := f.Uint(arch + "." + key)
		if !ok {
			if required {
				return 0, fmt.Errorf("metadata %s.%s: missing or not an integer", arch, key)
			}
			return 0, nil
		}
		if v > math.MaxInt32 {
			return 0, fmt.Errorf("metadata %s.%s: %d is too large", arch, key, v)
		}
		return int(v), nil
	}
	fl := func(key string) float64 {
		v, _ := f.Get(arch + "." + key)
		switch x := v.(type) {
		case float32:
			return float64(x)
		case float64:
			return x
		}
		return 0
	}
	c := Config{ModelType: arch, HiddenAct: "silu"}
	var err error
	for _, k := range []struct {
		dst      *int
		key      string
		required bool
	}{
		{&c.HiddenSize, "embedding_length", true}, {&c.IntermediateSize, "feed_forward_length", true},
		{&c.NumLayers, "block_count", true}, {&c.NumHeads, "attention.head_count", true},
		{&c.NumKVHeads, "attention.head_count_kv", false}, {&c.HeadDim, "attention.key_length", false},
		{&c.MaxPositions, "context_length", false}, {&c.VocabSize, "vocab_size", false},
	} {
		if *k.dst, err = u(k.key, k.required); err != nil {
			return nil, err
		}
	}
	if c.VocabSize == 0 {
		if toks, ok := f.Get("tokenizer.ggml.tokens"); ok {
			if s, ok := toks.([]string); ok {
				c.VocabSize = len(s)
			}
		}
	}
	c.RMSNormEps = fl("attention.layer_norm_rms_epsilon")
	c.RopeTheta = fl("rope.freq_base")
	if t, _ := f.String(arch + ".rope.scaling.type"); t == "linear" {
		c.RopeScaling = map[string]any{"rope_type": "linear", "factor": fl("rope.scaling.factor")}
	}
	m := &GGUFModel{Arch: arch, f: f, byHF: map[string]string{}}
	for _, t := range f.Tensors {
		if t.Name == "rope_freqs.weight" {
			x, _, err := f.Float32(t.Name)
			if err != nil {
				return nil, err
			}
			m.RopeFreqs = x
			continue
		}
		hf, ok := HFName(t.Name)
		if !ok {
			return nil, fmt.Errorf("tensor %q is not part of a llama-family model", t.Name)
		}
		m.byHF[hf] = t.Name
		m.hfList = append(m.hfList, hf)
	}
	_, hasOutput := m.byHF["lm_head.weight"]
	c.TieWordEmbeddings = !hasOutput
	if c.VocabSize == 0 {
		if sh, ok := m.Shape("model.embed_tokens.weight"); ok {
			c.VocabSize = sh[0]
		}
	}
	m.Config = c
	return m, nil
}

// Names returns the Hugging Face names of the tensors.
func (m *GGUFModel) Names() []string { return slices.Clone(m.hfList) }

// Shape returns the PyTorch shape of a tensor by Hugging Face name.
func (m *GGUFModel) Shape(name string) ([]int, bool) {
	g, ok := m.byHF[name]
	if !ok {
		return nil, false
	}
	t, _ := m.f.Tensor(g)
	sh := make([]int, len(t.Shape))
	for i, d := range t.Shape {
		sh[len(t.Shape)-1-i] = int(d)
	}
	return sh, true
}

// Float32 returns a tensor by Hugging Face name, dequantized, in PyTorch
// shape and layout.
func (m *GGUFModel) Float32(name string) ([]float32, []int, error) {
	g, ok := m.byHF[name]
	if !ok {
		return nil, nil, fmt.Errorf("gguf: no tensor for %q", name)
	}
	x, _, err := m.f.Float32(g)
	if err != nil {
		return nil, nil, err
	}
	sh, _ := m.Shape(name)
	if m.Arch == "llama" {
		heads := 0
		switch {
		case strings.HasSuffix(name, "self_attn.q_proj.weight"), strings.HasSuffix(name, "self_attn.q_proj.bias"):
			heads = m.Config.NumHeads
		case strings.HasSuffix(name, "self_attn.k_proj.weight"), strings.HasSuffix(name, "self_attn.k_proj.bias"):
			heads = cmp.Or(m.Config.NumKVHeads, m.Config.NumHeads)
		}
		if heads > 0 {
			if x, err = UnpermuteRoPE(x, sh, heads); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", g, err)
			}
		}
	}
	return x, sh, nil
}

// UnpermuteRoPE is the inverse of PermuteRoPE: row h·d + t·d/2 + j of the
// result is row h·d + 2j + t of x.
func UnpermuteRoPE(x []float32, shape []int, nHead int) ([]float32, error) {
	rows, cols := shape[0], 1
	if len(shape) == 2 {
		cols = shape[1]
	}
	if rows%(2*nHead) != 0 {
		return nil, fmt.Errorf("%d rows cannot be split into %d heads of rotary pairs", rows, nHead)
	}
	d := rows / nHead
	half := d / 2
	out := make([]float32, len(x))
	for h := 0; h < nHead; h++ {
		for j := 0; j < half; j++ {
			for t := 0; t < 2; t++ {
				src := (h*d + 2*j + t) * cols
				dst := (h*d + t*half + j) * cols
				copy(out[dst:dst+cols], x[src:src+cols])
			}
		}
	}
	return out, nil
}
