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
	// qkv [N, qd+2kd] and gu [N, 2I] back q/k/v and gate/up: either as the
	// column blocks of a fused group's output (gq.ld, gg.ld > 0, see
	// fuse.go) or as consecutive packed blocks.
	qkv, gu []float32
	gq, gg  groupActs
}

type workspace struct {
	B, T             int
	layers           []layerActs
	hOut, xnF, rstdF []float32
	pos              []int32
	// backward scratch
	dh, dx, dq, dk, dv, datt, dgate, dup, du, dxd []float32
	dqkv, dgu, dacat                              []float32
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
		a.hIn, a.xn1, a.qkv = f(a.hIn, N*D), f(a.xn1, N*D), f(a.qkv, N*(qd+2*kd))
		a.att, a.h2, a.xn2 = f(a.att, N*qd), f(a.h2, N*D), f(a.xn2, N*D)
		a.gu, a.act, a.sig = f(a.gu, N*2*I), f(a.act, N*I), f(a.sig, N*I)
		a.gq.ld, a.gg.ld = 0, 0
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
		w.dh, w.dx, w.dqkv = f(w.dh, N*D), f(w.dx, N*max(D, I)), f(w.dqkv, N*(qd+2*kd))
		w.dq, w.dk, w.dv = w.dqkv[:N*qd], w.dqkv[N*qd:N*(qd+kd)], w.dqkv[N*(qd+kd):]
		w.datt, w.dgu = f(w.datt, N*max(qd, D)), f(w.dgu, N*2*I)
		w.dgate, w.dup = w.dgu[:N*I], w.dgu[N*I:]
		// A fused group's LoRA products use the members' ranks side by side.
		w.du, w.dxd = f(w.du, N*3*maxR), f(w.dxd, N*max(D, I, qd))
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
	if la != nil {
		la.dropped = false
	}
	if activeLoRA(lin) == nil {
		return
	}
	loraFwd(lin, y, lin.Out, x, n, la, train, seed, scratch)
}

// loraFwd adds lin's LoRA term to y [n, ldy] (its first lin.Out columns).
func loraFwd(lin *Linear, y []float32, ldy int, x []float32, n int, la *loraActs, train bool, seed uint64, scratch []float32) {
	l := lin.LoRA
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
	nn.CurrentBackend().Sgemm(false, true, n, lin.Out, l.Rank, l.Scale, u, l.Rank, l.B.Data, l.Rank, 1, y, ldy)
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
	if activeLoRA(lin) == nil {
		return
	}
	w.loraBwd(lin, dx, dy, lin.Out, x, n, la)
}

