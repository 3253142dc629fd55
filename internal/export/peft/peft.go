// Package peft reads and writes LoRA adapters in Hugging Face PEFT's layout
// (adapter_model.safetensors + adapter_config.json) and merges them into
// base weights: W' = W + s·B·A with s = lora_alpha/r, or lora_alpha/√r
// with use_rslora (per-module rank_pattern and alpha_pattern respected).
//
// Tensor names are PEFT's:
//
//	base_model.model.model.layers.{i}.self_attn.{q,k,v,o}_proj.lora_A.weight  [r, in]
//	base_model.model.model.layers.{i}.mlp.{gate,up,down}_proj.lora_B.weight   [out, r]
package peft

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/whetstone/whetstone/internal/safetensors"
)

// File names of a PEFT adapter folder.
const (
	WeightsFile = "adapter_model.safetensors"
	ConfigFile  = "adapter_config.json"
)

// Config is adapter_config.json for a LoRA adapter, with the keys PEFT's
// LoraConfig writes.
type Config struct {
	AlphaPattern        map[string]float64 `json:"alpha_pattern"`
	AutoMapping         any                `json:"auto_mapping"`
	BaseModelNameOrPath string             `json:"base_model_name_or_path"`
	Bias                string             `json:"bias"`
	FanInFanOut         bool               `json:"fan_in_fan_out"`
	InferenceMode       bool               `json:"inference_mode"`
	InitLoraWeights     bool               `json:"init_lora_weights"`
	LayersPattern       any                `json:"layers_pattern"`
	LayersToTransform   any                `json:"layers_to_transform"`
	LoraAlpha           float64            `json:"lora_alpha"`
	LoraDropout         float64            `json:"lora_dropout"`
	ModulesToSave       []string           `json:"modules_to_save"`
	PeftType            string             `json:"peft_type"`
	R                   int                `json:"r"`
	RankPattern         map[string]int     `json:"rank_pattern"`
	Revision            any                `json:"revision"`
	TargetModules       []string           `json:"target_modules"`
	TaskType            string             `json:"task_type"`
	UseDora             bool               `json:"use_dora"`
	UseRSLoRA           bool               `json:"use_rslora"`
}

// NewConfig returns a Config with PEFT's defaults for a causal-LM LoRA.
func NewConfig(base string, r int, alpha float64, targets []string) Config {
	return Config{
		AlphaPattern: map[string]float64{}, BaseModelNameOrPath: base, Bias: "none", InferenceMode: true,
		InitLoraWeights: true, LoraAlpha: alpha, PeftType: "LORA", R: r, RankPattern: map[string]int{},
		TargetModules: targets, TaskType: "CAUSAL_LM",
	}
}

// Layer is the LoRA pair of one module.
type Layer struct {
	// Module is the base model's module path, e.g.
	// "model.layers.0.self_attn.q_proj"; its weight is Module+".weight".
	Module string
	A      []float32 // [Rank, In]
	B      []float32 // [Out, Rank]
	Rank   int
	In     int
	Out    int
	// Scale multiplies B·A (alpha/r or alpha/√r).
	Scale float64
	// Alpha is the module's lora_alpha.
	Alpha float64
}

// Adapter is a loaded LoRA adapter.
type Adapter struct {
	Config Config
	Layers []*Layer // sorted by Module
}

// Layer returns the LoRA pair of a module.
func (a *Adapter) Layer(module string) (*Layer, bool) {
	i := sort.Search(len(a.Layers), func(i int) bool { return a.Layers[i].Module >= module })
	if i < len(a.Layers) && a.Layers[i].Module == module {
		return a.Layers[i], true
	}
	return nil, false
}

var nameRe = regexp.MustCompile(`^base_model\.model\.(.+)\.lora_([AB])(?:\.default)?\.weight$`)

