package gpu

import (
	"fmt"

	"github.com/whetstone/whetstone/internal/engine/cuda"
	"github.com/whetstone/whetstone/internal/engine/model"
	"github.com/whetstone/whetstone/internal/engine/nn"
)

type loraActs struct {
	u, xd   cuda.Buffer
	dropped bool
}

type layerActs struct {
	xn1, q, k, v, att, lse, h2, xn2, gate, up, act, sig cuda.Buffer
	rstd1, rstd2                                        cuda.Buffer
	qPre, kPre, rstdQ, rstdK                            cuda.Buffer
	lora                                                [7]loraActs
}

type workspace struct {
	B, T, N               int
	backward              bool
	hs                    []cuda.Buffer // layer inputs, hs[L] the last layer's output
	acts                  []layerActs   // one per layer, or one with checkpointing
	xnF, rstdF            cuda.Buffer
	xbf                   cuda.Buffer // bf16 copy of a product's input
	ids, labels, pos, seg cuda.Buffer
	loss                  cuda.Buffer
	logits, gbf           cuda.Buffer
	xrows                 int
	tile, tilebf, scales  cuda.Buffer // NF4 dequantisation
	// backward scratch
	dh, dx, dq, dk, dv, datt, dgate, dup, du, dxd, dybf, attnD cuda.Buffer
	bufs                                                       []cuda.Buffer
}

// XentChunkBytes bounds the float32 logits the device cross-entropy holds.
const XentChunkBytes = 512 << 20

func (g *Model) freeWorkspace() {
	for _, w := range []**workspace{&g.ws, &g.dws} {
		if *w == nil {
			continue
		}
		for _, b := range (*w).bufs {
			g.Dev.Free(b)
		}
		*w = nil
	}
}

// workspace returns the activation buffers for a batch of B×T (cached: the
// last shape's buffers are reused).
func (g *Model) workspace(B, T int, backward bool) (*workspace, error) {
	if w := g.ws; w != nil && w.B == B && w.T == T && (w.backward || !backward) {
		return w, nil
	}
	if w := g.ws; w != nil {
		for _, b := range w.bufs {
			g.Dev.Free(b)
		}
		g.ws = nil
	}
	w, err := g.newWorkspace(B, T, backward)
	if err != nil {
		return nil, err
	}
	g.ws = w
	return w, nil
}

// decodeWorkspace returns the buffers of one decoding row (kept apart from
// workspace's, so a prefill's buffers survive the decoding steps).
func (g *Model) decodeWorkspace() (*workspace, error) {
	if g.dws == nil {
		w, err := g.newWorkspace(1, 1, false)
		if err != nil {
			return nil, err
		}
		g.dws = w
	}
	return g.dws, nil
}

