package peft

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/whetstone/whetstone/internal/safetensors"
)

const example = "testdata/stories260K-lora" // written by torch_llama.py lora-grad --save-adapter

func headerOf(t *testing.T, path string) map[string][]int {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]int{}
	for _, n := range f.Names() {
		info, _ := f.Info(n)
		out[n] = info.Shape
	}
	return out
}

func TestReadExample(t *testing.T) {
	t.Parallel()
	a, err := Read(example)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Layers) != 5*7 {
		t.Fatalf("%d layers, want 35", len(a.Layers))
	}
	l, ok := a.Layer("model.layers.2.mlp.down_proj")
	if !ok {
		t.Fatal("no down_proj of layer 2")
	}
	if l.Rank != 4 || l.In != 172 || l.Out != 64 || l.Scale != 16 {
		t.Errorf("down_proj rank %d in %d out %d scale %v", l.Rank, l.In, l.Out, l.Scale)
	}
}

// TestWriteMatchesPEFT writes an adapter and checks file names, tensor names
// and shapes, and adapter_config.json keys against the PEFT-layout example.
func TestWriteMatchesPEFT(t *testing.T) {
	t.Parallel()
	a, err := Read(example)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Write(dir, a); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(headerOf(t, filepath.Join(example, WeightsFile)), headerOf(t, filepath.Join(dir, WeightsFile))); diff != "" {
		t.Errorf("tensors (-example +written):\n%s", diff)
	}
	var want, got map[string]any
	for p, v := range map[string]*map[string]any{filepath.Join(example, ConfigFile): &want, filepath.Join(dir, ConfigFile): &got} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range want {
		if !cmp.Equal(v, got[k]) {
			t.Errorf("adapter_config.json %s = %v, example has %v", k, got[k], v)
		}
	}
	// the rest of PEFT's LoraConfig keys, so PEFT loads the file as it wrote it
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range []string{"use_rslora", "use_dora", "fan_in_fan_out", "modules_to_save", "rank_pattern", "alpha_pattern", "inference_mode"} {
		if _, ok := got[k]; !ok {
			t.Errorf("adapter_config.json lacks %s (has %s)", k, strings.Join(keys, ", "))
		}
	}
	f, err := safetensors.Open(filepath.Join(dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Metadata()["format"] != "pt" {
		t.Errorf("safetensors metadata %v, want format=pt", f.Metadata())
	}
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	write := func(t *testing.T, cfg map[string]any, tensors []safetensors.Tensor) string {
		dir := t.TempDir()
		b, _ := json.Marshal(cfg)
		os.WriteFile(filepath.Join(dir, ConfigFile), b, 0o644)
		f, _ := os.Create(filepath.Join(dir, WeightsFile))
		if err := safetensors.Write(f, tensors, nil); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return dir
	}
	a := safetensors.F32Tensor("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", []int{2, 4}, make([]float32, 8))
	bt := safetensors.F32Tensor("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", []int{4, 2}, make([]float32, 8))
	lora := map[string]any{"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": "q_proj"}
	tests := []struct {
		name    string
		cfg     map[string]any
		tensors []safetensors.Tensor
		want    string
	}{
		{"ok", lora, []safetensors.Tensor{a, bt}, ""},
		{"missing B", lora, []safetensors.Tensor{a}, "only one of lora_A and lora_B"},
		{"not lora", map[string]any{"peft_type": "IA3", "r": 2}, []safetensors.Tensor{a, bt}, "IA3"},
		{"rank mismatch", map[string]any{"peft_type": "LORA", "r": 3, "lora_alpha": 4}, []safetensors.Tensor{a, bt}, "rank 2"},
		{"foreign tensor", lora, []safetensors.Tensor{a, bt, safetensors.F32Tensor("model.embed_tokens.weight", []int{1}, []float32{0})}, "not a PEFT LoRA weight"},
		{"dora", map[string]any{"peft_type": "LORA", "r": 2, "use_dora": true}, []safetensors.Tensor{a, bt}, "use_dora"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Read(write(t, tt.cfg, tt.tensors))
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

type mapSource map[string]struct {
	x     []float32
	shape []int
}

func (m mapSource) Names() []string {
	var n []string
	for k := range m {
		n = append(n, k)
	}
	return n
}
func (m mapSource) Shape(name string) ([]int, bool) { v, ok := m[name]; return v.shape, ok }
func (m mapSource) Float32(name string) ([]float32, []int, error) {
	v := m[name]
	return append([]float32(nil), v.x...), v.shape, nil
}

func TestMergedScales(t *testing.T) {
	t.Parallel()
	// W = 0 (2×3); A = [[1,2,3]] (r=1); B = [[1],[-2]]: B·A = [[1,2,3],[-2,-4,-6]].
	base := mapSource{"m.weight": {make([]float32, 6), []int{2, 3}}, "other": {[]float32{7}, []int{1}}}
	for _, tt := range []struct {
		name  string
		rs    bool
		alpha float64
		scale float32
	}{{"lora", false, 4, 4}, {"rslora", true, 4, 4}} {
		ad := &Adapter{Config: Config{R: 1, LoraAlpha: tt.alpha, UseRSLoRA: tt.rs}, Layers: []*Layer{{Module: "m", A: []float32{1, 2, 3}, B: []float32{1, -2}, Rank: 1, In: 3, Out: 2, Scale: float64(tt.scale)}}}
		m, err := Merged(base, ad)
		if err != nil {
			t.Fatal(err)
		}
		got, _, _ := m.Float32("m.weight")
		want := []float32{1, 2, 3, -2, -4, -6}
		for i := range want {
			want[i] *= tt.scale
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
		if o, _, _ := m.Float32("other"); o[0] != 7 {
			t.Errorf("untouched tensor changed: %v", o)
		}
	}
	if _, err := Merged(base, &Adapter{Layers: []*Layer{{Module: "x", Rank: 1, In: 3, Out: 2}}}); err == nil {
		t.Error("merged an adapter for a missing module")
	}
}

func TestReadScales(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	q := "base_model.model.model.layers.0.self_attn.q_proj"
	v := "base_model.model.model.layers.0.self_attn.v_proj"
	ts := []safetensors.Tensor{
		safetensors.F32Tensor(q+".lora_A.weight", []int{4, 2}, make([]float32, 8)),
		safetensors.F32Tensor(q+".lora_B.weight", []int{2, 4}, make([]float32, 8)),
		safetensors.F32Tensor(v+".lora_A.weight", []int{2, 2}, make([]float32, 4)),
		safetensors.F32Tensor(v+".lora_B.weight", []int{2, 2}, make([]float32, 4)),
	}
	f, _ := os.Create(filepath.Join(dir, WeightsFile))
	if err := safetensors.Write(f, ts, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cfg := map[string]any{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "use_rslora": true,
		"rank_pattern": map[string]any{"v_proj": 2}, "alpha_pattern": map[string]any{"v_proj": 3}}
	b, _ := json.Marshal(cfg)
	os.WriteFile(filepath.Join(dir, ConfigFile), b, 0o644)
	a, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	lq, _ := a.Layer("model.layers.0.self_attn.q_proj")
	lv, _ := a.Layer("model.layers.0.self_attn.v_proj")
	// rsLoRA: alpha/√r = 8/2 for q; v has rank 2 and alpha 3 from the patterns: 3/√2.
	if lq.Scale != 4 || math.Abs(lv.Scale-3/math.Sqrt2) > 1e-12 {
		t.Errorf("scales q %v v %v", lq.Scale, lv.Scale)
	}
}
