// Package convert turns a Hugging Face model folder (config.json,
// safetensors weights, tokenizer files) into a GGUF file for llama.cpp and
// Ollama, and a PEFT LoRA adapter into a GGUF LoRA adapter.
//
// Supported architectures are the llama family as llama.cpp names them:
// llama (also mistral), qwen2 and qwen3. Tensor names follow llama.cpp's
// convert_hf_to_gguf.py; for the llama architecture the q_proj and k_proj
// rows are permuted from Hugging Face's rotate-half RoPE layout to the
// interleaved layout llama.cpp's llama graph uses (qwen2/qwen3 use the
// NeoX RoPE and keep Hugging Face's order).
package convert

import (
	"context"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/whetstone/whetstone/internal/export/gguf"
	"github.com/whetstone/whetstone/internal/export/quant"
	"github.com/whetstone/whetstone/internal/safetensors"
)

// FileType is the precision of an exported GGUF model, named as llama.cpp's
// llama-quantize names them.
type FileType string

// The supported file types.
const (
	F32    FileType = "f32"
	F16    FileType = "f16"
	BF16   FileType = "bf16"
	Q8_0   FileType = "q8_0"
	Q4_0   FileType = "q4_0"
	Q4_K_M FileType = "q4_k_m"
)

// FileTypes lists the supported file types.
var FileTypes = []FileType{F32, F16, BF16, Q8_0, Q4_0, Q4_K_M}

// ParseFileType parses a file type name, case-insensitively.
func ParseFileType(s string) (FileType, error) {
	for _, t := range FileTypes {
		if strings.EqualFold(string(t), s) {
			return t, nil
		}
	}
	return "", fmt.Errorf("unknown GGUF type %q (want one of %v)", s, FileTypes)
}

// llamaFileType is the value of general.file_type (llama_ftype).
func (t FileType) llamaFileType() uint32 {
	return map[FileType]uint32{F32: 0, F16: 1, Q4_0: 2, Q8_0: 7, Q4_K_M: 15, BF16: 32}[t]
}

// base is the ggml type most 2-D tensors get.
func (t FileType) base() quant.Type {
	return map[FileType]quant.Type{F32: quant.F32, F16: quant.F16, BF16: quant.BF16, Q8_0: quant.Q8_0, Q4_0: quant.Q4_0, Q4_K_M: quant.Q4_K}[t]
}

// Source gives a model's tensors by Hugging Face name as float32 with their
// PyTorch shape. Safetensors adapts a safetensors file or folder.
type Source interface {
	Names() []string
	// Shape returns a tensor's shape without loading it.
	Shape(name string) ([]int, bool)
	Float32(name string) ([]float32, []int, error)
}

// Safetensors adapts an opened safetensors file or model folder.
func Safetensors(f *safetensors.File) Source { return stSource{f} }

type stSource struct{ f *safetensors.File }

func (s stSource) Names() []string { return s.f.Names() }
func (s stSource) Shape(name string) ([]int, bool) {
	i, ok := s.f.Info(name)
	return i.Shape, ok
}
func (s stSource) Float32(name string) ([]float32, []int, error) { return s.f.Float32(name) }

// Params configure a model conversion.
type Params struct {
	// Dir is the Hugging Face model folder (config.json and tokenizer files).
	Dir string
	// Weights provides the tensors; typically safetensors.OpenDir(Dir), or
	// a merged view of base weights and a LoRA adapter.
	Weights Source
	// Type is the output precision. Defaults to F16.
	Type FileType
	// Name is general.name. Defaults to the folder's base name.
	Name string
	// Pre overrides the detected BPE pre-tokenizer.
	Pre string
	// ChatTemplate overrides the model's chat template when not empty (for
	// a model fine-tuned with a template its tokenizer_config lacks).
	ChatTemplate string
}

// Result summarises a conversion.
type Result struct {
	Arch    string
	Vocab   *Vocab
	Tensors []gguf.TensorInfo // the written types and shapes (offsets unset)
}

