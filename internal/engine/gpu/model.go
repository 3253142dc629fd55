// Package gpu runs the engine's training step on a CUDA device: the weights,
// activations, gradients and AdamW state of a model.Model live in device
// memory and every op of the step (embedding, RMSNorm, RoPE, fused
// attention, SwiGLU, residual adds, chunked cross-entropy, LoRA with
// dropout, NF4 dequantisation, AdamW, gradient-norm clipping) runs there
// (package cuda), with no host round trip inside a step: the host uploads
// the batch's token ids and reads back the per-row losses at the end.
//
// Products with frozen weights run in bfloat16 with float32 accumulation
// when Options.BF16 is set (cuBLASLt), as PyTorch's autocast; trainable
// weights (LoRA adapters, or every weight in full fine-tuning) are float32
// masters with float32 gradients and moments. The CPU engine (package
// model) is the reference: TestStepMatchesCPU compares losses and gradients.
package gpu

import (
	"errors"
	"fmt"
	"math"

	"github.com/whetstone/whetstone/internal/engine/cuda"
	"github.com/whetstone/whetstone/internal/engine/model"
	"github.com/whetstone/whetstone/internal/engine/nn"
)

// Options configures a device model.
type Options struct {
	// BF16 runs products with frozen weights in bfloat16 (f32 accumulation).
	BF16 bool
	// Checkpointing keeps only each layer's input during the forward pass
	// and recomputes the layer's activations in the backward pass.
	Checkpointing bool
}

type param struct {
	host             *model.Param
	data, grad, m, v cuda.Buffer
	n                int
}

type nf4W struct {
	codes, absmax, absmaxQ, absmax2 cuda.Buffer
	offset                          float32
	blocks                          int
}

type lora struct {
	a, b        *param
	rank        int
	scale, drop float32
}

type linear struct {
	host    *model.Linear
	in, out int
	w       cuda.Buffer // f32 (f32 products, or trainable)
	wbf     cuda.Buffer // bf16 (bf16 products)
	wp      *param      // when W trains
	q       *nf4W
	bias    cuda.Buffer
	bp      *param
	lora    *lora
}

type layer struct {
	attnNorm, mlpNorm, qNorm, kNorm     cuda.Buffer
	attnNormP, mlpNormP, qNormP, kNormP *param
	lins                                [7]linear // q k v o gate up down
}

// Model is a model.Model held on a device.
type Model struct {
	Dev  *cuda.Device
	Host *model.Model
	Opt  Options

	embed, head, headbf, norm cuda.Buffer
	embedP, headP, normP      *param
	cos, sin, map8            cuda.Buffer
	layers                    []layer
	params                    []*param // trainable, in Host.Trainable() order
	bufs                      []cuda.Buffer

	// optimiser scratch: sumsq (float64), norm, clip (float32)
	sumsq, normv, clip cuda.Buffer

	ws  *workspace // the last batch shape's activations
	dws *workspace // one decoding row's (KVCache)
}

