package gpu

import (
	"fmt"

	"github.com/whetstone/whetstone/internal/engine/model"
	"github.com/whetstone/whetstone/internal/engine/nn"
)

// Estimate is the device memory a training run needs, in bytes.
type Estimate struct {
	Weights     int64 `json:"weights_bytes"`     // frozen base (bf16, f32 or NF4) + embedding/head/norms
	Trainable   int64 `json:"trainable_bytes"`   // trainable weights, gradients, AdamW moments (f32)
	Activations int64 `json:"activations_bytes"` // saved for the backward pass
	Scratch     int64 `json:"scratch_bytes"`     // logits chunk, backward buffers, bf16 copies, NF4 tile
	Runtime     int64 `json:"runtime_bytes"`     // cuBLASLt workspace and the CUDA context
	Total       int64 `json:"total_bytes"`
}

// ContextBytes is what the CUDA context and loaded kernels take on the
// device before anything is allocated (an allowance; ~0.5 GiB on recent
// drivers).
const ContextBytes = 600 << 20

// EstimateMemory returns the device memory New plus a training
// ForwardBackward of batch×seq needs for m as it is set up now (adapters
// attached and gradients enabled, NF4 quantized), mirroring New and the
// workspace allocation.
func EstimateMemory(m *model.Model, batch, seq int, o Options) Estimate {
	c := &m.Cfg
	N := int64(batch * seq)
	D, I, V := int64(c.HiddenSize), int64(c.IntermediateSize), int64(c.VocabSize)
	nh, nkv, hd := int64(c.NumAttentionHeads), int64(c.NumKeyValueHeads), int64(c.HeadDim)
	qd, kd := nh*hd, nkv*hd
	L := int64(len(m.Layers))
	var e Estimate
	trainable := map[*model.Param]bool{}
	for _, p := range m.Trainable() {
		trainable[p] = true
		e.Trainable += 16 * int64(len(p.Data))
	}
	f32 := func(p *model.Param) int64 {
		if p == nil || trainable[p] {
			return 0
		}
		return 4 * int64(len(p.Data))
	}
	e.Weights += f32(m.Embed) + f32(m.Norm) + 4*int64(len(m.Rope.Cos)+len(m.Rope.Sin))
	if m.Head != m.Embed {
		e.Weights += f32(m.Head)
	}
	if o.BF16 {
		e.Weights += 2 * V * D
	}
	maxW, maxR := int64(0), int64(1)
	for i := range m.Layers {
		Ly := &m.Layers[i]
		e.Weights += f32(Ly.AttnNorm) + f32(Ly.MLPNorm) + f32(Ly.QNorm) + f32(Ly.KNorm)
		for _, l := range Ly.Linears() {
			n := int64(l.In * l.Out)
			switch {
			case l.Q != nil:
				e.Weights += int64(len(l.Q.Codes)) + 4*int64(len(l.Q.Absmax)) + int64(len(l.Q.AbsmaxQ)) + 4*int64(len(l.Q.Absmax2))
				maxW = max(maxW, n)
			case trainable[l.W]:
				if o.BF16 {
					e.Weights += 2 * n
				}
			case o.BF16:
				e.Weights += 2 * n
			default:
				e.Weights += 4 * n
			}
			e.Weights += f32(l.B)
			if l.LoRA != nil {
				maxR = max(maxR, int64(l.LoRA.Rank))
			}
		}
	}
	// Saved activations per layer (see workspace): xn1, q, k, v, att, lse,
	// h2, xn2, gate, up, act, sig, rstd1, rstd2, q/k norm inputs, LoRA.
	perLayer := N * (D + qd + 2*kd + qd + nh + D + D + 4*I + 2)
	if m.Layers[0].QNorm != nil {
		perLayer += N * (qd + kd + nh + nkv)
	}
	for _, l := range m.Layers[0].Linears() {
		if l.LoRA != nil {
			perLayer += N * int64(l.LoRA.Rank)
			if l.LoRA.Dropout > 0 {
				perLayer += N * int64(l.In)
			}
		}
	}
	nacts := L
	if o.Checkpointing {
		nacts = 1
	}
	e.Activations = 4 * (nacts*perLayer + (L+1)*N*D)
	maxIn := max(D, I, qd)
	xrows := max(1, min(N, XentChunkBytes/(4*V)))
	e.Scratch = 4 * (N*D + N + 5*N) // xnF, rstdF, ids/labels/pos/seg/loss
	e.Scratch += 4 * xrows * V
	if o.BF16 {
		e.Scratch += 2*N*maxIn + 2*xrows*V + 2*N*maxIn // xbf, gbf, dybf
	}
	e.Scratch += 4 * (N*D + N*max(D, I) + N*qd + 2*N*kd + N*max(qd, D) + 2*N*I + N*maxR + N*maxIn + N*nh)
	if maxW > 0 {
		if o.BF16 {
			e.Scratch += 2 * maxW
		} else {
			e.Scratch += 4 * maxW
		}
		e.Scratch += 4 * ((maxW + nn.NF4BlockSize - 1) / nn.NF4BlockSize)
	}
	e.Runtime = 32<<20 + ContextBytes
	e.Total = e.Weights + e.Trainable + e.Activations + e.Scratch + e.Runtime
	return e
}

// EstimateError is returned when a run will not fit the device.
type EstimateError struct {
	Estimate Estimate
	Free     int64
	Device   string
}

func (e *EstimateError) Error() string {
	g := func(b int64) float64 { return float64(b) / (1 << 30) }
	x := e.Estimate
	return fmt.Sprintf("training needs about %.2f GiB of GPU memory but %s has %.2f GiB free (weights %.2f, trainable state %.2f, activations %.2f, scratch %.2f, runtime %.2f GiB); use a smaller batch or max_seq_len, gradient_checkpointing: true, qlora, or the CPU",
		g(x.Total), e.Device, g(e.Free), g(x.Weights), g(x.Trainable), g(x.Activations), g(x.Scratch), g(x.Runtime))
}
