package train

import (
	"path/filepath"
	"testing"

	"github.com/whetstone/whetstone/internal/engine/gpu"
	"github.com/whetstone/whetstone/internal/engine/model"
)

// TestEstimateShapeMatchesModel: the CPU estimate from config.json alone
// (EstimateShape) is EstimateMemory's for the loaded model, for lora,
// qlora (double-quantized too) and full, f32 and bf16, on stories260K and
// the tiny Qwen2 (biases, whose count the shape takes from model_type).
func TestEstimateShapeMatchesModel(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{storiesDir(t), filepath.Join("..", "model", "testdata", "tiny-qwen2")} {
		m, err := model.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []Config{
			{Method: "lora", LoRA: model.LoRAConfig{Rank: 8, Dropout: 0.1}, BatchSize: 2, MaxSeqLen: 48},
			{Method: "lora", LoRA: model.LoRAConfig{Rank: 4, Targets: []string{"q", "v"}}, BatchSize: 3, MaxSeqLen: 17, BF16: true},
			{Method: "qlora", LoRA: model.LoRAConfig{Rank: 16}, MaxSeqLen: 64},
			{Method: "qlora", LoRA: model.LoRAConfig{Rank: 16}, DoubleQuant: true, BF16: true},
			{Method: "full", BatchSize: 1, MaxSeqLen: 128},
		} {
			s, err := model.NewShape(m.Cfg, c.Method, c.LoRA, c.DoubleQuant)
			if err != nil {
				t.Fatal(err)
			}
			got, err := EstimateShape(s, c)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.defaults(); err != nil {
				t.Fatal(err)
			}
			if want := EstimateMemory(m, &c); got != want {
				t.Errorf("%s %s: EstimateShape %+v, EstimateMemory %+v", filepath.Base(dir), c.Method, got, want)
			}
		}
	}
	if _, err := EstimateShape(model.Shape{}, Config{Method: "rlhf"}); err == nil {
		t.Error("EstimateShape with method rlhf: no error")
	}
}

// TestEstimateDevice: the device estimate made before New (what a GPU
// lease asks for) is the estimate of the model once set up as New sets it
// up, for lora with dropout, qlora on an NF4-loaded base and full.
func TestEstimateDevice(t *testing.T) {
	t.Parallel()
	for _, c := range []Config{
		{Method: "lora", LoRA: model.LoRAConfig{Rank: 8, Dropout: 0.1}, BatchSize: 2, MaxSeqLen: 48, BF16: true},
		{Method: "qlora", LoRA: model.LoRAConfig{Rank: 4, Targets: []string{"q", "v"}}, DoubleQuant: true, MaxSeqLen: 64, GradientCheckpointing: true},
		{Method: "full", BatchSize: 1, MaxSeqLen: 128},
	} {
		load := func() *model.Model {
			m, err := model.Load(storiesDir(t))
			if c.Method == "qlora" {
				m, err = model.LoadNF4(storiesDir(t), c.DoubleQuant)
			}
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		got, err := EstimateDevice(load(), c)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.defaults(); err != nil {
			t.Fatal(err)
		}
		m := load()
		if c.IsLoRA() {
			if err := m.AddLoRA(c.LoRA, 1); err != nil {
				t.Fatal(err)
			}
			m.EnableLoRAGrad()
		} else {
			m.EnableFullGrad()
		}
		want := gpu.EstimateMemory(m, c.BatchSize, c.MaxSeqLen, gpu.Options{BF16: c.BF16, Checkpointing: c.GradientCheckpointing})
		if got != want {
			t.Errorf("%s: before setup %+v, after %+v", c.Method, got, want)
		}
	}
}
