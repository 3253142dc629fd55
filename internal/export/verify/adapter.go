package verify

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/whetstone/whetstone/internal/export/convert"
	"github.com/whetstone/whetstone/internal/export/gguf"
	"github.com/whetstone/whetstone/internal/export/peft"
	"github.com/whetstone/whetstone/internal/export/quant"
)

// AdapterParams name a written GGUF LoRA adapter and what it must hold.
type AdapterParams struct {
	// Path is the GGUF file; File its name in the report.
	Path, File string
	// BaseDir is the base model folder (its config.json gives the
	// architecture and head counts).
	BaseDir string
	// Adapter is the PEFT adapter the file was written from.
	Adapter *peft.Adapter
	// Type is the file's type: F32 or F16.
	Type convert.FileType
}

// AdapterCheck is the outcome of reading a GGUF LoRA adapter back.
type AdapterCheck struct {
	File string `json:"file"`
	Type string `json:"type"`
	// Tensors and Values are how many were compared.
	Tensors int `json:"tensors"`
	Values  int `json:"values"`
	// MaxAbsError is the largest |read − expected| over every value.
	MaxAbsError float64 `json:"max_abs_error"`
	Passed      bool    `json:"passed"`
	// Problems says what differs (at most maxProblems), empty when Passed.
	Problems []string `json:"problems,omitempty"`
}

// Error describes a failed check.
func (c *AdapterCheck) Error() string {
	return fmt.Sprintf("%s (%s): %s", c.File, c.Type, strings.Join(c.Problems, "; "))
}

const maxProblems = 10

// Adapter reads the GGUF LoRA adapter at p.Path with the GGUF reader and
// checks it against p.Adapter as llama.cpp will use it: the metadata
// (architecture, general.type=adapter, adapter.type=lora,
// adapter.lora.alpha), exactly one lora_a [r, in] and lora_b [out, r] per
// adapted module under its llama.cpp name with p.Type, and every value:
// lora_a equal to A, lora_b equal to B times the module's scale fold
// (scale·r/alpha) with the llama q/k rows permuted back, within the type's
// rounding (exact for f32; half an f16 ulp plus float32 rounding for
// f16). What differs is listed in Problems; the error is for a base model
// whose config.json cannot be read.
func Adapter(p *AdapterParams) (*AdapterCheck, error) {
	cfg, err := convert.LoadConfig(p.BaseDir)
	if err != nil {
		return nil, fmt.Errorf("check adapter: %w", err)
	}
	arch, _ := cfg.Arch()
	c := &AdapterCheck{File: p.File, Type: string(p.Type)}
	problem := func(format string, a ...any) {
		if len(c.Problems) < maxProblems {
			c.Problems = append(c.Problems, fmt.Sprintf(format, a...))
		}
	}
	defer func() { c.Passed = len(c.Problems) == 0 }()
	want := map[convert.FileType]quant.Type{convert.F32: quant.F32, convert.F16: quant.F16}[p.Type]
	if p.Type != convert.F32 && p.Type != convert.F16 {
		problem("type %q: an adapter is f32 or f16", p.Type)
		return c, nil
	}
	f, err := gguf.Open(p.Path)
	if err != nil {
		problem("not readable as GGUF: %v", err)
		return c, nil
	}
	defer f.Close()

	alpha := p.Adapter.Config.LoraAlpha
	for _, kv := range []struct {
		key  string
		want any
	}{{"general.architecture", arch}, {"general.type", "adapter"}, {"adapter.type", "lora"}} {
		if got, _ := f.String(kv.key); got != kv.want {
			problem("metadata %s is %q, want %q", kv.key, got, kv.want)
		}
	}
	if v, ok := f.Get("adapter.lora.alpha"); !ok {
		problem("metadata adapter.lora.alpha is missing")
	} else if got, _ := gguf.Float(v); got != float64(float32(alpha)) {
		problem("metadata adapter.lora.alpha is %v, want %v", got, alpha)
	}

	type expect struct {
		shape []uint64 // ggml order: row length first
		vals  []float32
		heads int // llama q/k lora_b: rows to permute back
		rows  int
	}
	exp := map[string]expect{}
	var order []string
	for _, l := range p.Adapter.Layers {
		g, layer, keep, err := convert.GGUFName(l.Module + ".weight")
		if err != nil || !keep || layer < 0 {
			problem("module %s has no llama.cpp per-layer tensor name", l.Module)
			continue
		}
		fix := l.Scale * float64(l.Rank) / alpha
		b := make([]float32, len(l.B))
		for i, v := range l.B {
			b[i] = float32(float64(v) * fix)
		}
		heads := 0
		if arch == "llama" {
			switch {
			case strings.HasSuffix(l.Module, "self_attn.q_proj"):
				heads = cfg.NumHeads
			case strings.HasSuffix(l.Module, "self_attn.k_proj"):
				heads = cmp.Or(cfg.NumKVHeads, cfg.NumHeads)
			}
		}
		exp[g+".lora_a"] = expect{shape: []uint64{uint64(l.In), uint64(l.Rank)}, vals: l.A}
		exp[g+".lora_b"] = expect{shape: []uint64{uint64(l.Rank), uint64(l.Out)}, vals: b, heads: heads, rows: l.Out}
		order = append(order, g+".lora_a", g+".lora_b")
	}
	for _, t := range f.Tensors {
		if _, ok := exp[t.Name]; !ok {
			problem("tensor %s is not in the adapter", t.Name)
		}
	}
	for _, name := range order {
		e := exp[name]
		t, ok := f.Tensor(name)
		if !ok {
			problem("tensor %s is missing", name)
			continue
		}
		if !slices.Equal(t.Shape, e.shape) {
			problem("tensor %s has shape %v, want %v (ggml order)", name, t.Shape, e.shape)
			continue
		}
		if t.Type != want {
			problem("tensor %s has type %v, want %v", name, t.Type, want)
			continue
		}
		x, _, err := f.Float32(name)
		if err != nil {
			problem("tensor %s: %v", name, err)
			continue
		}
		if e.heads > 0 {
			if x, err = convert.UnpermuteRoPE(x, []int{e.rows, int(e.shape[0])}, e.heads); err != nil {
				problem("tensor %s: %v", name, err)
				continue
			}
		}
		c.Tensors++
		bad, first := 0, -1
		for i, w := range e.vals {
			got, wf := float64(x[i]), float64(w)
			d := math.Abs(got - wf)
			if math.IsNaN(d) || math.IsInf(d, 0) {
				d = math.Inf(1)
			}
			c.MaxAbsError = max(c.MaxAbsError, d)
			if d > tolerance(p.Type, wf) {
				if bad == 0 {
					first = i
				}
				bad++
			}
		}
		c.Values += len(e.vals)
		if bad > 0 {
			problem("tensor %s: %d of %d values differ from the adapter beyond %s rounding (value %d reads %g, want %g)",
				name, bad, len(e.vals), p.Type, first, x[first], e.vals[first])
		}
	}
	if math.IsInf(c.MaxAbsError, 0) {
		c.MaxAbsError = math.MaxFloat32 // JSON has no infinity
	}
	return c, nil
}

// tolerance is how far a value written as t may read back from want: 0 for
// f32; for f16 half an ulp (2⁻¹¹ relative, 2⁻²⁵ among subnormals) plus the
// float32 rounding of the scale fold, with headroom.
func tolerance(t convert.FileType, want float64) float64 {
	if t == convert.F32 {
		return 0
	}
	return math.Abs(want)*0x1p-10 + 0x1p-24
}