// New uploads m to dev. Decide what trains (AddLoRA + EnableLoRAGrad,
// or EnableFullGrad, and QuantizeNF4 for QLoRA) before calling it; the host
// copies of trainable weights are refreshed by SyncToHost.
func New(dev *cuda.Device, m *model.Model, o Options) (g *Model, err error) {
	c := &m.Cfg
	if !cuda.SupportsHeadDim(c.HeadDim) {
		return nil, fmt.Errorf("gpu: head dim %d not supported by the attention kernels (have %v)", c.HeadDim, cuda.AttnHeadDims)
	}
	g = &Model{Dev: dev, Host: m, Opt: o}
	defer func() {
		if err != nil {
			g.Close()
			g = nil
		}
	}()
	byHost := map[*model.Param]*param{}
	for _, p := range m.Trainable() {
		gp, err := g.newParam(p)
		if err != nil {
			return nil, err
		}
		g.params = append(g.params, gp)
		byHost[p] = gp
	}
	// f32 uploads a frozen or trainable float32 weight.
	f32 := func(p *model.Param) (cuda.Buffer, *param, error) {
		if gp := byHost[p]; gp != nil {
			return gp.data, gp, nil
		}
		b, err := g.upload(p.Data)
		return b, nil, err
	}
	if g.embed, g.embedP, err = f32(m.Embed); err != nil {
		return nil, err
	}
	if g.norm, g.normP, err = f32(m.Norm); err != nil {
		return nil, err
	}
	if m.Head == m.Embed {
		g.head, g.headP = g.embed, g.embedP
	} else if g.head, g.headP, err = f32(m.Head); err != nil {
		return nil, err
	}
	if o.BF16 {
		if g.headbf, err = g.alloc(int64(len(m.Head.Data)) * 2); err != nil {
			return nil, err
		}
		if err := dev.CastBF16(g.headbf, g.head, len(m.Head.Data)); err != nil {
			return nil, err
		}
	}
	if g.cos, err = g.upload(m.Rope.Cos); err != nil {
		return nil, err
	}
	if g.sin, err = g.upload(m.Rope.Sin); err != nil {
		return nil, err
	}
	g.layers = make([]layer, len(m.Layers))
	for i := range m.Layers {
		L, gl := &m.Layers[i], &g.layers[i]
		if gl.attnNorm, gl.attnNormP, err = f32(L.AttnNorm); err != nil {
			return nil, err
		}
		if gl.mlpNorm, gl.mlpNormP, err = f32(L.MLPNorm); err != nil {
			return nil, err
		}
		if L.QNorm != nil {
			if gl.qNorm, gl.qNormP, err = f32(L.QNorm); err != nil {
				return nil, err
			}
			if gl.kNorm, gl.kNormP, err = f32(L.KNorm); err != nil {
				return nil, err
			}
		}
		lins := L.Linears()
		for j, t := range model.LinearNames {
			hl, gl := lins[t], &gl.lins[j]
			gl.host, gl.in, gl.out = hl, hl.In, hl.Out
			switch {
			case hl.Q != nil:
				if gl.q, err = g.uploadNF4(hl.Q); err != nil {
					return nil, err
				}
			case byHost[hl.W] != nil || !o.BF16:
				if gl.w, gl.wp, err = f32(hl.W); err != nil {
					return nil, err
				}
			}
			if o.BF16 && hl.Q == nil {
				if gl.wbf, err = g.alloc(int64(hl.In*hl.Out) * 2); err != nil {
					return nil, err
				}
				if gl.w.Nil() {
					if err := cuda.Upload(gl.wbf, nn.ToBF16(hl.W.Data)); err != nil {
						return nil, err
					}
				} else if err := dev.CastBF16(gl.wbf, gl.w, hl.In*hl.Out); err != nil {
					return nil, err
				}
			}
			if hl.B != nil {
				if gl.bias, gl.bp, err = f32(hl.B); err != nil {
					return nil, err
				}
			}
			if l := hl.LoRA; l != nil {
				gl.lora = &lora{a: byHost[l.A], b: byHost[l.B], rank: l.Rank, scale: l.Scale, drop: l.Dropout}
				// A frozen adapter (inference: generate, score) is
				// uploaded without gradient or moments.
				for _, pp := range []struct {
					dst **param
					src *model.Param
				}{{&gl.lora.a, l.A}, {&gl.lora.b, l.B}} {
					if *pp.dst == nil {
						b, err := g.upload(pp.src.Data)
						if err != nil {
							return nil, err
						}
						*pp.dst = &param{host: pp.src, data: b, n: len(pp.src.Data)}
					}
				}
			}
		}
	}
	if g.sumsq, err = g.alloc(8); err != nil {
		return nil, err
	}
	if g.normv, err = g.alloc(4); err != nil {
		return nil, err
	}
	if g.clip, err = g.alloc(4); err != nil {
		return nil, err
	}
	return g, dev.Sync()
}

func (g *Model) alloc(n int64) (cuda.Buffer, error) {
	b, err := g.Dev.Alloc(n)
	if err == nil {
		g.bufs = append(g.bufs, b)
	}
	return b, err
}

func (g *Model) upload(x []float32) (cuda.Buffer, error) {
	b, err := g.alloc(int64(len(x)) * 4)
	if err != nil {
		return b, err
	}
	return b, cuda.Upload(b, x)
}

func (g *Model) newParam(p *model.Param) (*param, error) {
	gp := &param{host: p, n: len(p.Data)}
	var err error
	if gp.data, err = g.upload(p.Data); err != nil {
		return nil, err
	}
	for _, b := range []*cuda.Buffer{&gp.grad, &gp.m, &gp.v} {
		if *b, err = g.alloc(int64(gp.n) * 4); err != nil {
			return nil, err
		}
		if err := g.Dev.Zero(*b); err != nil {
			return nil, err
		}
	}
	return gp, nil
}

