package model

import (
	"fmt"

	"github.com/whetstone/whetstone/internal/engine/nn"
)

// Batch is one training or evaluation batch of B sequences of T tokens.
type Batch struct {
	B, T int
	// IDs [B·T] are the input tokens.
	IDs []int32
	// Labels [B·T]: Labels[r] is the token row r should predict (the next
	// one), or nn.IgnoreIndex.
	Labels []int32
	// Pos [B·T] are RoPE positions; nil means 0..T-1 in every sequence.
	Pos []int32
	// SegStart [B·T], for packed sequences, is where each row's sample
	// starts (see nn.AttnShape); nil means one sample per sequence.
	SegStart []int32
	// Train applies LoRA dropout, with masks seeded by DropoutSeed.
	Train       bool
	DropoutSeed uint64
}

type loraActs struct {
	u  []float32 // [N, r] = dropout(x)·Aᵀ
	xd []float32 // [N, in] dropout(x), only with dropout
	// dropped reports whether the last forward pass applied dropout (xd valid).
	dropped bool
}

type layerActs struct {
	hIn, xn1, q, k, v, att, h2, xn2, gate, up, act, sig []float32
	rstd1, rstd2, lse                                   []float32
	qPre, kPre, rstdQ, rstdK                            []float32 // Qwen3 q/k norm
	lora                                                [7]loraActs
}

type workspace struct {
	B, T             int
	layers           []layerActs
	hOut, xnF, rstdF []float32
	pos              []int32
	// backward scratch
	dh, dx, dq, dk, dv, datt, dgate, dup, du, dxd []float32
}

func (m *Model) workspace(B, T int, backward bool) *workspace {
	if w := m.ws; w != nil && w.B == B && w.T == T && (!backward || len(w.dh) == B*T*m.Cfg.HiddenSize) {
		return w
	}
	// Reuse the previous buffers when they are large enough: batches of
	// varying length then cost no allocations once the longest has run.
	old := m.ws
	if old == nil || len(old.layers) != len(m.Layers) {
		old = &workspace{layers: make([]layerActs, len(m.Layers))}
	}
	c := &m.Cfg
	N, D, I := B*T, c.HiddenSize, c.IntermediateSize
	qd, kd := c.NumAttentionHeads*c.HeadDim, c.NumKeyValueHeads*c.HeadDim
	w := old
	w.B, w.T = B, T
	f := func(buf []float32, n int) []float32 {
		if cap(buf) >= n {
			return buf[:n]
		}
		return make([]float32, n, n+n/4)
	}
	maxR := 0
	for i := range w.layers {
		a := &w.layers[i]
		a.hIn, a.xn1, a.q, a.k, a.v = f(a.hIn, N*D), f(a.xn1, N*D), f(a.q, N*qd), f(a.k, N*kd), f(a.v, N*kd)
		a.att, a.h2, a.xn2 = f(a.att, N*qd), f(a.h2, N*D), f(a.xn2, N*D)
		a.gate, a.up, a.act, a.sig = f(a.gate, N*I), f(a.up, N*I), f(a.act, N*I), f(a.sig, N*I)
		a.rstd1, a.rstd2, a.lse = f(a.rstd1, N), f(a.rstd2, N), f(a.lse, N*c.NumAttentionHeads)
		if m.Layers[i].QNorm != nil {
			a.qPre, a.kPre, a.rstdQ, a.rstdK = f(a.qPre, N*qd), f(a.kPre, N*kd), f(a.rstdQ, N*c.NumAttentionHeads), f(a.rstdK, N*c.NumKeyValueHeads)
		}
		lins := m.Layers[i].Linears()
		for j, t := range LinearNames {
			a.lora[j].dropped = false
			if l := lins[t].LoRA; l != nil {
				a.lora[j].u = f(a.lora[j].u, N*l.Rank)
				if l.Dropout > 0 {
					a.lora[j].xd = f(a.lora[j].xd, N*lins[t].In)
				}
				maxR = max(maxR, l.Rank)
			}
		}
	}
	w.hOut, w.xnF, w.rstdF = f(w.hOut, N*D), f(w.xnF, N*D), f(w.rstdF, N)
	if cap(w.pos) >= N {
		w.pos = w.pos[:N]
	} else {
		w.pos = make([]int32, N)
	}
	if backward {
		w.dh, w.dx, w.dq, w.dk, w.dv = f(w.dh, N*D), f(w.dx, N*max(D, I)), f(w.dq, N*qd), f(w.dk, N*kd), f(w.dv, N*kd)
		w.datt, w.dgate, w.dup = f(w.datt, N*max(qd, D)), f(w.dgate, N*I), f(w.dup, N*I)
		w.du, w.dxd = f(w.du, N*maxR), f(w.dxd, N*max(D, I, qd))
	}
	m.ws = w
	return w
}

