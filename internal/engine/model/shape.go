package model

import (
	"fmt"
	"slices"
)

// Shape is a model's dimensions and how it is set up to train, without its
// weights: what the memory estimates (package train's for the CPU, package
// gpu's for a device) need. Every layer is set up alike, as the trainer and
// LoadAdapter do.
type Shape struct {
	// Cfg holds the dimensions (validated, defaults applied). Its
	// model_type qwen3 means per-head q/k RMSNorm, as loading does.
	Cfg Config
	// Biases lists the projections with a bias, in LinearNames order.
	Biases []string
	// Full: every base weight trains (EnableFullGrad).
	Full bool
	// NF4: every frozen projection is held in 4-bit NF4 (QuantizeNF4);
	// DoubleQuant: with 8-bit absmax scales.
	NF4, DoubleQuant bool
	// LoRA describes the adapters; Rank 0 means none.
	LoRA LoRAShape
}

// LoRAShape is the part of a LoRA setup that costs memory.
type LoRAShape struct {
	Rank int
	// Targets are short projection names in LinearNames order.
	Targets []string
	// Dropout: the adapters drop out their input (its mask is kept).
	Dropout bool
	// Frozen adapters are attached without gradients (evaluation).
	Frozen bool
}

// NewShape returns the shape of a model with config c set up for method
// (lora, qlora or full): lora and qlora attach adapters as l describes
// (Rank must be positive; Targets as ParseTargets takes them, all-linear
// when empty), qlora holds the frozen projections in NF4 (with
// doubleQuant, double-quantized). c is validated as ReadConfig does.
// Biases follow c.Biases.
func NewShape(c Config, method string, l LoRAConfig, doubleQuant bool) (Shape, error) {
	if err := c.validate(); err != nil {
		return Shape{}, err
	}
	s := Shape{Cfg: c, Biases: c.Biases()}
	switch method {
	case "full":
		s.Full = true
	case "lora", "qlora":
		s.NF4, s.DoubleQuant = method == "qlora", method == "qlora" && doubleQuant
		if l.Rank <= 0 {
			return Shape{}, fmt.Errorf("lora rank must be positive, got %d", l.Rank)
		}
		if l.Dropout < 0 || l.Dropout >= 1 {
			return Shape{}, fmt.Errorf("lora dropout must be in [0, 1), got %g", l.Dropout)
		}
		targets := l.Targets
		if len(targets) == 0 {
			targets = []string{"all-linear"}
		}
		t, err := ParseTargets(targets)
		if err != nil {
			return Shape{}, err
		}
		s.LoRA = LoRAShape{Rank: l.Rank, Targets: t, Dropout: l.Dropout > 0}
	default:
		return Shape{}, fmt.Errorf("method %q: want lora, qlora or full", method)
	}
	if doubleQuant && method != "qlora" {
		return Shape{}, fmt.Errorf("double_quant applies to method qlora only, not %s", method)
	}
	return s, nil
}

// Biases returns the projections that a checkpoint of this config carries
// biases on, in LinearNames order: q, k and v for qwen2; the attention
// projections with attention_bias and the MLP's with mlp_bias.
func (c *Config) Biases() []string {
	var out []string
	for _, t := range LinearNames {
		attn := t == "q" || t == "k" || t == "v" || t == "o"
		if (c.ModelType == "qwen2" && attn && t != "o") || (c.AttentionBias && attn) || (c.MLPBias && !attn) {
			out = append(out, t)
		}
	}
	return out
}

// Shape returns m's shape as it is set up now, read from its first layer
// (every layer is set up alike): the biases it loaded, whether it trains
// fully, holds NF4 projections, and its adapters.
func (m *Model) Shape() Shape {
	s := Shape{Cfg: m.Cfg}
	s.Cfg.TieWordEmbeddings = m.Head == m.Embed // a checkpoint may hold lm_head despite the flag
	if len(m.Layers) == 0 {
		return s
	}
	lins := m.Layers[0].Linears()
	for _, t := range LinearNames {
		l := lins[t]
		if l.B != nil {
			s.Biases = append(s.Biases, t)
		}
		if l.W.Grad != nil {
			s.Full = true
		}
		if l.Q != nil {
			s.NF4 = true
			s.DoubleQuant = l.Q.AbsmaxQ != nil
		}
		if a := l.LoRA; a != nil {
			s.LoRA.Rank = a.Rank
			s.LoRA.Targets = append(s.LoRA.Targets, t)
			s.LoRA.Dropout = s.LoRA.Dropout || a.Dropout > 0
			s.LoRA.Frozen = a.A.Grad == nil
		}
	}
	return s
}

// HasBias reports whether projection t (a short name) has a bias.
func (s *Shape) HasBias(t string) bool { return slices.Contains(s.Biases, t) }

// Dims returns the [out, in] size of projection t (a short name).
func (s *Shape) Dims(t string) (out, in int) {
	c := &s.Cfg
	D, I, qd, kd := c.HiddenSize, c.IntermediateSize, c.NumAttentionHeads*c.HeadDim, c.NumKeyValueHeads*c.HeadDim
	switch t {
	case "q":
		return qd, D
	case "k", "v":
		return kd, D
	case "o":
		return D, qd
	case "gate", "up":
		return I, D
	case "down":
		return D, I
	}
	panic("model: unknown projection " + t)
}

// QKNorm reports whether the layers have per-head q/k RMSNorm (Qwen3).
func (s *Shape) QKNorm() bool { return s.Cfg.ModelType == "qwen3" }

// NumParams returns the number of base weights, as Model.NumParams counts
// them for a model of this shape.
func (s *Shape) NumParams() int64 {
	c := &s.Cfg
	D, V := int64(c.HiddenSize), int64(c.VocabSize)
	n := V*D + D // embedding, final norm
	if !c.TieWordEmbeddings {
		n += V * D
	}
	layer := 2 * D
	if s.QKNorm() {
		layer += 2 * int64(c.HeadDim)
	}
	for _, t := range LinearNames {
		out, in := s.Dims(t)
		layer += int64(out) * int64(in)
		if s.HasBias(t) {
			layer += int64(out)
		}
	}
	return n + int64(c.NumHiddenLayers)*layer
}

// TrainableParams returns the number of weights that train: every base
// weight when Full, plus the adapters unless they are frozen.
func (s *Shape) TrainableParams() int64 {
	var n int64
	if s.Full {
		n = s.NumParams()
	}
	if s.LoRA.Rank > 0 && !s.LoRA.Frozen {
		for _, t := range s.LoRA.Targets {
			out, in := s.Dims(t)
			n += int64(s.Cfg.NumHiddenLayers) * int64(s.LoRA.Rank) * int64(out+in)
		}
	}
	return n
}