func (g *Model) uploadNF4(q *nn.NF4) (*nf4W, error) {
	w := &nf4W{blocks: (q.Out*q.In + nn.NF4BlockSize - 1) / nn.NF4BlockSize, offset: q.Offset}
	var err error
	if w.codes, err = g.alloc(int64(len(q.Codes))); err != nil {
		return nil, err
	}
	if err := cuda.Upload(w.codes, q.Codes); err != nil {
		return nil, err
	}
	if q.Absmax != nil {
		w.absmax, err = g.upload(q.Absmax)
		return w, err
	}
	if w.absmaxQ, err = g.alloc(int64(len(q.AbsmaxQ))); err != nil {
		return nil, err
	}
	if err := cuda.Upload(w.absmaxQ, q.AbsmaxQ); err != nil {
		return nil, err
	}
	if w.absmax2, err = g.upload(q.Absmax2); err != nil {
		return nil, err
	}
	if g.map8.Nil() {
		if g.map8, err = g.upload(nn.DynamicMap8[:]); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Close frees the device memory.
func (g *Model) Close() {
	if g == nil {
		return
	}
	g.freeWorkspace()
	for _, b := range g.bufs {
		g.Dev.Free(b)
	}
	g.bufs = nil
}

// ZeroGrad clears every trainable gradient.
func (g *Model) ZeroGrad() error {
	for _, p := range g.params {
		if err := g.Dev.Zero(p.grad); err != nil {
			return err
		}
	}
	return nil
}

// ClipGradNorm computes the global gradient norm on the device and the clip
// factor that Step applies (maxNorm ≤ 0: no clipping). It returns the norm
// (one float read back).
func (g *Model) ClipGradNorm(maxNorm float64) (float64, error) {
	d := g.Dev
	if err := d.Zero(g.sumsq); err != nil {
		return 0, err
	}
	for _, p := range g.params {
		if err := d.SumSqAcc(g.sumsq, p.grad, p.n); err != nil {
			return 0, err
		}
	}
	if err := d.ClipFactor(g.clip, g.normv, g.sumsq, float32(maxNorm)); err != nil {
		return 0, err
	}
	var s [1]float64
	if err := cuda.Download(s[:], g.sumsq); err != nil {
		return 0, err
	}
	return math.Sqrt(s[0]), nil
}

// Step applies AdamW at optimiser step t (1-based) with the clip factor of
// the last ClipGradNorm, and refreshes bf16 copies of trained weights.
func (g *Model) Step(o nn.AdamW, t int, lr float64) error {
	d := g.Dev
	for _, p := range g.params {
		if err := d.AdamW(p.data, p.grad, p.m, p.v, g.clip, p.n, o.Beta1, o.Beta2, o.Eps, o.WeightDecay, t, lr); err != nil {
			return err
		}
	}
	return g.refreshBF16()
}

// refreshBF16 recasts the bf16 copies of trained weights.
func (g *Model) refreshBF16() error {
	d := g.Dev
	if !g.Opt.BF16 {
		return nil
	}
	if g.headP != nil {
		if err := d.CastBF16(g.headbf, g.head, g.headP.n); err != nil {
			return err
		}
	}
	for i := range g.layers {
		for j := range g.layers[i].lins {
			l := &g.layers[i].lins[j]
			if l.wp != nil {
				if err := d.CastBF16(l.wbf, l.w, l.in*l.out); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// SyncToHost copies the trainable weights (and their gradients) back into
// the host model's Params.
func (g *Model) SyncToHost() error {
	for _, p := range g.params {
		if err := cuda.Download(p.host.Data, p.data); err != nil {
			return err
		}
		if p.host.Grad != nil {
			if err := cuda.Download(p.host.Grad, p.grad); err != nil {
				return err
			}
		}
	}
	return nil
}

// Moments downloads (or, with upload set, uploads) the AdamW moments, in
// the order of Host.Trainable().
func (g *Model) Moments(mom, vel [][]float32, upload bool) error {
	if len(mom) != len(g.params) || len(vel) != len(g.params) {
		return errors.New("gpu: moments for a different set of parameters")
	}
	for i, p := range g.params {
		var err error
		if upload {
			err = errors.Join(cuda.Upload(p.m, mom[i]), cuda.Upload(p.v, vel[i]))
		} else {
			err = errors.Join(cuda.Download(mom[i], p.m), cuda.Download(vel[i], p.v))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// UploadTrainable copies the host's trainable weights to the device (after
// a checkpoint was loaded into them).
func (g *Model) UploadTrainable() error {
	for _, p := range g.params {
		if err := cuda.Upload(p.data, p.host.Data); err != nil {
			return err
		}
	}
	return g.refreshBF16()
}