// Model writes the model described by p to w as GGUF.
func Model(ctx context.Context, w io.Writer, p *Params) (*Result, error) {
	cfg, err := LoadConfig(p.Dir)
	if err != nil {
		return nil, err
	}
	arch, _ := cfg.Arch()
	if p.Weights != nil {
		if err := cfg.Sizes().CheckShapes(p.Weights.Shape); err != nil {
			return nil, fmt.Errorf("%s: config.json: %w", p.Dir, err)
		}
	}
	ft := p.Type
	if ft == "" {
		ft = F16
	}
	if ft.base() == 0 && ft != F32 {
		return nil, fmt.Errorf("unsupported GGUF type %q", ft)
	}
	vocab, err := LoadVocab(p.Dir, cfg, p.Pre)
	if err != nil {
		return nil, err
	}
	if p.ChatTemplate != "" {
		vocab.ChatTemplate = p.ChatTemplate
	}
	if len(vocab.Tokens) != cfg.VocabSize {
		return nil, fmt.Errorf("%s: tokenizer has %d tokens but config vocab_size is %d", p.Dir, len(vocab.Tokens), cfg.VocabSize)
	}
	name := p.Name
	if name == "" {
		name = baseName(p.Dir)
	}
	kvs := []gguf.KV{
		{Key: "general.architecture", Value: arch},
		{Key: "general.type", Value: "model"},
		{Key: "general.name", Value: name},
		{Key: "general.file_type", Value: ft.llamaFileType()},
	}
	if ft != F32 && ft != F16 && ft != BF16 {
		kvs = append(kvs, gguf.KV{Key: "general.quantization_version", Value: uint32(2)})
	}
	kvs = append(kvs, archKVs(arch, cfg)...)
	kvs = append(kvs, vocab.KVs()...)

	plan, err := planTensors(arch, cfg, p.Weights, ft)
	if err != nil {
		return nil, err
	}
	res := &Result{Arch: arch, Vocab: vocab}
	tensors := make([]gguf.Tensor, len(plan))
	for i, pt := range plan {
		res.Tensors = append(res.Tensors, gguf.TensorInfo{Name: pt.name, Type: pt.typ, Shape: pt.shape})
		tensors[i] = gguf.Tensor{Name: pt.name, Type: pt.typ, Shape: pt.shape, Data: func(w io.Writer) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			x, err := pt.load()
			if err != nil {
				return err
			}
			b, err := quant.Quantize(nil, pt.typ, x, int(pt.shape[0]))
			if err != nil {
				return err
			}
			_, err = w.Write(b)
			return err
		}}
	}
	if err := gguf.Write(w, kvs, tensors); err != nil {
		return nil, err
	}
	return res, nil
}

func baseName(dir string) string {
	dir = strings.TrimRight(dir, "/")
	if i := strings.LastIndex(dir, "/"); i >= 0 {
		return dir[i+1:]
	}
	return dir
}

func archKVs(arch string, c *Config) []gguf.KV {
	hd := c.headDim()
	kvs := []gguf.KV{
		{Key: arch + ".context_length", Value: uint32(c.MaxPositions)},
		{Key: arch + ".embedding_length", Value: uint32(c.HiddenSize)},
		{Key: arch + ".block_count", Value: uint32(c.NumLayers)},
		{Key: arch + ".feed_forward_length", Value: uint32(c.IntermediateSize)},
		{Key: arch + ".attention.head_count", Value: uint32(c.NumHeads)},
		{Key: arch + ".attention.head_count_kv", Value: uint32(c.NumKVHeads)},
		{Key: arch + ".attention.layer_norm_rms_epsilon", Value: float32(c.RMSNormEps)},
		{Key: arch + ".rope.freq_base", Value: float32(c.RopeTheta)},
		{Key: arch + ".rope.dimension_count", Value: uint32(hd)},
		{Key: arch + ".attention.key_length", Value: uint32(hd)},
		{Key: arch + ".attention.value_length", Value: uint32(hd)},
		{Key: arch + ".vocab_size", Value: uint32(c.VocabSize)},
	}
	if rs := ropeScaling(c); rs.kind == "linear" {
		kvs = append(kvs,
			gguf.KV{Key: arch + ".rope.scaling.type", Value: "linear"},
			gguf.KV{Key: arch + ".rope.scaling.factor", Value: float32(rs.factor)})
	}
	return kvs
}

