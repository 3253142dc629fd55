package model

import (
	"errors"
	"fmt"
	"slices"

	"github.com/whetstone/whetstone/internal/engine/nn"
	"github.com/whetstone/whetstone/internal/safetensors"
)

// Param is one named weight. Grad is nil while the weight is frozen.
type Param struct {
	Name  string
	Shape []int
	Data  []float32
	Grad  []float32
}

// Linear is a projection y = x·Wᵀ + b with an optional LoRA adapter.
type Linear struct {
	W, B *Param // B (the bias) may be nil
	// Wbf, when set, is W in bfloat16, used for the products of a frozen W.
	Wbf []uint16
	// Q, when set, is the frozen W in 4-bit NF4 (QLoRA); W.Data is then nil
	// and products dequantize Q on the fly (QBF16: into bfloat16).
	Q       *nn.NF4
	QBF16   bool
	In, Out int
	LoRA    *LoRA
}

// Layer is one decoder block.
type Layer struct {
	AttnNorm, MLPNorm *Param
	QNorm, KNorm      *Param // Qwen3 only
	Q, K, V, O        Linear
	Gate, Up, Down    Linear
}

// Model is a loaded decoder.
type Model struct {
	Cfg    Config
	Embed  *Param
	Layers []Layer
	Norm   *Param
	Head   *Param // == Embed when tied
	Rope   *nn.Rope
	Dir    string
	// HeadBF16 is Head in bfloat16 when UseBF16 is on.
	HeadBF16 []uint16

	ws *workspace
	fz []layerFused // concatenated weights of fused projections (fuse.go)
	// noFuse computes every projection on its own (tests compare).
	noFuse bool
	// bf16 is UseBF16's setting: attention's products run in bfloat16 too.
	bf16 bool
}

// Linears returns the layer's projections by PEFT short name.
func (l *Layer) Linears() map[string]*Linear {
	return map[string]*Linear{"q": &l.Q, "k": &l.K, "v": &l.V, "o": &l.O, "gate": &l.Gate, "up": &l.Up, "down": &l.Down}
}

// LinearNames is the fixed order of projections in a layer.
var LinearNames = []string{"q", "k", "v", "o", "gate", "up", "down"}

func hfName(i int, t string) string {
	if t == "q" || t == "k" || t == "v" || t == "o" {
		return fmt.Sprintf("model.layers.%d.self_attn.%s_proj", i, t)
	}
	return fmt.Sprintf("model.layers.%d.mlp.%s_proj", i, t)
}

// Load reads config.json and the safetensors weights (model.safetensors or a
// sharded index; F32, BF16 or F16) of the Hugging Face folder dir. Weights are
// held as float32.
func Load(dir string) (*Model, error) { return load(dir, false, false) }

// LoadNF4 is Load with every projection weight quantized to NF4 as it is
// read (see QuantizeNF4), so the float32 copies of the projections never
// coexist: the base for QLoRA.
// With doubleQuant the absmax scales are double-quantized to 8 bits.
func LoadNF4(dir string, doubleQuant bool) (*Model, error) { return load(dir, true, doubleQuant) }

func load(dir string, nf4, doubleQuant bool) (*Model, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	f, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", dir, err)
	}
	defer f.Close()
	return build(cfg, stTensors{f}, dir, "config.json", nf4, doubleQuant)
}

// Tensors gives a model's weights by Hugging Face name
// (model.layers.0.self_attn.q_proj.weight, ...) as float32 with their
// PyTorch shapes: a safetensors folder, or a GGUF file read back.
type Tensors interface {
	// Shape returns a tensor's shape without loading it; false if absent.
	Shape(name string) ([]int, bool)
	Float32(name string) ([]float32, []int, error)
}

type stTensors struct{ f *safetensors.File }

func (s stTensors) Shape(name string) ([]int, bool) {
	i, ok := s.f.Info(name)
	return i.Shape, ok
}
func (s stTensors) Float32(name string) ([]float32, []int, error) { return s.f.Float32(name) }

// FromTensors builds a model from cfg (defaults filled and checked as
// ReadConfig does) and weights held elsewhere, such as a GGUF file read back
// and dequantized. origin names the source in errors and becomes Model.Dir.
func FromTensors(cfg Config, src Tensors, origin string) (*Model, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("load model %s: %w", origin, err)
	}
	return build(&cfg, src, origin, "config", false, false)
}