// Read loads the PEFT LoRA adapter in dir.
func Read(dir string) (*Adapter, error) {
	cpath := filepath.Join(dir, ConfigFile)
	b, err := os.ReadFile(cpath)
	if err != nil {
		return nil, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", cpath, err)
	}
	// target_modules may be a list or a single regex string.
	if tm, ok := raw["target_modules"]; ok && len(tm) > 0 && tm[0] == '"' {
		var s string
		json.Unmarshal(tm, &s) //nolint:errcheck // checked by the decode below
		raw["target_modules"], _ = json.Marshal([]string{s})
	}
	b, _ = json.Marshal(raw)
	var cfg Config
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", cpath, err)
	}
	if cfg.PeftType != "LORA" {
		return nil, fmt.Errorf("%s: peft_type %q is not supported (LORA is)", cpath, cfg.PeftType)
	}
	if cfg.UseDora {
		return nil, fmt.Errorf("%s: use_dora adapters are not supported", cpath)
	}
	if cfg.R <= 0 {
		return nil, fmt.Errorf("%s: r must be positive, got %d", cpath, cfg.R)
	}
	if cfg.FanInFanOut {
		return nil, fmt.Errorf("%s: fan_in_fan_out adapters (GPT-2 Conv1D) are not supported", cpath)
	}
	if len(cfg.ModulesToSave) > 0 {
		return nil, fmt.Errorf("%s: modules_to_save %v are not supported", cpath, cfg.ModulesToSave)
	}
	wpath := filepath.Join(dir, WeightsFile)
	st, err := safetensors.Open(wpath)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	a := &Adapter{Config: cfg}
	byModule := map[string]*Layer{}
	for _, name := range st.Names() {
		m := nameRe.FindStringSubmatch(name)
		if m == nil {
			return nil, fmt.Errorf("%s: tensor %q is not a PEFT LoRA weight (base_model.model.<module>.lora_A/B.weight)", wpath, name)
		}
		x, shape, err := st.Float32(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", wpath, err)
		}
		if len(shape) != 2 {
			return nil, fmt.Errorf("%s: tensor %q has shape %v, want 2 dimensions", wpath, name, shape)
		}
		l := byModule[m[1]]
		if l == nil {
			l = &Layer{Module: m[1]}
			byModule[m[1]] = l
		}
		if m[2] == "A" {
			l.A, l.Rank, l.In = x, shape[0], shape[1]
		} else {
			l.B, l.Out = x, shape[0]
			if l.Rank != 0 && shape[1] != l.Rank {
				return nil, fmt.Errorf("%s: %s lora_B has rank %d, lora_A %d", wpath, m[1], shape[1], l.Rank)
			}
			l.Rank = shape[1]
		}
	}
	for _, l := range byModule {
		if l.A == nil || l.B == nil {
			return nil, fmt.Errorf("%s: module %s has only one of lora_A and lora_B", wpath, l.Module)
		}
		if len(l.A) != l.Rank*l.In || len(l.B) != l.Out*l.Rank {
			return nil, fmt.Errorf("%s: module %s: lora_A and lora_B ranks differ", wpath, l.Module)
		}
		r, alpha := cfg.R, cfg.LoraAlpha
		for pat, v := range cfg.RankPattern {
			if matchPattern(pat, l.Module) {
				r = v
			}
		}
		for pat, v := range cfg.AlphaPattern {
			if matchPattern(pat, l.Module) {
				alpha = v
			}
		}
		if r != l.Rank {
			return nil, fmt.Errorf("%s: module %s has rank %d, adapter_config.json says %d", wpath, l.Module, l.Rank, r)
		}
		l.Alpha = alpha
		if cfg.UseRSLoRA {
			l.Scale = alpha / math.Sqrt(float64(r))
		} else {
			l.Scale = alpha / float64(r)
		}
		a.Layers = append(a.Layers, l)
	}
	if len(a.Layers) == 0 {
		return nil, fmt.Errorf("%s: no LoRA tensors", wpath)
	}
	sort.Slice(a.Layers, func(i, j int) bool { return a.Layers[i].Module < a.Layers[j].Module })
	return a, nil
}

// matchPattern is PEFT's rank_pattern/alpha_pattern key match: the key
// matches a module whose path ends with it (at a dot boundary).
func matchPattern(pat, module string) bool {
	return module == pat || strings.HasSuffix(module, "."+pat)
}

// Write writes the adapter to dir in PEFT layout (F32 tensors, safetensors
// metadata {"format": "pt"} as PEFT writes it).
func Write(dir string, a *Adapter) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var ts []safetensors.Tensor
	for _, l := range a.Layers {
		ts = append(ts,
			safetensors.F32Tensor("base_model.model."+l.Module+".lora_A.weight", []int{l.Rank, l.In}, l.A),
			safetensors.F32Tensor("base_model.model."+l.Module+".lora_B.weight", []int{l.Out, l.Rank}, l.B))
	}
	f, err := os.Create(filepath.Join(dir, WeightsFile))
	if err != nil {
		return err
	}
	if err := safetensors.Write(f, ts, map[string]string{"format": "pt"}); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", WeightsFile, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	cfg := a.Config
	if cfg.AlphaPattern == nil {
		cfg.AlphaPattern = map[string]float64{}
	}
	if cfg.RankPattern == nil {
		cfg.RankPattern = map[string]int{}
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ConfigFile), append(b, '\n'), 0o644)
}

// Delta returns s·B·A, the [Out, In] update of the module's weight, in
// float64 accumulation rounded to float32.
func (l *Layer) Delta() []float32 {
	d := make([]float32, l.Out*l.In)
	for o := 0; o < l.Out; o++ {
		row := d[o*l.In : (o+1)*l.In]
		acc := make([]float64, l.In)
		for k := 0; k < l.Rank; k++ {
			b := float64(l.B[o*l.Rank+k])
			a := l.A[k*l.In : (k+1)*l.In]
			for i, v := range a {
				acc[i] += b * float64(v)
			}
		}
		for i := range row {
			row[i] = float32(acc[i] * l.Scale)
		}
	}
	return d
}