type ropeScale struct {
	kind                    string
	factor, low, high, orig float64
}

func ropeScaling(c *Config) ropeScale {
	rs := c.RopeScaling
	if rs == nil {
		return ropeScale{}
	}
	kind, _ := rs["rope_type"].(string)
	if kind == "" {
		kind, _ = rs["type"].(string)
	}
	f := func(k string) float64 { v, _ := rs[k].(float64); return v }
	return ropeScale{kind: kind, factor: f("factor"), low: f("low_freq_factor"), high: f("high_freq_factor"), orig: f("original_max_position_embeddings")}
}

// planned is one output tensor: its GGUF name, type, ggml shape and a loader
// producing its float32 values (already permuted).
type planned struct {
	name  string
	typ   quant.Type
	shape []uint64
	load  func() ([]float32, error)
}

var layerRe = regexp.MustCompile(`^model\.layers\.(\d+)\.(.+)$`)

// layerNames maps a Hugging Face per-layer tensor suffix to the GGUF one.
var layerNames = map[string]string{
	"input_layernorm.weight":          "attn_norm.weight",
	"self_attn.q_proj.weight":         "attn_q.weight",
	"self_attn.k_proj.weight":         "attn_k.weight",
	"self_attn.v_proj.weight":         "attn_v.weight",
	"self_attn.o_proj.weight":         "attn_output.weight",
	"self_attn.q_proj.bias":           "attn_q.bias",
	"self_attn.k_proj.bias":           "attn_k.bias",
	"self_attn.v_proj.bias":           "attn_v.bias",
	"self_attn.o_proj.bias":           "attn_output.bias",
	"self_attn.q_norm.weight":         "attn_q_norm.weight",
	"self_attn.k_norm.weight":         "attn_k_norm.weight",
	"post_attention_layernorm.weight": "ffn_norm.weight",
	"mlp.gate_proj.weight":            "ffn_gate.weight",
	"mlp.up_proj.weight":              "ffn_up.weight",
	"mlp.down_proj.weight":            "ffn_down.weight",
}

// GGUFName maps a Hugging Face tensor name to llama.cpp's, returning the
// layer index (-1 for global tensors) and false for tensors GGUF does not
// keep (rotary inv_freq).
func GGUFName(hf string) (string, int, bool, error) {
	switch hf {
	case "model.embed_tokens.weight":
		return "token_embd.weight", -1, true, nil
	case "model.norm.weight":
		return "output_norm.weight", -1, true, nil
	case "lm_head.weight":
		return "output.weight", -1, true, nil
	}
	if m := layerRe.FindStringSubmatch(hf); m != nil {
		if strings.HasSuffix(m[2], "rotary_emb.inv_freq") {
			return "", 0, false, nil
		}
		if g, ok := layerNames[m[2]]; ok {
			i, _ := strconv.Atoi(m[1])
			return "blk." + m[1] + "." + g, i, true, nil
		}
	}
	return "", 0, false, fmt.Errorf("tensor %q is not part of a supported llama-family model", hf)
}

