package convert

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/whetstone/whetstone/internal/export/gguf"
	"github.com/whetstone/whetstone/internal/export/peft"
	"github.com/whetstone/whetstone/internal/export/quant"
)

// AdapterParams configure a LoRA adapter conversion.
type AdapterParams struct {
	// BaseDir is the base model folder (its config.json gives the
	// architecture and head counts).
	BaseDir string
	Adapter *peft.Adapter
	// Type is F32 or F16. Defaults to F16.
	Type FileType
	Name string
}

// Adapter writes a PEFT LoRA adapter as a GGUF LoRA adapter for llama.cpp
// (general.type=adapter, adapter.type=lora, adapter.lora.alpha; tensors
// blk.N.<name>.weight.lora_a [in, r] and .lora_b [r, out] in ggml order).
//
// llama.cpp scales B·A by adapter.lora.alpha / r with r read from each
// tensor; modules whose scale differs (rank_pattern, alpha_pattern,
// rsLoRA) get the difference folded into lora_b. For the llama
// architecture, lora_b rows of q_proj and k_proj are permuted like the base
// weights.
func Adapter(ctx context.Context, w io.Writer, p *AdapterParams) ([]gguf.TensorInfo, error) {
	cfg, err := LoadConfig(p.BaseDir)
	if err != nil {
		return nil, err
	}
	arch, _ := cfg.Arch()
	ft := p.Type
	if ft == "" {
		ft = F16
	}
	if ft != F32 && ft != F16 {
		return nil, fmt.Errorf("LoRA adapter GGUF type %q is not supported (f32, f16 are)", ft)
	}
	alpha := p.Adapter.Config.LoraAlpha
	if alpha == 0 {
		return nil, fmt.Errorf("adapter has lora_alpha 0")
	}
	name := p.Name
	if name == "" {
		name = baseName(p.BaseDir) + "-lora"
	}
	kvs := []gguf.KV{
		{Key: "general.architecture", Value: arch},
		{Key: "general.type", Value: "adapter"},
		{Key: "general.name", Value: name},
		{Key: "general.file_type", Value: ft.llamaFileType()},
		{Key: "adapter.type", Value: "lora"},
		{Key: "adapter.lora.alpha", Value: float32(alpha)},
	}
	var tensors []gguf.Tensor
	var infos []gguf.TensorInfo
	for _, l := range p.Adapter.Layers {
		g, layer, keep, err := GGUFName(l.Module + ".weight")
		if err != nil {
			return nil, fmt.Errorf("adapter module %s: %w", l.Module, err)
		}
		if !keep || layer < 0 {
			return nil, fmt.Errorf("adapter module %s: only per-layer linear modules can be exported", l.Module)
		}
		if err := checkShape(cfg, l.Module+".weight", []int{l.Out, l.In}); err != nil {
			return nil, err
		}
		l := l
		fix := l.Scale * float64(l.Rank) / alpha // 1 for plain LoRA
		perm := 0
		if arch == "llama" {
			switch {
			case strings.HasSuffix(l.Module, "self_attn.q_proj"):
				perm = cfg.NumHeads
			case strings.HasSuffix(l.Module, "self_attn.k_proj"):
				perm = cfg.NumKVHeads
			}
		}
		typ := ft.base()
		a := gguf.Tensor{Name: g + ".lora_a", Type: typ, Shape: gguf.ShapeOf([]int{l.Rank, l.In}), Data: func(w io.Writer) error {
			return writeQuant(ctx, w, typ, l.A, l.In)
		}}
		b := gguf.Tensor{Name: g + ".lora_b", Type: typ, Shape: gguf.ShapeOf([]int{l.Out, l.Rank}), Data: func(w io.Writer) error {
			x := append([]float32(nil), l.B...)
			if fix != 1 {
				for i := range x {
					x[i] = float32(float64(x[i]) * fix)
				}
			}
			if perm > 0 {
				var err error
				if x, err = PermuteRoPE(x, []int{l.Out, l.Rank}, perm); err != nil {
					return fmt.Errorf("%s lora_B: %w", l.Module, err)
				}
			}
			return writeQuant(ctx, w, typ, x, l.Rank)
		}}
		tensors = append(tensors, a, b)
		infos = append(infos, gguf.TensorInfo{Name: a.Name, Type: a.Type, Shape: a.Shape}, gguf.TensorInfo{Name: b.Name, Type: b.Type, Shape: b.Shape})
	}
	if err := gguf.Write(w, kvs, tensors); err != nil {
		return nil, err
	}
	return infos, nil
}

func writeQuant(ctx context.Context, w io.Writer, t quant.Type, x []float32, row int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := quant.Quantize(nil, t, x, row)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
