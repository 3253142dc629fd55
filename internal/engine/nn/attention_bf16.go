package nn

import (
	"math"
	"sync"
)

// Attention in bfloat16 (AttnShape.BF16): the four products of the forward
// pass and the five of the backward pass take bfloat16 operands and sum in
// float32, as under PyTorch's bf16 autocast; the softmax, its log-sum-exp
// and its gradient stay float32. Q, K, V (and dO) are rounded to bf16 once
// per call into packed copies; the probabilities P and the score gradient
// dS are rounded per block, just before the product that reads them.

// attnBF16 holds one call's packed bf16 copies of q, k, v (and dout).
type attnBF16 struct {
	q, k, v, do []uint16
}

var bf16Pool = sync.Pool{New: func() any { return new([]uint16) }}

func getBF16(n int) *[]uint16 {
	p := bf16Pool.Get().(*[]uint16)
	if cap(*p) < n {
		*p = make([]uint16, n)
	}
	*p = (*p)[:n]
	return p
}

// packBF16 rounds rows of width w and stride ld in src to bfloat16 into a
// packed [rows, w] buffer from the pool.
func packBF16(src []float32, rows, w, ld int) *[]uint16 {
	p := getBF16(rows * w)
	dst := *p
	if ld == w {
		ToBF16Into(dst, src[:rows*w])
		return p
	}
	parallelRows(rows, 64, func(lo, hi int) {
		toBF16Rows(dst[lo*w:], src[lo*ld:], hi-lo, w, ld)
	})
	return p
}

// gemmBF16 is C = alpha·op(A)·op(B) + beta·C on bf16 operands, on the
// backend's bf16 products.
func gemmBF16(transA, transB bool, m, n, k int, alpha float32, a []uint16, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	bb, ok := be.(BF16Backend)
	if !ok {
		panic("nn: backend " + be.Name() + " has no bf16 products")
	}
	bb.GemmBF16(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// attentionBF16 is Attention with s.BF16 set.
func attentionBF16(out, lse, q, k, v []float32, s AttnShape) {
	hd, qs, ks := s.HeadDim, s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
	ql, kl := s.lds()
	N := s.B * s.T
	qp, kp, vp := packBF16(q, N, qs, ql), packBF16(k, N, ks, kl), packBF16(v, N, ks, kl)
	defer bf16Pool.Put(qp)
	defer bf16Pool.Put(kp)
	defer bf16Pool.Put(vp)
	qb, kb, vb := *qp, *kp, *vp
	rep := s.Heads / s.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	nblk := (s.T + AttnBlock - 1) / AttnBlock
	be.Parallel(s.B*s.Heads*nblk, func(lo, hi int) {
		sp := getScratch(AttnBlock * s.T)
		pp := getBF16(AttnBlock * s.T)
		defer scratchPool.Put(sp)
		defer bf16Pool.Put(pp)
		S, Pb := *sp, *pp
		for task := lo; task < hi; task++ {
			b, rest := task/(s.Heads*nblk), task%(s.Heads*nblk)
			h, blk := rest/nblk, rest%nblk
			g := h / rep
			t0, t1 := blk*AttnBlock, min((blk+1)*AttnBlock, s.T)
			m := t1 - t0
			k0 := s.segStart(b, t0)
			nk := t1 - k0
			gemmBF16(false, true, m, nk, hd, scale, qb[(b*s.T+t0)*qs+h*hd:], qs, kb[(b*s.T+k0)*ks+g*hd:], ks, 0, S, nk)
			for i := 0; i < m; i++ {
				t := t0 + i
				l := softmaxCausalRow(S[i*nk:(i+1)*nk], s.segStart(b, t)-k0, t-k0)
				if lse != nil {
					lse[(b*s.T+t)*s.Heads+h] = l
				}
			}
			toBF16Rows(Pb, S, 1, m*nk, m*nk)
			gemmBF16(false, false, m, hd, nk, 1, Pb, nk, vb[(b*s.T+k0)*ks+g*hd:], ks, 0, out[(b*s.T+t0)*qs+h*hd:], qs)
		}
	})
}

// attentionBackwardBF16 is AttentionBackward with s.BF16 set.
func attentionBackwardBF16(dq, dk, dv, dout, q, k, v, out, lse []float32, s AttnShape) {
	hd, qs, ks := s.HeadDim, s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
	ql, kl := s.lds()
	N := s.B * s.T
	qp, kp, vp, dop := packBF16(q, N, qs, ql), packBF16(k, N, ks, kl), packBF16(v, N, ks, kl), packBF16(dout, N, qs, qs)
	defer bf16Pool.Put(qp)
	defer bf16Pool.Put(kp)
	defer bf16Pool.Put(vp)
	defer bf16Pool.Put(dop)
	qb, kb, vb, dob := *qp, *kp, *vp, *dop
	rep := s.Heads / s.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	nblk := (s.T + AttnBlock - 1) / AttnBlock
	clearRows(dk, N, ks, kl)
	clearRows(dv, N, ks, kl)
	// One task per (batch, kv head), as in AttentionBackward.
	be.Parallel(s.B*s.KVHeads, func(lo, hi int) {
		sp := getScratch(2 * AttnBlock * s.T)
		bp := getBF16(2 * AttnBlock * s.T)
		defer scratchPool.Put(sp)
		defer bf16Pool.Put(bp)
		P, dP := (*sp)[:AttnBlock*s.T], (*sp)[AttnBlock*s.T:]
		Pb, dSb := (*bp)[:AttnBlock*s.T], (*bp)[AttnBlock*s.T:]
		for task := lo; task < hi; task++ {
			b, g := task/s.KVHeads, task%s.KVHeads
			for h := g * rep; h < (g+1)*rep; h++ {
				for blk := 0; blk < nblk; blk++ {
					t0, t1 := blk*AttnBlock, min((blk+1)*AttnBlock, s.T)
					m := t1 - t0
					k0 := s.segStart(b, t0)
					nk := t1 - k0
					qo, doo := (b*s.T+t0)*qs+h*hd, (b*s.T+t0)*qs+h*hd
					ko := (b*s.T+k0)*ks + g*hd
					gemmBF16(false, true, m, nk, hd, scale, qb[qo:], qs, kb[ko:], ks, 0, P, nk)
					gemmBF16(false, true, m, nk, hd, 1, dob[doo:], qs, vb[ko:], ks, 0, dP, nk)
					for i := 0; i < m; i++ {
						t := t0 + i
						probGradRow(P[i*nk:(i+1)*nk], dP[i*nk:(i+1)*nk], s.segStart(b, t)-k0, t-k0,
							lse[(b*s.T+t)*s.Heads+h], out[(b*s.T+t)*qs+h*hd:], dout[(b*s.T+t)*qs+h*hd:], hd)
					}
					toBF16Rows(Pb, P, 1, m*nk, m*nk)
					toBF16Rows(dSb, dP, 1, m*nk, m*nk)
					// dq = scale·dS·K ; dk += scale·dSᵀ·Q ; dv += Pᵀ·dO
					gemmBF16(false, false, m, hd, nk, scale, dSb, nk, kb[ko:], ks, 0, dq[(b*s.T+t0)*ql+h*hd:], ql)
					gemmBF16(true, false, nk, hd, m, scale, dSb, nk, qb[qo:], qs, 1, dk[(b*s.T+k0)*kl+g*hd:], kl)
					gemmBF16(true, false, nk, hd, m, 1, Pb, nk, dob[doo:], qs, 1, dv[(b*s.T+k0)*kl+g*hd:], kl)
				}
			}
		}
	})
}
