package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// interleave packs row blocks: out row r = a row r, then b row r, ...
func interleave(n int, parts [][]float32, widths []int) ([]float32, int) {
	ld := 0
	for _, w := range widths {
		ld += w
	}
	out := make([]float32, n*ld)
	for r := 0; r < n; r++ {
		o := 0
		for i, p := range parts {
			copy(out[r*ld+o:], p[r*widths[i]:(r+1)*widths[i]])
			o += widths[i]
		}
	}
	return out, ld
}

func sameBits(t *testing.T, name string, got []float32, ld, off int, want []float32, n, w int) {
	t.Helper()
	for r := 0; r < n; r++ {
		for j := 0; j < w; j++ {
			if g, x := got[r*ld+off+j], want[r*w+j]; math.Float32bits(g) != math.Float32bits(x) {
				t.Fatalf("%s[%d,%d] = %v fused, %v packed", name, r, j, g, x)
			}
		}
	}
}

// TestFusedLayoutsMatchPacked checks the strided kernels the fused
// projection groups use (attention and RoPE on column blocks of one [N, Ld]
// q/k/v buffer, SwiGLU on one [N, 2I] gate/up buffer) against the packed
// kernels: bit-identical results.
func TestFusedLayoutsMatchPacked(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(8, 8))
	s := AttnShape{B: 2, T: 130, Heads: 4, KVHeads: 2, HeadDim: 8}
	n, qd, kd := s.B*s.T, s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
	q, k, v := randn(r, n*qd, 1), randn(r, n*kd, 1), randn(r, n*kd, 1)
	qkv, ld := interleave(n, [][]float32{q, k, v}, []int{qd, kd, kd})
	pos := make([]int32, n)
	for i := range pos {
		pos[i] = int32(i % s.T)
	}
	rope := NewRope(s.HeadDim, 256, InvFreq(s.HeadDim, 10000, nil))
	rope.Apply(q, pos, n, s.Heads, false)
	rope.Apply(k, pos, n, s.KVHeads, false)
	rope.ApplyLd(qkv, ld, pos, n, s.Heads, false)
	rope.ApplyLd(qkv[qd:], ld, pos, n, s.KVHeads, false)
	sameBits(t, "rope q", qkv, ld, 0, q, n, qd)
	sameBits(t, "rope k", qkv, ld, qd, k, n, kd)

	out, lse := make([]float32, n*qd), make([]float32, n*s.Heads)
	Attention(out, lse, q, k, v, s)
	fs := s
	fs.Ld = ld
	out2, lse2 := make([]float32, n*qd), make([]float32, n*s.Heads)
	Attention(out2, lse2, qkv, qkv[qd:], qkv[qd+kd:], fs)
	sameBits(t, "attention out", out2, qd, 0, out, n, qd)
	sameBits(t, "attention lse", lse2, s.Heads, 0, lse, n, s.Heads)

	dout := randn(r, n*qd, 1)
	dq, dk, dv := make([]float32, n*qd), make([]float32, n*kd), make([]float32, n*kd)
	AttentionBackward(dq, dk, dv, dout, q, k, v, out, lse, s)
	dqkv := randn(r, n*ld, 1) // garbage: every element the backward owns is overwritten
	AttentionBackward(dqkv, dqkv[qd:], dqkv[qd+kd:], dout, qkv, qkv[qd:], qkv[qd+kd:], out2, lse2, fs)
	sameBits(t, "dq", dqkv, ld, 0, dq, n, qd)
	sameBits(t, "dk", dqkv, ld, qd, dk, n, kd)
	sameBits(t, "dv", dqkv, ld, qd+kd, dv, n, kd)

	const inter = 37
	g, u := randn(r, n*inter, 2), randn(r, n*inter, 1)
	gu, _ := interleave(n, [][]float32{g, u}, []int{inter, inter})
	act, sig := make([]float32, n*inter), make([]float32, n*inter)
	SwiGLUSaved(act, sig, g, u)
	act2, sig2 := make([]float32, n*inter), make([]float32, n*inter)
	SwiGLUFused(act2, sig2, gu, n, inter)
	sameBits(t, "swiglu", act2, inter, 0, act, n, inter)
	sameBits(t, "sigmoid", sig2, inter, 0, sig, n, inter)
	da := randn(r, n*inter, 1)
	dg, du := make([]float32, n*inter), make([]float32, n*inter)
	SwiGLUBackwardSaved(dg, du, da, g, u, sig)
	dgu := make([]float32, n*2*inter)
	SwiGLUBackwardFused(dgu, da, gu, sig2, n, inter)
	sameBits(t, "dgate", dgu, 2*inter, 0, dg, n, inter)
	sameBits(t, "dup", dgu, 2*inter, inter, du, n, inter)
}