func (g *Model) newWorkspace(B, T int, backward bool) (*workspace, error) {
	c := &g.Host.Cfg
	N, D, I, V := B*T, c.HiddenSize, c.IntermediateSize, c.VocabSize
	qd, kd := c.NumAttentionHeads*c.HeadDim, c.NumKeyValueHeads*c.HeadDim
	w := &workspace{B: B, T: T, N: N, backward: backward}
	var err error
	f32 := func(n int) cuda.Buffer {
		if err != nil || n == 0 {
			return cuda.Buffer{}
		}
		var b cuda.Buffer
		b, err = g.Dev.Alloc(int64(n) * 4)
		w.bufs = append(w.bufs, b)
		return b
	}
	bf := func(n int) cuda.Buffer {
		if err != nil || n == 0 {
			return cuda.Buffer{}
		}
		var b cuda.Buffer
		b, err = g.Dev.Alloc(int64(n) * 2)
		w.bufs = append(w.bufs, b)
		return b
	}
	w.hs = make([]cuda.Buffer, len(g.layers)+1)
	for i := range w.hs {
		w.hs[i] = f32(N * D)
	}
	nacts := len(g.layers)
	if g.Opt.Checkpointing || !backward {
		nacts = 1
	}
	w.acts = make([]layerActs, nacts)
	maxR, maxIn := 0, max(D, I, qd)
	for i := range w.acts {
		a := &w.acts[i]
		a.xn1, a.q, a.k, a.v, a.att = f32(N*D), f32(N*qd), f32(N*kd), f32(N*kd), f32(N*qd)
		a.lse, a.h2, a.xn2 = f32(N*c.NumAttentionHeads), f32(N*D), f32(N*D)
		a.gate, a.up, a.act, a.sig = f32(N*I), f32(N*I), f32(N*I), f32(N*I)
		a.rstd1, a.rstd2 = f32(N), f32(N)
		if g.Host.Layers[0].QNorm != nil {
			a.qPre, a.kPre, a.rstdQ, a.rstdK = f32(N*qd), f32(N*kd), f32(N*c.NumAttentionHeads), f32(N*c.NumKeyValueHeads)
		}
		li := i
		for j := range a.lora {
			l := g.layers[li].lins[j]
			if l.lora != nil {
				a.lora[j].u = f32(N * l.lora.rank)
				if l.lora.drop > 0 {
					a.lora[j].xd = f32(N * l.in)
				}
				maxR = max(maxR, l.lora.rank)
			}
		}
	}
	// With one set of activations for all layers, size LoRA buffers for
	// the largest of any layer.
	if nacts == 1 {
		for li := range g.layers {
			for j := range g.layers[li].lins {
				if l := g.layers[li].lins[j]; l.lora != nil {
					maxR = max(maxR, l.lora.rank)
				}
			}
		}
	}
	w.xnF, w.rstdF = f32(N*D), f32(N)
	if g.Opt.BF16 {
		w.xbf = bf(N * maxIn)
	}
	w.ids, w.labels, w.pos, w.seg, w.loss = f32(N), f32(N), f32(N), f32(N), f32(N)
	w.xrows = max(1, min(N, XentChunkBytes/(4*V)))
	w.logits = f32(w.xrows * V)
	if g.Opt.BF16 && backward {
		w.gbf = bf(w.xrows * V)
	}
	maxW := 0
	for li := range g.layers {
		for j := range g.layers[li].lins {
			if l := g.layers[li].lins[j]; l.q != nil {
				maxW = max(maxW, l.in*l.out)
			}
		}
	}
	if maxW > 0 {
		if g.Opt.BF16 {
			w.tilebf = bf(maxW)
		} else {
			w.tile = f32(maxW)
		}
		w.scales = f32((maxW + nn.NF4BlockSize - 1) / nn.NF4BlockSize)
	}
	if backward {
		w.dh, w.dx, w.dq, w.dk, w.dv = f32(N*D), f32(N*max(D, I)), f32(N*qd), f32(N*kd), f32(N*kd)
		w.datt, w.dgate, w.dup = f32(N*max(qd, D)), f32(N*I), f32(N*I)
		w.du, w.dxd = f32(N*max(maxR, 1)), f32(N*maxIn)
		if g.Opt.BF16 {
			w.dybf = bf(N * max(D, I, qd))
		}
		w.attnD = f32(N * c.NumAttentionHeads)
	}
	// Per-layer LoRA buffers when checkpointing share one set sized for the
	// largest rank and input.
	if nacts == 1 {
		a := &w.acts[0]
		for j := range a.lora {
			var need bool
			var drop bool
			in := 0
			for li := range g.layers {
				if l := g.layers[li].lins[j]; l.lora != nil {
					need = true
					drop = drop || l.lora.drop > 0
					in = max(in, l.in)
				}
			}
			if need && a.lora[j].u.Nil() {
				a.lora[j].u = f32(N * maxR)
			}
			if drop && a.lora[j].xd.Nil() {
				a.lora[j].xd = f32(N * in)
			}
		}
	}
	if err != nil {
		for _, b := range w.bufs {
			g.Dev.Free(b)
		}
		return nil, fmt.Errorf("gpu: activations for batch %d×%d: %w", B, T, err)
	}
	return w, nil
}