func build(cfg *Config, f Tensors, dir, cfgName string, nf4, doubleQuant bool) (*Model, error) {
	var err error
	if err := cfg.Sizes().CheckShapes(f.Shape); err != nil {
		return nil, fmt.Errorf("load model %s: %s: %w", dir, cfgName, err)
	}
	m := &Model{Cfg: *cfg, Dir: dir}
	get := func(name string, shape ...int) (*Param, error) {
		d, sh, err := f.Float32(name)
		if err != nil {
			return nil, fmt.Errorf("load model %s: %w", dir, err)
		}
		if !slices.Equal(sh, shape) {
			return nil, fmt.Errorf("load model %s: tensor %s has shape %v, %s implies %v", dir, name, sh, cfgName, shape)
		}
		return &Param{Name: name, Shape: sh, Data: d}, nil
	}
	opt := func(name string, shape ...int) (*Param, error) {
		if _, ok := f.Shape(name); !ok {
			return nil, nil
		}
		return get(name, shape...)
	}
	c := cfg
	D, I, hd := c.HiddenSize, c.IntermediateSize, c.HeadDim
	qd, kd := c.NumAttentionHeads*hd, c.NumKeyValueHeads*hd
	if m.Embed, err = get("model.embed_tokens.weight", c.VocabSize, D); err != nil {
		return nil, err
	}
	if m.Norm, err = get("model.norm.weight", D); err != nil {
		return nil, err
	}
	if m.Head, err = opt("lm_head.weight", c.VocabSize, D); err != nil {
		return nil, err
	}
	if m.Head == nil {
		if !c.TieWordEmbeddings {
			return nil, fmt.Errorf("load model %s: no lm_head.weight and tie_word_embeddings is false", dir)
		}
		m.Head = m.Embed
	}
	dims := map[string][2]int{"q": {qd, D}, "k": {kd, D}, "v": {kd, D}, "o": {D, qd}, "gate": {I, D}, "up": {I, D}, "down": {D, I}}
	m.Layers = make([]Layer, c.NumHiddenLayers)
	for i := range m.Layers {
		L := &m.Layers[i]
		p := fmt.Sprintf("model.layers.%d.", i)
		if L.AttnNorm, err = get(p+"input_layernorm.weight", D); err != nil {
			return nil, err
		}
		if L.MLPNorm, err = get(p+"post_attention_layernorm.weight", D); err != nil {
			return nil, err
		}
		if c.ModelType == "qwen3" {
			if L.QNorm, err = get(p+"self_attn.q_norm.weight", hd); err != nil {
				return nil, err
			}
			if L.KNorm, err = get(p+"self_attn.k_norm.weight", hd); err != nil {
				return nil, err
			}
		}
		for t, lin := range L.Linears() {
			od := dims[t]
			n := hfName(i, t)
			lin.Out, lin.In = od[0], od[1]
			if lin.W, err = get(n+".weight", od[0], od[1]); err != nil {
				return nil, err
			}
			if nf4 {
				if lin.Q, err = nn.QuantizeNF4(lin.W.Data, lin.Out, lin.In); err != nil {
					return nil, fmt.Errorf("load model %s: quantize %s: %w", dir, lin.W.Name, err)
				}
				if doubleQuant {
					lin.Q.DoubleQuantize()
				}
				lin.W.Data = nil
			}
			if lin.B, err = opt(n+".bias", od[0]); err != nil {
				return nil, err
			}
		}
	}
	m.Rope = nn.NewRope(hd, c.MaxPositionEmbeddings, nn.InvFreq(hd, c.RopeTheta, c.RopeScaling))
	return m, nil
}

// Params returns every base weight, in a fixed order (embedding, layers,
// final norm, untied head).
func (m *Model) Params() []*Param {
	ps := []*Param{m.Embed}
	for i := range m.Layers {
		L := &m.Layers[i]
		ps = append(ps, L.AttnNorm, L.MLPNorm)
		if L.QNorm != nil {
			ps = append(ps, L.QNorm, L.KNorm)
		}
		lins := L.Linears()
		for _, t := range LinearNames {
			ps = append(ps, lins[t].W)
			if lins[t].B != nil {
				ps = append(ps, lins[t].B)
			}
		}
	}
	ps = append(ps, m.Norm)
	if m.Head != m.Embed {
		ps = append(ps, m.Head)
	}
	return ps
}