// loraBwd accumulates the gradients of lin's LoRA weights from dy [n, ldy]
// (its first lin.Out columns) and adds the LoRA term's input gradient to dx
// (nil: skipped).
func (w *workspace) loraBwd(lin *Linear, dx, dy []float32, ldy int, x []float32, n int, la *loraActs) {
	l := lin.LoRA
	be := nn.CurrentBackend()
	r := l.Rank
	du := w.du[:n*r]
	// du = scale·dy·B ; dB += scale·dyᵀ·u ; dA += duᵀ·xd ; dx += du·A (·mask)
	be.Sgemm(false, false, n, r, lin.Out, l.Scale, dy, ldy, l.B.Data, r, 0, du, r)
	if l.B.Grad != nil {
		be.Sgemm(true, false, lin.Out, r, n, l.Scale, dy, ldy, la.u, r, 1, l.B.Grad, r)
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
	shape := nn.AttnShape{B: b.B, T: b.T, Heads: nh, KVHeads: nkv, HeadDim: hd, SegStart: b.SegStart, BF16: m.bf16}
	eps := float32(c.RMSNormEps)
	h := w.hOut
	nn.Embedding(h, m.Embed.Data, b.IDs, D)
	if len(m.fz) != len(m.Layers) {
		m.fz = make([]layerFused, len(m.Layers))
	}
	for li := range m.Layers {
		L, a := &m.Layers[li], &w.layers[li]
		seed := splitmix(b.DropoutSeed ^ uint64(li+1)*0x51ed27)
		copy(a.hIn, h)
		nn.RMSNorm(a.xn1, a.rstd1, h, L.AttnNorm.Data, N, D, eps)
		qkv := []*Linear{&L.Q, &L.K, &L.V}
		a.gq.ld = 0
		if L.QNorm == nil && m.groupable(qkv) {
			// One [N, qd+2kd] product; q, k, v are its column blocks.
			ld := qd + 2*kd
			groupFwd(&m.fz[li].qkv, qkv, a.qkv, ld, a.xn1, N, &a.gq, a.lora[0:3], b.Train, seed+1, growF)
			a.q, a.k, a.v = a.qkv[:N*ld], a.qkv[qd:N*ld], a.qkv[qd+kd:N*ld]
		} else {
			a.q, a.k, a.v = a.qkv[:N*qd], a.qkv[N*qd:N*(qd+kd)], a.qkv[N*(qd+kd):]
		}
		if a.gq.ld > 0 {
			ld := a.gq.ld
			sh := shape
			sh.Ld = ld
			m.Rope.ApplyLd(a.q, ld, pos, N, nh, false)
			m.Rope.ApplyLd(a.k, ld, pos, N, nkv, false)
			nn.Attention(a.att, a.lse, a.q, a.k, a.v, sh)
		} else {
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
		}
		// h2 = h + o(att)
		linearFwd(&L.O, a.h2, a.att, N, &a.lora[3], b.Train, seed+4, nil)
		nn.Add(a.h2, h)
		nn.RMSNorm(a.xn2, a.rstd2, a.h2, L.MLPNorm.Data, N, D, eps)
		gu := []*Linear{&L.Gate, &L.Up}
		a.gg.ld = 0
		if m.groupable(gu) {
			// One [N, 2I] product: each row the gate's I values, then up's.
			groupFwd(&m.fz[li].gu, gu, a.gu, 2*I, a.xn2, N, &a.gg, a.lora[4:6], b.Train, seed+5, growF)
			nn.SwiGLUFused(a.act, a.sig, a.gu, N, I)
		} else {
			a.gate, a.up = a.gu[:N*I], a.gu[N*I:]
			linearFwd(&L.Gate, a.gate, a.xn2, N, &a.lora[4], b.Train, seed+5, nil)
			linearFwd(&L.Up, a.up, a.xn2, N, &a.lora[5], b.Train, seed+6, nil)
			nn.SwiGLUSaved(a.act, a.sig, a.gate, a.up)
		}
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
		dxn2 := w.dx[:N*D]
		if a.gg.ld > 0 {
			nn.SwiGLUBackwardFused(w.dgu, dA, a.gu, a.sig, N, I)
			w.groupBwd(&m.fz[li].gu, []*Linear{&L.Gate, &L.Up}, dxn2, w.dgu, a.xn2, N, &a.gg, a.lora[4:6], false)
		} else {
			nn.SwiGLUBackwardSaved(w.dgate, w.dup, dA, a.gate, a.up, a.sig)
			w.linearBwd(&L.Gate, dxn2, w.dgate, a.xn2, N, &a.lora[4], false)
			w.linearBwd(&L.Up, dxn2, w.dup, a.xn2, N, &a.lora[5], true)
		}
		nn.RMSNormBackward(dh, gradOf(L.MLPNorm), dxn2, a.h2, L.MLPNorm.Data, a.rstd2, N, D, true)
		// attention: h2 = hIn + o(att)
		datt := w.datt[:N*qd]
		w.linearBwd(&L.O, datt, dh, a.att, N, &a.lora[3], false)
		dxn1 := w.dx[:N*D]
		// The first layer's input gradient feeds only the embedding and the
		// first norm's weight: skip it when neither trains (LoRA).
		needDX := li > 0 || m.Embed.Grad != nil || gradOf(L.AttnNorm) != nil
		if !needDX {
			dxn1 = nil
		}
		if ld := a.gq.ld; ld > 0 {
			// dq, dk, dv are the column blocks of one [N, ld] gradient.
			sh := shape
			sh.Ld = ld
			dq, dk, dv := w.dqkv[:N*ld], w.dqkv[qd:N*ld], w.dqkv[qd+kd:N*ld]
			nn.AttentionBackward(dq, dk, dv, datt, a.q, a.k, a.v, a.att, a.lse, sh)
			m.Rope.ApplyLd(dq, ld, pos, N, nh, true)
			m.Rope.ApplyLd(dk, ld, pos, N, nkv, true)
			w.groupBwd(&m.fz[li].qkv, []*Linear{&L.Q, &L.K, &L.V}, dxn1, w.dqkv, a.xn1, N, &a.gq, a.lora[0:3], false)
			if needDX {
				nn.RMSNormBackward(dh, gradOf(L.AttnNorm), dxn1, a.hIn, L.AttnNorm.Data, a.rstd1, N, D, true)
			}
			continue
		}
		nn.AttentionBackward(w.dq, w.dk, w.dv, datt, a.q, a.k, a.v, a.att, a.lse, shape)
		m.Rope.Apply(w.dq, pos, N, nh, true)
		m.Rope.Apply(w.dk, pos, N, nkv, true)
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
