package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/whetstone/whetstone/internal/safetensors"
)

// LoRAConfig describes a LoRA adapter (PEFT's LoraConfig subset).
type LoRAConfig struct {
	Rank    int     `json:"r"`          // Defaults to 8.
	Alpha   float64 `json:"lora_alpha"` // Defaults to 2·Rank.
	Dropout float64 `json:"lora_dropout"`
	// Targets are short projection names (q, k, v, o, gate, up, down).
	Targets []string `json:"target_modules"`
	// RSLoRA scales by Alpha/√Rank instead of Alpha/Rank.
	RSLoRA bool `json:"use_rslora"`
}

// Scale is the factor applied to B·A.
func (c LoRAConfig) Scale() float64 {
	if c.RSLoRA {
		return c.Alpha / math.Sqrt(float64(c.Rank))
	}
	return c.Alpha / float64(c.Rank)
}

// ParseTargets turns user target names ("all-linear", "q", "q_proj",
// "self_attn.q_proj", ...) into short names in LinearNames order.
func ParseTargets(names []string) ([]string, error) {
	set := map[string]bool{}
	for _, n := range names {
		n = strings.TrimSpace(strings.ToLower(n))
		if n == "all-linear" || n == "all" {
			for _, t := range LinearNames {
				set[t] = true
			}
			continue
		}
		n = n[strings.LastIndex(n, ".")+1:]
		n = strings.TrimSuffix(n, "_proj")
		if !slices.Contains(LinearNames, n) {
			return nil, fmt.Errorf("lora target %q: want all-linear or some of q, k, v, o, gate, up, down", n)
		}
		set[n] = true
	}
	var out []string
	for _, t := range LinearNames {
		if set[t] {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("lora targets: none given")
	}
	return out, nil
}

// LoRA is one adapter on a Linear: y += Scale·B·(A·dropout(x)),
// A [Rank, In], B [Out, Rank].
type LoRA struct {
	A, B    *Param
	Rank    int
	Scale   float32
	Dropout float32
	// Off skips the adapter (the base alone computes), as PEFT's
	// disable_adapter: DPO's reference model for LoRA runs.
	Off bool
}

// SetLoRAEnabled switches every attached adapter on or off (see LoRA.Off).
func (m *Model) SetLoRAEnabled(on bool) {
	for i := range m.Layers {
		for _, l := range m.Layers[i].Linears() {
			if l.LoRA != nil {
				l.LoRA.Off = !on
			}
		}
	}
}

// ShareBase returns a model that shares m's frozen base weights (no copy)
// but has its own adapter slots and workspace: attach a different adapter
// to it (LoadAdapter) to serve several adapters on one base in memory.
// The base must not be trained through either model while both are used.
func (m *Model) ShareBase() *Model {
	c := *m
	c.ws = nil
	c.fz = slices.Clone(m.fz) // the same concatenated weights, own cache entries
	c.Layers = make([]Layer, len(m.Layers))
	for i, L := range m.Layers {
		c.Layers[i] = L
		for _, l := range c.Layers[i].Linears() {
			l.LoRA = nil
		}
	}
	return &c
}

// CloneFrozen returns a deep copy of m's base weights without gradients or
// adapters: the frozen reference model of full-weight DPO.
func (m *Model) CloneFrozen() *Model {
	c := m.ShareBase()
	cp := func(p *Param) *Param {
		if p == nil {
			return nil
		}
		return &Param{Name: p.Name, Shape: p.Shape, Data: slices.Clone(p.Data)}
	}
	c.Embed, c.Norm = cp(m.Embed), cp(m.Norm)
	if m.Head == m.Embed {
		c.Head = c.Embed
	} else {
		c.Head = cp(m.Head)
	}
	c.HeadBF16 = nil
	for i := range c.Layers {
		L := &c.Layers[i]
		L.AttnNorm, L.MLPNorm, L.QNorm, L.KNorm = cp(L.AttnNorm), cp(L.MLPNorm), cp(L.QNorm), cp(L.KNorm)
		for _, l := range L.Linears() {
			l.W, l.B, l.Wbf = cp(l.W), cp(l.B), nil
		}
	}
	return c
}

func peftName(i int, t string) string { return "base_model.model." + hfName(i, t) }

// AddLoRA attaches fresh adapters to the target projections of every layer,
// initialised as PEFT does (A Kaiming-uniform with a=√5, B zero) from seed.
// The base weights stay frozen.
func (m *Model) AddLoRA(c LoRAConfig, seed uint64) error {
	if c.Rank <= 0 {
		return fmt.Errorf("lora rank must be positive, got %d", c.Rank)
	}
	if c.Dropout < 0 || c.Dropout >= 1 {
		return fmt.Errorf("lora dropout must be in [0, 1), got %g", c.Dropout)
	}
	targets, err := ParseTargets(c.Targets)
	if err != nil {
		return err
	}
	m.ws = nil
	rng := rand.New(rand.NewPCG(seed, 0x10a))
	for i := range m.Layers {
		lins := m.Layers[i].Linears()
		for _, t := range targets {
			lin := lins[t]
			n := peftName(i, t)
			l := &LoRA{Rank: c.Rank, Scale: float32(c.Scale()), Dropout: float32(c.Dropout),
				A: &Param{Name: n + ".lora_A.weight", Shape: []int{c.Rank, lin.In}, Data: make([]float32, c.Rank*lin.In), Grad: make([]float32, c.Rank*lin.In)},
				B: &Param{Name: n + ".lora_B.weight", Shape: []int{lin.Out, c.Rank}, Data: make([]float32, lin.Out*c.Rank), Grad: make([]float32, lin.Out*c.Rank)}}
			bound := 1 / math.Sqrt(float64(lin.In))
			for j := range l.A.Data {
				l.A.Data[j] = float32((rng.Float64()*2 - 1) * bound)
			}
			lin.LoRA = l
		}
	}
	return nil
}

// RemoveLoRA detaches every adapter.
func (m *Model) RemoveLoRA() {
	m.ws = nil
	for i := range m.Layers {
		for _, l := range m.Layers[i].Linears() {
			l.LoRA = nil
		}
	}
}

// LoRAParams returns the adapter weights in layer, projection, A-then-B order.
func (m *Model) LoRAParams() []*Param {
	var ps []*Param
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

// adapterConfig is PEFT's adapter_config.json.
type adapterConfig struct {
	PeftType            string   `json:"peft_type"`
	TaskType            string   `json:"task_type"`
	R                   int      `json:"r"`
	LoraAlpha           float64  `json:"lora_alpha"`
	LoraDropout         float64  `json:"lora_dropout"`
	TargetModules       []string `json:"target_modules"`
	UseRSLoRA           bool     `json:"use_rslora"`
	Bias                string   `json:"bias"`
	FanInFanOut         bool     `json:"fan_in_fan_out"`
	InferenceMode       bool     `json:"inference_mode"`
	BaseModelNameOrPath string   `json:"base_model_name_or_path"`
	InitLoraWeights     bool     `json:"init_lora_weights"`
}

// SaveAdapter writes the adapters as a PEFT folder: adapter_model.safetensors
// (F32) and adapter_config.json naming baseModel.
func (m *Model) SaveAdapter(dir string, c LoRAConfig, baseModel string) error {
	ps := m.LoRAParams()
	if len(ps) == 0 {
		return fmt.Errorf("save adapter: model has no LoRA adapters")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save adapter: %w", err)
	}
	ts := make([]safetensors.Tensor, len(ps))
	for i, p := range ps {
		ts[i] = safetensors.F32Tensor(p.Name, p.Shape, p.Data)
	}
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, ts, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("save adapter: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, "adapter_model.safetensors"), buf.Bytes()); err != nil {
		return err
	}
	targets, _ := ParseTargets(c.Targets)
	mods := make([]string, len(targets))
	for i, t := range targets {
		mods[i] = t + "_proj"
	}
	ac := adapterConfig{PeftType: "LORA", TaskType: "CAUSAL_LM", R: c.Rank, LoraAlpha: c.Alpha, LoraDropout: c.Dropout,
		TargetModules: mods, UseRSLoRA: c.RSLoRA, Bias: "none", InferenceMode: true, BaseModelNameOrPath: baseModel, InitLoraWeights: true}
	b, _ := json.MarshalIndent(ac, "", "  ")
	return writeFileAtomic(filepath.Join(dir, "adapter_config.json"), append(b, '\n'))
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// LoadAdapter reads a PEFT LoRA folder (adapter_config.json +
// adapter_model.safetensors) and attaches it to m, replacing any adapters.
// Tensor names may carry PEFT's ".default" adapter suffix.
func (m *Model) LoadAdapter(dir string) (LoRAConfig, error) {
	var c LoRAConfig
	path := filepath.Join(dir, "adapter_config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("load adapter: %w", err)
	}
	var ac adapterConfig
	if err := json.Unmarshal(b, &ac); err != nil {
		return c, fmt.Errorf("parse %s: %w", path, err)
	}
	if ac.PeftType != "" && ac.PeftType != "LORA" {
		return c, fmt.Errorf("%s: field peft_type %q: only LORA adapters are supported", path, ac.PeftType)
	}
	if ac.R <= 0 {
		return c, fmt.Errorf("%s: field r: must be positive", path)
	}
	targets, err := ParseTargets(ac.TargetModules)
	if err != nil {
		return c, fmt.Errorf("%s: field target_modules: %w", path, err)
	}
	c = LoRAConfig{Rank: ac.R, Alpha: ac.LoraAlpha, Dropout: ac.LoraDropout, Targets: targets, RSLoRA: ac.UseRSLoRA}
	f, err := safetensors.Open(filepath.Join(dir, "adapter_model.safetensors"))
	if err != nil {
		return c, fmt.Errorf("load adapter: %w", err)
	}
	defer f.Close()
	names := map[string]string{}
	for _, n := range f.Names() {
		names[strings.Replace(n, ".default.weight", ".weight", 1)] = n
	}
	m.RemoveLoRA()
	for i := range m.Layers {
		lins := m.Layers[i].Linears()
		for _, t := range targets {
			lin := lins[t]
			base := peftName(i, t)
			l := &LoRA{Rank: c.Rank, Scale: float32(c.Scale()), Dropout: float32(c.Dropout)}
			for _, ab := range []struct {
				p     **Param
				name  string
				shape []int
			}{{&l.A, base + ".lora_A.weight", []int{c.Rank, lin.In}}, {&l.B, base + ".lora_B.weight", []int{lin.Out, c.Rank}}} {
				src, ok := names[ab.name]
				if !ok {
					m.RemoveLoRA()
					return c, fmt.Errorf("load adapter %s: tensor %s missing", dir, ab.name)
				}
				d, sh, err := f.Float32(src)
				if err != nil {
					m.RemoveLoRA()
					return c, fmt.Errorf("load adapter %s: %w", dir, err)
				}
				if !slices.Equal(sh, ab.shape) {
					m.RemoveLoRA()
					return c, fmt.Errorf("load adapter %s: tensor %s has shape %v, want %v", dir, ab.name, sh, ab.shape)
				}
				*ab.p = &Param{Name: ab.name, Shape: sh, Data: d}
			}
			lin.LoRA = l
		}
	}
	m.ws = nil
	return c, nil
}

// EnableLoRAGrad allocates gradients for loaded adapters so they can be
// trained further.
func (m *Model) EnableLoRAGrad() {
	for _, p := range m.LoRAParams() {
		if p.Grad == nil {
			p.Grad = make([]float32, len(p.Data))
		}
	}
}