// ReleaseWorkspace drops the cached activation buffers.
func (m *Model) ReleaseWorkspace() { m.ws = nil }

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// linearFwd computes y = x·Wᵀ + b + LoRA. With train set, LoRA dropout is
// applied and its activations are saved in la.
func linearFwd(lin *Linear, y, x []float32, n int, la *loraActs, train bool, seed uint64, scratch []float32) {
	if lin.Q != nil {
		nn.LinearNF4(y, x, lin.Q, lin.QBF16, biasData(lin.B), n)
	} else {
		nn.LinearW(y, x, lin.W.Data, lin.Wbf, biasData(lin.B), n, lin.In, lin.Out)
	}
	l := lin.LoRA
	if l == nil || l.Off {
		return
	}
	xin := x
	if la != nil {
		la.dropped = train && l.Dropout > 0
	}
	if train && l.Dropout > 0 {
		keep := 1 / (1 - l.Dropout)
		thr := uint64(float64(l.Dropout) * (1 << 53))
		xd := la.xd
		for i := range x[:n*lin.In] {
			if splitmix(seed^uint64(i)*0x9e3779b97f4a7c15)>>11 < thr {
				xd[i] = 0
			} else {
				xd[i] = x[i] * keep
			}
		}
		xin = xd
	}
	var u []float32
	if la != nil {
		u = la.u
	} else {
		u = scratch[:n*l.Rank]
	}
	nn.Linear(u, xin, l.A.Data, nil, n, lin.In, l.Rank)
	// y += scale·u·Bᵀ
	nn.CurrentBackend().Sgemm(false, true, n, lin.Out, l.Rank, l.Scale, u, l.Rank, l.B.Data, l.Rank, 1, y, lin.Out)
}

// linearBwd accumulates dx (+)= ∂/∂x and the gradients of lin's trainable
// weights from dy. x is the forward input. A nil dx skips ∂/∂x.
func (w *workspace) linearBwd(lin *Linear, dx, dy, x []float32, n int, la *loraActs, accumulate bool) {
	var dW, dB []float32
	if lin.W.Grad != nil {
		dW = lin.W.Grad
	}
	if lin.B != nil && lin.B.Grad != nil {
		dB = lin.B.Grad
	}
	if lin.Q != nil {
		// The NF4 base is frozen: only dx (and a trainable bias' gradient).
		if dx != nil {
			nn.LinearBackwardNF4(dx, dy, lin.Q, lin.QBF16, n, accumulate)
		}
		if dB != nil {
			nn.LinearBackward(nil, nil, dB, dy, nil, nil, n, lin.In, lin.Out, true)
		}
	} else {
		nn.LinearBackwardW(dx, dW, dB, dy, x, lin.W.Data, lin.Wbf, n, lin.In, lin.Out, accumulate)
	}
	l := lin.LoRA
	if l == nil || l.Off {
		return
	}
	be := nn.CurrentBackend()
	r := l.Rank
	du := w.du[:n*r]
	// du = scale·dy·B ; dB += scale·dyᵀ·u ; dA += duᵀ·xd ; dx += du·A (·mask)
	be.Sgemm(false, false, n, r, lin.Out, l.Scale, dy, lin.Out, l.B.Data, r, 0, du, r)
	if l.B.Grad != nil {
		be.Sgemm(true, false, lin.Out, r, n, l.Scale, dy, lin.Out, la.u, r, 1, l.B.Grad, r)
	}
	xin := x
	if la.dropped {
		xin = la.xd
	}
	if l.A.Grad != nil {
		be.Sgemm(true, false, r, lin.In, n, 1, du, r, xin, lin.In, 1, l.A.Grad, lin.In)
	}
	if dx == nil {
		return
	}
	if !la.dropped {
		be.Sgemm(false, false, n, lin.In, r, 1, du, r, l.A.Data, lin.In, 1, dx, lin.In)
		return
	}
	dxd := w.dxd[:n*lin.In]
	be.Sgemm(false, false, n, lin.In, r, 1, du, r, l.A.Data, lin.In, 0, dxd, lin.In)
	keep := 1 / (1 - l.Dropout)
	for i, v := range la.xd[:n*lin.In] {
		if v != 0 || x[i] == 0 {
			dx[i] += dxd[i] * keep
		}
	}
}