// weights returns the product operand of l: bf16 or f32, dequantizing NF4
// into the tile.
func (g *Model) weights(l *linear, w *workspace) (cuda.Buffer, bool, error) {
	d := g.Dev
	if l.q != nil {
		scales := l.q.absmax
		if scales.Nil() {
			scales = w.scales
			if err := d.NF4Scales(scales, l.q.absmaxQ, l.q.absmax2, g.map8, l.q.offset, l.q.blocks); err != nil {
				return scales, false, err
			}
		}
		if g.Opt.BF16 {
			return w.tilebf, true, d.NF4Dequant(cuda.Buffer{}, w.tilebf, l.q.codes, scales, l.in*l.out)
		}
		return w.tile, false, d.NF4Dequant(w.tile, cuda.Buffer{}, l.q.codes, scales, l.in*l.out)
	}
	if g.Opt.BF16 {
		return l.wbf, true, nil
	}
	return l.w, false, nil
}

// linFwd: y = x·Wᵀ + b + LoRA; xbf is x in bf16 (bf16 mode).
func (g *Model) linFwd(l *linear, y, x, xbf cuda.Buffer, n int, la *loraActs, train bool, seed uint64, w *workspace) error {
	d := g.Dev
	wt, isbf, err := g.weights(l, w)
	if err != nil {
		return err
	}
	in := x
	if isbf {
		in = xbf
	}
	if err := d.Gemm(false, true, n, l.out, l.in, 1, in, l.in, wt, l.in, 0, y, l.out, isbf); err != nil {
		return err
	}
	if !l.bias.Nil() {
		if err := d.BiasAdd(y, l.bias, n, l.out); err != nil {
			return err
		}
	}
	lo := l.lora
	if lo == nil {
		return nil
	}
	xin := x
	la.dropped = train && lo.drop > 0
	if la.dropped {
		if err := d.Dropout(la.xd, x, n*l.in, seed, lo.drop); err != nil {
			return err
		}
		xin = la.xd
	}
	if err := d.Gemm(false, true, n, lo.rank, l.in, 1, xin, l.in, lo.a.data, l.in, 0, la.u, lo.rank, false); err != nil {
		return err
	}
	return d.Gemm(false, true, n, l.out, lo.rank, lo.scale, la.u, lo.rank, lo.b.data, lo.rank, 1, y, l.out, false)
}