func planTensors(arch string, c *Config, src Source, ft FileType) ([]planned, error) {
	names := src.Names()
	have := make(map[string]bool, len(names))
	for _, n := range names {
		have[n] = true
	}
	if !have["model.embed_tokens.weight"] {
		return nil, fmt.Errorf("weights have no model.embed_tokens.weight")
	}
	hasOutput := have["lm_head.weight"] && !c.TieWordEmbeddings
	if !c.TieWordEmbeddings && !have["lm_head.weight"] {
		return nil, fmt.Errorf("config.json has tie_word_embeddings false (or unset) but the weights have no lm_head.weight")
	}
	var out []planned
	var attnV, ffnDown []int // indices into out, for the Q4_K_M mix
	for _, hf := range sortedTensorOrder(names) {
		g, layer, keep, err := GGUFName(hf)
		if err != nil {
			return nil, err
		}
		if !keep || (hf == "lm_head.weight" && !hasOutput) {
			continue
		}
		if layer >= c.NumLayers {
			return nil, fmt.Errorf("tensor %q: layer %d but num_hidden_layers is %d", hf, layer, c.NumLayers)
		}
		pt := planned{name: g}
		hf := hf
		perm := 0
		if arch == "llama" {
			switch {
			case strings.HasSuffix(hf, "self_attn.q_proj.weight"), strings.HasSuffix(hf, "self_attn.q_proj.bias"):
				perm = c.NumHeads
			case strings.HasSuffix(hf, "self_attn.k_proj.weight"), strings.HasSuffix(hf, "self_attn.k_proj.bias"):
				perm = c.NumKVHeads
			}
		}
		shape, err := shapeOf(src, hf)
		if err != nil {
			return nil, err
		}
		pt.shape = gguf.ShapeOf(shape)
		pt.load = func() ([]float32, error) {
			x, sh, err := src.Float32(hf)
			if err != nil {
				return nil, fmt.Errorf("load %s: %w", hf, err)
			}
			if perm > 0 {
				if x, err = PermuteRoPE(x, sh, perm); err != nil {
					return nil, fmt.Errorf("%s: %w", hf, err)
				}
			}
			return x, nil
		}
		if err := checkShape(c, hf, shape); err != nil {
			return nil, err
		}
		pt.typ = quant.F32
		if len(shape) == 2 {
			pt.typ = ft.base()
			if ft == F32 {
				pt.typ = quant.F32
			}
			isOutput := g == "output.weight" || (!hasOutput && g == "token_embd.weight")
			if isOutput && (ft == Q4_0 || ft == Q4_K_M) {
				pt.typ = quant.Q6_K
			}
			pt.typ = fallback(pt.typ, shape[1])
		}
		switch {
		case strings.HasSuffix(g, "attn_v.weight"):
			attnV = append(attnV, len(out))
		case strings.HasSuffix(g, "ffn_down.weight"):
			ffnDown = append(ffnDown, len(out))
		}
		out = append(out, pt)
	}
	if ft == Q4_K_M {
		// llama.cpp's Q4_K_M gives a subset of attn_v and ffn_down Q6_K.
		for _, group := range [][]int{attnV, ffnDown} {
			for i, idx := range group {
				if useMoreBits(i, len(group)) {
					out[idx].typ = fallback(quant.Q6_K, int(out[idx].shape[0]))
				}
			}
		}
	}
	if rs := ropeScaling(c); rs.kind == "llama3" {
		freqs := llama3RopeFactors(c, rs)
		out = append(out, planned{name: "rope_freqs.weight", typ: quant.F32, shape: []uint64{uint64(len(freqs))},
			load: func() ([]float32, error) { return freqs, nil }})
	} else if rs.kind != "" && rs.kind != "linear" && rs.kind != "default" {
		return nil, fmt.Errorf("rope_scaling type %q is not supported (linear, llama3 are)", rs.kind)
	}
	return out, nil
}

// useMoreBits is llama.cpp's choice of the layers that get more bits.
func useMoreBits(i, n int) bool { return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2 }

// fallback picks a type that fits rows of n values, as llama-quantize does
// for tensors whose rows are not whole blocks: Q4_K→Q5_0, Q6_K→Q8_0, then F16.
func fallback(t quant.Type, n int) quant.Type {
	if t.Fits(n) {
		return t
	}
	switch t {
	case quant.Q4_K:
		t = quant.Q5_0
	case quant.Q6_K:
		t = quant.Q8_0
	}
	if !t.Fits(n) {
		return quant.F16
	}
	return t
}