func biasData(p *Param) []float32 {
	if p == nil {
		return nil
	}
	return p.Data
}

func gradOf(p *Param) []float32 {
	if p == nil {
		return nil
	}
	return p.Grad
}

// ForwardBackward runs the model on b and returns the summed next-token loss
// over labelled rows and their count. With backward set it also accumulates
// gradScale·∂(summed loss)/∂θ into every trainable Param's Grad (pass
// gradScale = 1/total labelled rows of the optimiser step for a mean loss).
func (m *Model) ForwardBackward(b *Batch, gradScale float32, backward bool) (float64, int, error) {
	c := &m.Cfg
	N, D, I := b.B*b.T, c.HiddenSize, c.IntermediateSize
	if len(b.IDs) != N || len(b.Labels) != N {
		return 0, 0, fmt.Errorf("batch: %d ids and %d labels for %d×%d", len(b.IDs), len(b.Labels), b.B, b.T)
	}
	if c.Window > 0 && b.T > c.Window {
		return 0, 0, fmt.Errorf("batch: sequence of %d tokens exceeds the sliding window of %d, which is not implemented", b.T, c.Window)
	}
	for i, id := range b.IDs {
		if id < 0 || int(id) >= c.VocabSize {
			return 0, 0, fmt.Errorf("batch: token id %d at row %d outside vocabulary of %d", id, i, c.VocabSize)
		}
	}
	qd, kd, nh, nkv, hd := c.NumAttentionHeads*c.HeadDim, c.NumKeyValueHeads*c.HeadDim, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim
	w := m.workspace(b.B, b.T, backward)
	pos := b.Pos
	if pos == nil {
		pos = w.pos
		for r := range pos {
			pos[r] = int32(r % b.T)
		}
	}
	for _, p := range pos {
		if int(p) >= m.Rope.MaxPos {
			return 0, 0, fmt.Errorf("batch: position %d: %w (%d)", p, errTooLong, m.Rope.MaxPos)
		}
	}
	shape := nn.AttnShape{B: b.B, T: b.T, Heads: nh, KVHeads: nkv, HeadDim: hd, SegStart: b.SegStart}
	eps := float32(c.RMSNormEps)
	h := w.hOut
	nn.Embedding(h, m.Embed.Data, b.IDs, D)
	for li := range m.Layers {
		L, a := &m.Layers[li], &w.layers[li]
		seed := splitmix(b.DropoutSeed ^ uint64(li+1)*0x51ed27)
		copy(a.hIn, h)
		nn.RMSNorm(a.xn1, a.rstd1, h, L.AttnNorm.Data, N, D, eps)
		if L.QNorm != nil {
			linearFwd(&L.Q, a.qPre, a.xn1, N, &a.lora[0], b.Train, seed+1, nil)
			linearFwd(&L.K, a.kPre, a.xn1, N, &a.lora[1], b.Train, seed+2, nil)
			nn.RMSNorm(a.q, a.rstdQ, a.qPre, L.QNorm.Data, N*nh, hd, eps)
			nn.RMSNorm(a.k, a.rstdK, a.kPre, L.KNorm.Data, N*nkv, hd, eps)
		} else {
			linearFwd(&L.Q, a.q, a.xn1, N, &a.lora[0], b.Train, seed+1, nil)
			linearFwd(&L.K, a.k, a.xn1, N, &a.lora[1], b.Train, seed+2, nil)
		}
		linearFwd(&L.V, a.v, a.xn1, N, &a.lora[2], b.Train, seed+3, nil)
		m.Rope.Apply(a.q, pos, N, nh, false)
		m.Rope.Apply(a.k, pos, N, nkv, false)
		nn.Attention(a.att, a.lse, a.q, a.k, a.v, shape)
		// h2 = h + o(att)
		linearFwd(&L.O, a.h2, a.att, N, &a.lora[3], b.Train, seed+4, nil)
		nn.Add(a.h2, h)
		nn.RMSNorm(a.xn2, a.rstd2, a.h2, L.MLPNorm.Data, N, D, eps)
		linearFwd(&L.Gate, a.gate, a.xn2, N, &a.lora[4], b.Train, seed+5, nil)
		linearFwd(&L.Up, a.up, a.xn2, N, &a.lora[5], b.Train, seed+6, nil)
		nn.SwiGLUSaved(a.act, a.sig, a.gate, a.up)
		linearFwd(&L.Down, h, a.act, N, &a.lora[6], b.Train, seed+7, nil)
		nn.Add(h, a.h2)
	}
	nn.RMSNorm(w.xnF, w.rstdF, h, m.Norm.Data, N, D, eps)
	if !backward {
		s, n := nn.CrossEntropyW(nil, nil, w.xnF, m.Head.Data, m.HeadBF16, b.Labels, N, D, c.VocabSize, 0)
		return s, n, nil
	}
	dxn := w.dx[:N*D]
	sum, count := nn.CrossEntropyW(dxn, m.Head.Grad, w.xnF, m.Head.Data, m.HeadBF16, b.Labels, N, D, c.VocabSize, gradScale)
	dh := w.dh
	nn.RMSNormBackward(dh, gradOf(m.Norm), dxn, h, m.Norm.Data, w.rstdF, N, D, false)
	for li := len(m.Layers) - 1; li >= 0; li-- {
		L, a := &m.Layers[li], &w.layers[li]
		// MLP: h = h2 + down(act)
		dA := w.dx[:N*I]
		w.linearBwd(&L.Down, dA, dh, a.act, N, &a.lora[6], false)
		nn.SwiGLUBackwardSaved(w.dgate, w.dup, dA, a.gate, a.up, a.sig)
		dxn2 := w.dx[:N*D]
		w.linearBwd(&L.Gate, dxn2, w.dgate, a.xn2, N, &a.lora[4], false)
		w.linearBwd(&L.Up, dxn2, w.dup, a.xn2, N, &a.lora[5], true)
		nn.RMSNormBackward(dh, gradOf(L.MLPNorm), dxn2, a.h2, L.MLPNorm.Data, a.rstd2, N, D, true)
		// attention: h2 = hIn + o(att)
		datt := w.datt[:N*qd]
		w.linearBwd(&L.O, datt, dh, a.att, N, &a.lora[3], false)
		nn.AttentionBackward(w.dq, w.dk, w.dv, datt, a.q, a.k, a.v, a.att, a.lse, shape)
		m.Rope.Apply(w.dq, pos, N, nh, true)
		m.Rope.Apply(w.dk, pos, N, nkv, true)
		dxn1 := w.dx[:N*D]
		// The first layer's input gradient feeds only the embedding and the
		// first norm's weight: skip it when neither trains (LoRA).
		needDX := li > 0 || m.Embed.Grad != nil || gradOf(L.AttnNorm) != nil
		if !needDX {
			dxn1 = nil
		}
		if L.QNorm != nil {
			// dq is w.r.t. the normed q: go back through the per-head norm,
			// whose input (qPre, kPre) the forward pass kept.
			dqPre, dkPre := w.datt[:N*qd], w.dgate[:N*kd]
			nn.RMSNormBackward(dqPre, gradOf(L.QNorm), w.dq, a.qPre, L.QNorm.Data, a.rstdQ, N*nh, hd, false)
			nn.RMSNormBackward(dkPre, gradOf(L.KNorm), w.dk, a.kPre, L.KNorm.Data, a.rstdK, N*nkv, hd, false)
			copy(w.dq, dqPre)
			copy(w.dk, dkPre)
		}
		w.linearBwd(&L.Q, dxn1, w.dq, a.xn1, N, &a.lora[0], false)
		w.linearBwd(&L.K, dxn1, w.dk, a.xn1, N, &a.lora[1], true)
		w.linearBwd(&L.V, dxn1, w.dv, a.xn1, N, &a.lora[2], true)
		if needDX {
			nn.RMSNormBackward(dh, gradOf(L.AttnNorm), dxn1, a.hIn, L.AttnNorm.Data, a.rstd1, N, D, true)
		}
	}
	if m.Embed.Grad != nil {
		nn.EmbeddingBackward(m.Embed.Grad, dh, b.IDs, D)
	}
	return sum, count, nil
}