// linBwd: dx (+)= dy·W (+ LoRA), and the gradients of l's trainable
// weights. A null dx skips ∂/∂x.
func (g *Model) linBwd(l *linear, dx, dy, x cuda.Buffer, n int, la *loraActs, accumulate bool, w *workspace) error {
	d := g.Dev
	if !dx.Nil() {
		wt, isbf, err := g.weights(l, w)
		if err != nil {
			return err
		}
		beta := float32(0)
		if accumulate {
			beta = 1
		}
		dyin := dy
		if isbf {
			dyin = w.dybf
			if err := d.CastBF16(dyin, dy, n*l.out); err != nil {
				return err
			}
		}
		if err := d.Gemm(false, false, n, l.in, l.out, 1, dyin, l.out, wt, l.in, beta, dx, l.in, isbf); err != nil {
			return err
		}
	}
	if l.wp != nil {
		if err := d.Gemm(true, false, l.out, l.in, n, 1, dy, l.out, x, l.in, 1, l.wp.grad, l.in, false); err != nil {
			return err
		}
	}
	if l.bp != nil {
		if err := d.ColSumAcc(l.bp.grad, dy, n, l.out); err != nil {
			return err
		}
	}
	lo := l.lora
	if lo == nil {
		return nil
	}
	r := lo.rank
	du := w.du
	if err := d.Gemm(false, false, n, r, l.out, lo.scale, dy, l.out, lo.b.data, r, 0, du, r, false); err != nil {
		return err
	}
	if err := d.Gemm(true, false, l.out, r, n, lo.scale, dy, l.out, la.u, r, 1, lo.b.grad, r, false); err != nil {
		return err
	}
	xin := x
	if la.dropped {
		xin = la.xd
	}
	if err := d.Gemm(true, false, r, l.in, n, 1, du, r, xin, l.in, 1, lo.a.grad, l.in, false); err != nil {
		return err
	}
	if dx.Nil() {
		return nil
	}
	if !la.dropped {
		return d.Gemm(false, false, n, l.in, r, 1, du, r, lo.a.data, l.in, 1, dx, l.in, false)
	}
	if err := d.Gemm(false, false, n, l.in, r, 1, du, r, lo.a.data, l.in, 0, w.dxd, l.in, false); err != nil {
		return err
	}
	return d.DropoutBackwardAcc(dx, w.dxd, la.xd, x, n*l.in, lo.drop)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (g *Model) acts(w *workspace, li int) *layerActs {
	if len(w.acts) == 1 {
		return &w.acts[0]
	}
	return &w.acts[li]
}

// kvStep makes a forward pass fill a KV cache: a prefill (decode false)
// runs the batch (one sequence) as usual and copies each layer's keys (after
// RoPE) and values of its first rows rows into the cache; a decoding step
// (decode set, a batch of one row at position pos = cache.Len) writes the
// row's key and value into the cache and attends over the cache's pos+1
// rows.
type kvStep struct {
	cache  *KVCache
	decode bool
	rows   int
	pos    int
}

// layerFwd runs layer li from w.hs[li] into w.hs[li+1]; kv (may be nil)
// makes it fill or read a KV cache.
func (g *Model) layerFwd(li int, w *workspace, shape cuda.AttnShape, b *model.Batch, kv *kvStep) error {
	d, c := g.Dev, &g.Host.Cfg
	N, D, I := w.N, c.HiddenSize, c.IntermediateSize
	nh, nkv, hd := c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim
	qd := nh * hd
	eps := float32(c.RMSNormEps)
	L, a := &g.layers[li], g.acts(w, li)
	hIn, hOut := w.hs[li], w.hs[li+1]
	seed := splitmix(b.DropoutSeed ^ uint64(li+1)*0x51ed27)
	xbf := w.xbf
	// A decoding step writes its key and value straight into the cache's
	// row pos.
	kOut, vOut := a.k, a.v
	if kv != nil && kv.decode {
		kd := nkv * hd
		kOut = kv.cache.k[li].F32(kv.pos*kd, (kv.pos+1)*kd)
		vOut = kv.cache.v[li].F32(kv.pos*kd, (kv.pos+1)*kd)
	}
	attention := func() error { return d.Attention(a.att, a.lse, a.q, a.k, a.v, shape) }
	switch {
	case kv != nil && kv.decode:
		attention = func() error {
			return d.AttentionDecode(a.att, kv.cache.scores, a.q, kv.cache.k[li], kv.cache.v[li], kv.pos+1, nh, nkv, hd)
		}
	case kv != nil:
		attention = func() error {
			kd := nkv * hd
			if err := d.Copy(kv.cache.k[li].F32(0, kv.rows*kd), a.k.F32(0, kv.rows*kd)); err != nil {
				return err
			}
			if err := d.Copy(kv.cache.v[li].F32(0, kv.rows*kd), a.v.F32(0, kv.rows*kd)); err != nil {
				return err
			}
			return d.Attention(a.att, a.lse, a.q, a.k, a.v, shape)
		}
	}
	steps := []func() error{
		func() error { return d.RMSNorm(a.xn1, a.rstd1, xbf, hIn, L.attnNorm, N, D, eps) },
	}
	if !L.qNorm.Nil() {
		steps = append(steps,
			func() error { return g.linFwd(&L.lins[0], a.qPre, a.xn1, xbf, N, &a.lora[0], b.Train, seed+1, w) },
			func() error { return g.linFwd(&L.lins[1], a.kPre, a.xn1, xbf, N, &a.lora[1], b.Train, seed+2, w) },
			func() error { return d.RMSNorm(a.q, a.rstdQ, cuda.Buffer{}, a.qPre, L.qNorm, N*nh, hd, eps) },
			func() error { return d.RMSNorm(kOut, a.rstdK, cuda.Buffer{}, a.kPre, L.kNorm, N*nkv, hd, eps) })
	} else {
		steps = append(steps,
			func() error { return g.linFwd(&L.lins[0], a.q, a.xn1, xbf, N, &a.lora[0], b.Train, seed+1, w) },
			func() error { return g.linFwd(&L.lins[1], kOut, a.xn1, xbf, N, &a.lora[1], b.Train, seed+2, w) })
	}
	steps = append(steps,
		func() error { return g.linFwd(&L.lins[2], vOut, a.xn1, xbf, N, &a.lora[2], b.Train, seed+3, w) },
		func() error { return d.Rope(a.q, g.cos, g.sin, w.pos, N, nh, hd, false) },
		func() error { return d.Rope(kOut, g.cos, g.sin, w.pos, N, nkv, hd, false) },
		attention,
		func() error {
			if xbf.Nil() {
				return nil
			}
			return d.CastBF16(xbf, a.att, N*qd)
		},
		func() error { return g.linFwd(&L.lins[3], a.h2, a.att, xbf, N, &a.lora[3], b.Train, seed+4, w) },
		func() error { return d.Add(a.h2, hIn, N*D) },
		func() error { return d.RMSNorm(a.xn2, a.rstd2, xbf, a.h2, L.mlpNorm, N, D, eps) },
		func() error { return g.linFwd(&L.lins[4], a.gate, a.xn2, xbf, N, &a.lora[4], b.Train, seed+5, w) },
		func() error { return g.linFwd(&L.lins[5], a.up, a.xn2, xbf, N, &a.lora[5], b.Train, seed+6, w) },
		func() error { return d.SwiGLU(a.act, a.sig, xbf, a.gate, a.up, N*I) },
		func() error { return g.linFwd(&L.lins[6], hOut, a.act, xbf, N, &a.lora[6], b.Train, seed+7, w) },
		func() error { return d.Add(hOut, a.h2, N*D) },
	)
	for _, s := range steps {
		if err := s(); err != nil {
			return fmt.Errorf("layer %d: %w", li, err)
		}
	}
	return nil
}

func (g *Model) layerBwd(li int, w *workspace, shape cuda.AttnShape) error {
	d, c := g.Dev, &g.Host.Cfg
	N, D, I := w.N, c.HiddenSize, c.IntermediateSize
	nh, nkv, hd := c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim
	L, a := &g.layers[li], g.acts(w, li)
	dh := w.dh
	if err := g.linBwd(&L.lins[6], w.dx, dh, a.act, N, &a.lora[6], false, w); err != nil {
		return err
	}
	if err := d.SwiGLUBackward(w.dgate, w.dup, w.dx, a.gate, a.up, a.sig, N*I); err != nil {
		return err
	}
	dxn2 := w.dx
	if err := g.linBwd(&L.lins[4], dxn2, w.dgate, a.xn2, N, &a.lora[4], false, w); err != nil {
		return err
	}
	if err := g.linBwd(&L.lins[5], dxn2, w.dup, a.xn2, N, &a.lora[5], true, w); err != nil {
		return err
	}
	if L.mlpNormP != nil {
		if err := d.RMSNormDW(L.mlpNormP.grad, dxn2, a.h2, a.rstd2, N, D); err != nil {
			return err
		}
	}
	if err := d.RMSNormBackward(dh, dxn2, a.h2, L.mlpNorm, a.rstd2, N, D, true); err != nil {
		return err
	}
	if err := g.linBwd(&L.lins[3], w.datt, dh, a.att, N, &a.lora[3], false, w); err != nil {
		return err
	}
	if err := d.AttentionBackward(w.dq, w.dk, w.dv, w.datt, a.q, a.k, a.v, a.att, a.lse, w.attnD, shape); err != nil {
		return err
	}
	if err := d.Rope(w.dq, g.cos, g.sin, w.pos, N, nh, hd, true); err != nil {
		return err
	}
	if err := d.Rope(w.dk, g.cos, g.sin, w.pos, N, nkv, hd, true); err != nil {
		return err
	}
	dxn1 := w.dx
	needDX := li > 0 || g.embedP != nil || L.attnNormP != nil
	if !needDX {
		dxn1 = cuda.Buffer{}
	}
	dq, dk := w.dq, w.dk
	if !L.qNorm.Nil() {
		dqPre, dkPre := w.datt, w.dgate
		if L.qNormP != nil {
			if err := d.RMSNormDW(L.qNormP.grad, w.dq, a.qPre, a.rstdQ, N*nh, hd); err != nil {
				return err
			}
			if err := d.RMSNormDW(L.kNormP.grad, w.dk, a.kPre, a.rstdK, N*nkv, hd); err != nil {
				return err
			}
		}
		if err := d.RMSNormBackward(dqPre, w.dq, a.qPre, L.qNorm, a.rstdQ, N*nh, hd, false); err != nil {
			return err
		}
		if err := d.RMSNormBackward(dkPre, w.dk, a.kPre, L.kNorm, a.rstdK, N*nkv, hd, false); err != nil {
			return err
		}
		dq, dk = dqPre, dkPre
	}
	if err := g.linBwd(&L.lins[0], dxn1, dq, a.xn1, N, &a.lora[0], false, w); err != nil {
		return err
	}
	if err := g.linBwd(&L.lins[1], dxn1, dk, a.xn1, N, &a.lora[1], true, w); err != nil {
		return err
	}
	if err := g.linBwd(&L.lins[2], dxn1, w.dv, a.xn1, N, &a.lora[2], true, w); err != nil {
		return err
	}
	if !needDX {
		return nil
	}
	if L.attnNormP != nil {
		if err := d.RMSNormDW(L.attnNormP.grad, dxn1, w.hs[li], a.rstd1, N, D); err != nil {
			return err
		}
	}
	return d.RMSNormBackward(dh, dxn1, w.hs[li], L.attnNorm, a.rstd1, N, D, true)
}

// forward checks b, uploads it and runs the forward pass up to the final
// RMSNorm: w.xnF (and w.xbf in bf16 mode) hold the normed last hidden
// states of the B·T rows. kv (may be nil) makes it fill or read a KV cache
// (kvStep); a decoding step runs in the decoding workspace.
func (g *Model) forward(b *model.Batch, backward bool, kv *kvStep) (*workspace, cuda.AttnShape, error) {
	c := &g.Host.Cfg
	d := g.Dev
	N, D, V := b.B*b.T, c.HiddenSize, c.VocabSize
	var shape cuda.AttnShape
	if len(b.IDs) != N || len(b.Labels) != N {
		return nil, shape, fmt.Errorf("batch: %d ids and %d labels for %d×%d", len(b.IDs), len(b.Labels), b.B, b.T)
	}
	if c.Window > 0 && b.T > c.Window {
		return nil, shape, fmt.Errorf("batch: sequence of %d tokens exceeds the sliding window of %d, which is not implemented", b.T, c.Window)
	}
	for i, id := range b.IDs {
		if id < 0 || int(id) >= V {
			return nil, shape, fmt.Errorf("batch: token id %d at row %d outside vocabulary of %d", id, i, V)
		}
	}
	pos := b.Pos
	if pos == nil {
		pos = make([]int32, N)
		for r := range pos {
			pos[r] = int32(r % b.T)
		}
	}
	for _, p := range pos {
		if int(p) >= g.Host.Rope.MaxPos {
			return nil, shape, fmt.Errorf("batch: position %d beyond max_position_embeddings (%d)", p, g.Host.Rope.MaxPos)
		}
	}
	var w *workspace
	var err error
	if kv != nil && kv.decode {
		if b.B != 1 || b.T != 1 || backward {
			return nil, shape, fmt.Errorf("batch: a decoding step is one row, not %d×%d", b.B, b.T)
		}
		w, err = g.decodeWorkspace()
	} else {
		w, err = g.workspace(b.B, b.T, backward)
	}
	if err != nil {
		return nil, shape, err
	}
	for _, up := range []struct {
		dst cuda.Buffer
		src []int32
	}{{w.ids, b.IDs}, {w.labels, b.Labels}, {w.pos, pos}, {w.seg, b.SegStart}} {
		if err := cuda.Upload(up.dst, up.src); err != nil {
			return nil, shape, err
		}
	}
	shape = cuda.AttnShape{B: b.B, T: b.T, Heads: c.NumAttentionHeads, KVHeads: c.NumKeyValueHeads, HeadDim: c.HeadDim}
	if b.SegStart != nil {
		shape.Seg = w.seg
	}
	eps := float32(c.RMSNormEps)
	if err := d.Embedding(w.hs[0], g.embed, w.ids, N, D); err != nil {
		return nil, shape, err
	}
	for li := range g.layers {
		if err := g.layerFwd(li, w, shape, b, kv); err != nil {
			return nil, shape, err
		}
	}
	hL := w.hs[len(g.layers)]
	if err := d.RMSNorm(w.xnF, w.rstdF, w.xbf, hL, g.norm, N, D, eps); err != nil {
		return nil, shape, err
	}
	return w, shape, nil
}

// ForwardBackward is model.Model.ForwardBackward on the device: it returns
// the summed loss over labelled rows and their count and, with backward,
// accumulates gradScale·∂loss/∂θ into the device gradients.
func (g *Model) ForwardBackward(b *model.Batch, gradScale float32, backward bool) (float64, int, error) {
	c := &g.Host.Cfg
	d := g.Dev
	N, D, V := b.B*b.T, c.HiddenSize, c.VocabSize
	w, shape, err := g.forward(b, backward, nil)
	if err != nil {
		return 0, 0, err
	}
	hL := w.hs[len(g.layers)]
	xbf := w.xbf
	// Chunked cross-entropy: logits of xrows rows at a time.
	var dxn cuda.Buffer
	if backward {
		dxn = w.dx
	}
	for r0 := 0; r0 < N; r0 += w.xrows {
		m := min(w.xrows, N-r0)
		lg := w.logits.F32(0, m*V)
		if g.Opt.BF16 {
			err = d.Gemm(false, true, m, V, D, 1, xbf.BF16(r0*D, (r0+m)*D), D, g.headbf, D, 0, lg, V, true)
		} else {
			err = d.Gemm(false, true, m, V, D, 1, w.xnF.F32(r0*D, (r0+m)*D), D, g.head, D, 0, lg, V, false)
		}
		if err != nil {
			return 0, 0, err
		}
		var gbf cuda.Buffer
		if backward && g.Opt.BF16 {
			gbf = w.gbf.BF16(0, m*V)
		}
		if err := d.XentRows(lg, gbf, w.loss.F32(r0, r0+m), w.labels.F32(r0, r0+m), m, V, gradScale, backward); err != nil {
			return 0, 0, err
		}
		if !backward {
			continue
		}
		if g.Opt.BF16 {
			err = d.Gemm(false, false, m, D, V, 1, gbf, V, g.headbf, D, 0, dxn.F32(r0*D, (r0+m)*D), D, true)
		} else {
			err = d.Gemm(false, false, m, D, V, 1, lg, V, g.head, D, 0, dxn.F32(r0*D, (r0+m)*D), D, false)
		}
		if err != nil {
			return 0, 0, err
		}
		if g.headP != nil {
			if err := d.Gemm(true, false, V, D, m, 1, lg, V, w.xnF.F32(r0*D, (r0+m)*D), D, 1, g.headP.grad, D, false); err != nil {
				return 0, 0, err
			}
		}
	}
	if backward {
		if g.normP != nil {
			if err := d.RMSNormDW(g.normP.grad, dxn, hL, w.rstdF, N, D); err != nil {
				return 0, 0, err
			}
		}
		if err := d.RMSNormBackward(w.dh, dxn, hL, g.norm, w.rstdF, N, D, false); err != nil {
			return 0, 0, err
		}
		for li := len(g.layers) - 1; li >= 0; li-- {
			if g.Opt.Checkpointing {
				if err := g.layerFwd(li, w, shape, b, nil); err != nil {
					return 0, 0, err
				}
			}
			if err := g.layerBwd(li, w, shape); err != nil {
				return 0, 0, fmt.Errorf("layer %d backward: %w", li, err)
			}
		}
		if g.embedP != nil {
			if err := d.EmbeddingBackward(g.embedP.grad, w.dh, w.ids, N, D); err != nil {
				return 0, 0, err
			}
		}
	}
	losses := make([]float32, N)
	if err := cuda.Download(losses, w.loss); err != nil {
		return 0, 0, err
	}
	var sum float64
	count := 0
	for i, l := range losses {
		if b.Labels[i] != nn.IgnoreIndex {
			sum += float64(l)
			count++
		}
	}
	return sum, count, nil
}