// sortedTensorOrder orders tensors as llama.cpp's converter writes them:
// token_embd, the layers in order, then output_norm and output.
func sortedTensorOrder(names []string) []string {
	key := func(n string) (int, int, string) {
		switch n {
		case "model.embed_tokens.weight":
			return 0, 0, n
		case "model.norm.weight":
			return 2, 0, n
		case "lm_head.weight":
			return 3, 0, n
		}
		if m := layerRe.FindStringSubmatch(n); m != nil {
			i, _ := strconv.Atoi(m[1])
			return 1, i, m[2]
		}
		return 4, 0, n
	}
	out := append([]string(nil), names...)
	less := func(a, b string) bool {
		a1, a2, a3 := key(a)
		b1, b2, b3 := key(b)
		if a1 != b1 {
			return a1 < b1
		}
		if a2 != b2 {
			return a2 < b2
		}
		return a3 < b3
	}
	for i := 1; i < len(out); i++ { // insertion sort: a few hundred names
		for j := i; j > 0 && less(out[j], out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// shapeOf returns a tensor's shape without loading it.
func shapeOf(src Source, name string) ([]int, error) {
	sh, ok := src.Shape(name)
	if !ok {
		return nil, fmt.Errorf("no tensor %q", name)
	}
	return sh, nil
}

func checkShape(c *Config, name string, shape []int) error {
	hd := c.headDim()
	want := map[string][]int{
		"model.embed_tokens.weight": {c.VocabSize, c.HiddenSize},
		"lm_head.weight":            {c.VocabSize, c.HiddenSize},
		"model.norm.weight":         {c.HiddenSize},
	}
	if m := layerRe.FindStringSubmatch(name); m != nil {
		want = map[string][]int{
			"self_attn.q_proj.weight": {c.NumHeads * hd, c.HiddenSize},
			"self_attn.k_proj.weight": {c.NumKVHeads * hd, c.HiddenSize},
			"self_attn.v_proj.weight": {c.NumKVHeads * hd, c.HiddenSize},
			"self_attn.o_proj.weight": {c.HiddenSize, c.NumHeads * hd},
			"self_attn.q_proj.bias":   {c.NumHeads * hd},
			"self_attn.k_proj.bias":   {c.NumKVHeads * hd},
			"self_attn.v_proj.bias":   {c.NumKVHeads * hd},
			"mlp.gate_proj.weight":    {c.IntermediateSize, c.HiddenSize},
			"mlp.up_proj.weight":      {c.IntermediateSize, c.HiddenSize},
			"mlp.down_proj.weight":    {c.HiddenSize, c.IntermediateSize},
		}
		name = m[2]
	}
	w, ok := want[name]
	if !ok {
		return nil
	}
	if fmt.Sprint(w) != fmt.Sprint(shape) {
		return fmt.Errorf("tensor %q has shape %v, config.json implies %v", name, shape, w)
	}
	return nil
}

// PermuteRoPE reorders the rows of a q_proj or k_proj weight (or bias) with
// nHead heads from Hugging Face's rotate-half layout (per head: first half,
// second half of the rotary pairs) to the interleaved layout (pairs
// adjacent) of llama.cpp's llama graph, as convert_hf_to_gguf.py's permute
// does: row h·d + 2j + t of the result is row h·d + t·d/2 + j of x.
func PermuteRoPE(x []float32, shape []int, nHead int) ([]float32, error) {
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
				dst := (h*d + 2*j + t) * cols
				src := (h*d + t*half + j) * cols
				copy(out[dst:dst+cols], x[src:src+cols])
			}
		}
	}
	return out, nil
}

// llama3RopeFactors computes the rope_freqs tensor of Llama-3.1-style RoPE
// scaling (one divisor per rotary frequency), as llama.cpp's converter does.
func llama3RopeFactors(c *Config, rs ropeScale) []float32 {
	hd := c.headDim()
	lowWave := rs.orig / rs.low
	highWave := rs.orig / rs.high
	out := make([]float32, hd/2)
	for i := range out {
		freq := 1 / math.Pow(c.RopeTheta, float64(2*i)/float64(hd))
		wave := 2 * math.Pi / freq
		switch {
		case wave < highWave:
			out[i] = 1
		case wave > lowWave:
			out[i] = float32(rs.factor)
		default:
			smooth := (rs.orig/wave - rs.low) / (rs.high - rs.low)
			out[i] = float32(1 / ((1-smooth)/rs.factor + smooth))
		}
	}
	return out
}