// NumParams returns the number of base weights (quantized ones included).
func (m *Model) NumParams() int {
	n := 0
	for _, p := range m.Params() {
		k := 1
		for _, d := range p.Shape {
			k *= d
		}
		n += k
	}
	return n
}

// QuantizeNF4 stores the frozen weight of every projection (q, k, v, o,
// gate, up, down of every layer; not the embedding, head, norms or biases)
// in 4-bit NF4 and drops its float32 copy, as QLoRA does; with doubleQuant
// the absmax scales are double-quantized to 8 bits (also on weights already
// in NF4). Projections whose weight trains (full fine-tuning) are left
// alone. It returns the number of weights newly quantized. Call it before
// UseBF16.
func (m *Model) QuantizeNF4(doubleQuant bool) (int, error) {
	n := 0
	for i := range m.Layers {
		for _, t := range LinearNames {
			l := m.Layers[i].Linears()[t]
			if l.Q != nil && doubleQuant {
				l.Q.DoubleQuantize()
			}
			if l.Q != nil || l.W.Grad != nil {
				continue
			}
			q, err := nn.QuantizeNF4(l.W.Data, l.Out, l.In)
			if err != nil {
				return n, fmt.Errorf("quantize %s: %w", l.W.Name, err)
			}
			if doubleQuant {
				q.DoubleQuantize()
			}
			l.Q, l.W.Data, l.Wbf = q, nil, nil
			n += l.Out * l.In
		}
	}
	return n, nil
}

// Quantized reports whether any projection is stored in NF4.
func (m *Model) Quantized() bool {
	for i := range m.Layers {
		for _, l := range m.Layers[i].Linears() {
			if l.Q != nil {
				return true
			}
		}
	}
	return false
}

// EnableFullGrad allocates gradients for every base weight (full
// fine-tuning).
func (m *Model) EnableFullGrad() {
	if m.Quantized() {
		panic("model: EnableFullGrad on NF4-quantized weights")
	}
	for _, p := range m.Params() {
		if p.Grad == nil {
			p.Grad = make([]float32, len(p.Data))
		}
	}
}

// Trainable returns the weights that have gradients: LoRA adapters, or the
// base weights after EnableFullGrad.
func (m *Model) Trainable() []*Param {
	var ps []*Param
	for _, p := range m.Params() {
		if p.Grad != nil {
			ps = append(ps, p)
		}
	}
	for i := range m.Layers {
		lins := m.Layers[i].Linears()
		for _, t := range LinearNames {
			if l := lins[t].LoRA; l != nil {
				ps = append(ps, l.A, l.B)
			}
		}
	}
	return ps
}

// ZeroGrad clears every trainable gradient.
func (m *Model) ZeroGrad() {
	for _, p := range m.Trainable() {
		clear(p.Grad)
	}
}

var errTooLong = errors.New("sequence longer than max_position_embeddings")

// UseBF16 switches the products with frozen weights (every projection and
// the output head without gradients) to bfloat16 operands with float32
// accumulation, like PyTorch's bf16 autocast, or back to float32; the
// training pass's attention products follow it (nn.AttnShape.BF16). Trainable
// weights and LoRA adapters stay float32. Call it after deciding what
// trains (AddLoRA/EnableFullGrad).
func (m *Model) UseBF16(on bool) {
	m.bf16 = on
	m.fz = make([]layerFused, len(m.Layers))
	for i := range m.Layers {
		L := &m.Layers[i]
		for _, l := range L.Linears() {
			l.Wbf = nil
			l.QBF16 = on && l.Q != nil
		}
		if !on {
			continue
		}
		// The projections the training pass fuses get their bf16 weights
		// as views of one concatenated copy (see fuse.go).
		if qkv := []*Linear{&L.Q, &L.K, &L.V}; L.QNorm == nil && m.groupable(qkv) && qkv[0].Q == nil {
			m.fz[i].qkv.fuseBF16(qkv, true)
		}
		if gu := []*Linear{&L.Gate, &L.Up}; m.groupable(gu) && gu[0].Q == nil {
			m.fz[i].gu.fuseBF16(gu, true)
		}
		for _, l := range L.Linears() {
			if l.Wbf == nil && l.W.Grad == nil && l.Q == nil {
				l.Wbf = nn.ToBF16(l.W.Data)
			}
		}
	}
	m.HeadBF16 = nil
	if on && m.Head.Grad == nil {
		m.HeadBF16 = nn.ToBF16(m.Head.Data)
	}
}
