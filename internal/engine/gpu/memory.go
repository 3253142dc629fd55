package gpu

import (
	"fmt"
	"slices"

	"github.com/whetstone/whetstone/internal/engine/model"
	"github.com/whetstone/whetstone/internal/engine/nn"
)

// Estimate is the device memory a training run needs, in bytes.
type Estimate struct {
	Weights     int64 `json:"weights_bytes"`            // frozen base (bf16, f32 or NF4) + embedding/head/norms
	Trainable   int64 `json:"trainable_bytes"`          // trainable weights, gradients, AdamW moments (f32)
	Activations int64 `json:"activations_bytes"`        // saved for the backward pass
	Scratch     int64 `json:"scratch_bytes"`            // logits chunk, backward buffers, bf16 copies, NF4 tile
	Runtime     int64 `json:"runtime_bytes"`            // cuBLASLt workspace and the CUDA context
	KVCache     int64 `json:"kv_cache_bytes,omitempty"` // generation's KV cache (EstimateGenerate)
	Total       int64 `json:"total_bytes"`
}

// ContextBytes is what the CUDA context and loaded kernels take on the
// device before anything is allocated (an allowance; ~0.5 GiB on recent
// drivers).
const ContextBytes = 600 << 20

// EstimateMemory returns the device memory New plus a training
// ForwardBackward of batch×seq needs for m as it is set up now (adapters
// attached and gradients enabled, NF4 quantized): EstimateShape of
// m.Shape().
func EstimateMemory(m *model.Model, batch, seq int, o Options) Estimate {
	return EstimateShape(m.Shape(), batch, seq, o)
}

// EstimateShape returns the device memory New plus a training
// ForwardBackward of batch×seq needs for a model of shape s, mirroring
// New's uploads and the step's workspace; it needs no weights, so a
// config.json is enough (model.NewShape). Frozen weights are float32 (or
// bf16 copies with o.BF16, or NF4 codes and scales); what trains is a
// float32 master with a gradient and two AdamW moments (16 bytes per
// weight). Runtime is an allowance for the CUDA context and cuBLASLt's
// workspace.
func EstimateShape(s model.Shape, batch, seq int, o Options) Estimate {
	c := &s.Cfg
	N := int64(batch) * int64(seq)
	D, I, V := int64(c.HiddenSize), int64(c.IntermediateSize), int64(c.VocabSize)
	nh, nkv, hd := int64(c.NumAttentionHeads), int64(c.NumKeyValueHeads), int64(c.HeadDim)
	qd, kd := nh*hd, nkv*hd
	L := int64(c.NumHiddenLayers)
	var e Estimate
	// frozen is a float32 base tensor of n weights; one that trains is
	// counted in Trainable instead.
	frozen := func(n int64) int64 {
		if s.Full {
			return 0
		}
		return 4 * n
	}
	e.Trainable = 16 * s.TrainableParams()
	// Embedding, final norm, RoPE cos and sin tables [max_pos, hd/2].
	e.Weights += frozen(V*D) + frozen(D) + 4*2*int64(c.MaxPositionEmbeddings)*(hd/2)
	if !c.TieWordEmbeddings {
		e.Weights += frozen(V * D)
	}
	if o.BF16 {
		e.Weights += 2 * V * D // the head in bf16
	}
	maxW, maxR := int64(0), int64(1)
	layer := frozen(2 * D) // attention and MLP norms
	if s.QKNorm() {
		layer += frozen(2 * hd)
	}
	var loraTok int64 // per token and layer: LoRA's saved A·x and dropout masks
	for _, t := range model.LinearNames {
		out, in := s.Dims(t)
		n := int64(out) * int64(in)
		switch {
		case s.NF4 && !s.Full:
			layer += nf4DeviceBytes(out, in, s.DoubleQuant)
			maxW = max(maxW, n)
		case s.Full:
			if o.BF16 {
				layer += 2 * n // bf16 copy of the trained weight
			}
		case o.BF16:
			layer += 2 * n
		default:
			layer += 4 * n
		}
		if s.HasBias(t) {
			layer += frozen(int64(out))
		}
		if r := int64(s.LoRA.Rank); r > 0 && slices.Contains(s.LoRA.Targets, t) {
			if s.LoRA.Frozen {
				layer += 4 * r * (int64(in) + int64(out)) // uploaded without gradient or moments
			}
			maxR = max(maxR, r)
			loraTok += r
			if s.LoRA.Dropout {
				loraTok += int64(in)
			}
		}
	}
	e.Weights += L * layer
	// Saved activations per layer (see workspace): xn1, q, k, v, att, lse,
	// h2, xn2, gate, up, act, sig, rstd1, rstd2, q/k norm inputs, LoRA.
	perLayer := N * (D + qd + 2*kd + qd + nh + D + D + 4*I + 2 + loraTok)
	if s.QKNorm() {
		perLayer += N * (qd + kd + nh + nkv)
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

// EstimateGenerate returns the device memory New plus inference over
// sequences of up to seq tokens needs for m as it is set up now: a forward
// pass over seq tokens (Logits, ForwardBackward without the backward pass,
// or a KV cache's prefill; EstimateMemory's figure with one layer's
// activations, which also counts the backward pass's scratch), the KV cache
// for seq tokens (KVCacheBytes) and one decoding row's buffers.
func EstimateGenerate(m *model.Model, seq int, o Options) Estimate {
	o.Checkpointing = true
	e := EstimateMemory(m, 1, seq, o)
	row := EstimateMemory(m, 1, 1, o)
	e.KVCache = KVCacheBytes(&m.Cfg, seq)
	e.Scratch += row.Activations + row.Scratch
	e.Total += e.KVCache + row.Activations + row.Scratch
	return e
}

// nf4DeviceBytes is what uploadNF4 puts on the device for an out×in
// weight: the packed codes and the absmax scales (float32, or 8-bit codes
// and float32 second-level scales); the double-quantization offset is a
// kernel argument, not a buffer.
func nf4DeviceBytes(out, in int, doubleQuant bool) int64 {
	b := nn.NF4Bytes(out, in, doubleQuant)
	if doubleQuant {
		b -= 4
	}
	return b
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
