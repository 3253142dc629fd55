package nn

import (
	"math"
	"sync"

	"github.com/whetstone/whetstone/internal/engine/blas/vec"
)

// AttnBlock is the number of query rows processed together by Attention.
const AttnBlock = 64

// AttnShape describes a batch of causal self-attention.
//
// Q is [B·T, Heads·HeadDim]; K and V are [B·T, KVHeads·HeadDim] (rows are
// token-major, as projections produce them). Query head h reads key/value
// head h / (Heads/KVHeads), as Hugging Face's repeat_kv does.
type AttnShape struct {
	B, T           int
	Heads, KVHeads int
	HeadDim        int
	// SegStart, if non-nil, has one entry per row (B·T): the time index
	// within its sequence where the row's packed sample starts. Row t then
	// attends to keys [SegStart[t], t] only, so packed samples never see
	// each other. Nil means one sample per sequence.
	SegStart []int32
	// Ld, when non-zero, is the row stride of Q, K and V (and of dQ, dK, dV
	// in AttentionBackward): views into one fused [B·T, Ld] projection
	// output. Zero means each is packed (Heads·HeadDim, KVHeads·HeadDim).
	// The output and its gradient are always packed.
	Ld int
	// BF16 runs the products in bfloat16 with float32 sums, as PyTorch's
	// bf16 autocast does; softmax and its gradient stay float32 (see
	// attention_bf16.go).
	BF16 bool
}

// lds returns the row strides of q and of k/v.
func (s *AttnShape) lds() (int, int) {
	if s.Ld > 0 {
		return s.Ld, s.Ld
	}
	return s.Heads * s.HeadDim, s.KVHeads * s.HeadDim
}

// clearRows zeroes the first w elements of n rows of stride ld.
func clearRows(x []float32, n, w, ld int) {
	if ld == w {
		clear(x[:n*w])
		return
	}
	for r := 0; r < n; r++ {
		clear(x[r*ld : r*ld+w])
	}
}

func (s *AttnShape) segStart(b, t int) int {
	if s.SegStart == nil {
		return 0
	}
	return int(s.SegStart[b*s.T+t])
}

var scratchPool = sync.Pool{New: func() any { return new([]float32) }}

func getScratch(n int) *[]float32 {
	p := scratchPool.Get().(*[]float32)
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	*p = (*p)[:n]
	return p
}

// Attention computes softmax(Q·Kᵀ/√d + causal mask)·V into out
// [B·T, Heads·HeadDim] and, when lse is non-nil, saves each row's
// log-sum-exp of scaled scores in lse [B·T·Heads] (row-major [row, head]) for
// AttentionBackward. It never holds more than an AttnBlock×T score block per
// worker.
func Attention(out, lse, q, k, v []float32, s AttnShape) {
	if s.BF16 {
		attentionBF16(out, lse, q, k, v, s)
		return
	}
	hd, qs := s.HeadDim, s.Heads*s.HeadDim
	ql, kl := s.lds()
	rep := s.Heads / s.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	nblk := (s.T + AttnBlock - 1) / AttnBlock
	tasks := s.B * s.Heads * nblk
	be.Parallel(tasks, func(lo, hi int) {
		sp := getScratch(AttnBlock * s.T)
		defer scratchPool.Put(sp)
		S := *sp
		for task := lo; task < hi; task++ {
			b, rest := task/(s.Heads*nblk), task%(s.Heads*nblk)
			h, blk := rest/nblk, rest%nblk
			g := h / rep
			t0, t1 := blk*AttnBlock, min((blk+1)*AttnBlock, s.T)
			m := t1 - t0
			k0 := s.segStart(b, t0)
			nk := t1 - k0
			qb := q[(b*s.T+t0)*ql+h*hd:]
			kb := k[(b*s.T+k0)*kl+g*hd:]
			vb := v[(b*s.T+k0)*kl+g*hd:]
			sgemm(false, true, m, nk, hd, scale, qb, ql, kb, kl, 0, S, nk)
			for i := 0; i < m; i++ {
				t := t0 + i
				l := softmaxCausalRow(S[i*nk:(i+1)*nk], s.segStart(b, t)-k0, t-k0)
				if lse != nil {
					lse[(b*s.T+t)*s.Heads+h] = l
				}
			}
			sgemm(false, false, m, hd, nk, 1, S, nk, vb, kl, 0, out[(b*s.T+t0)*qs+h*hd:], qs)
		}
	})
}

// AttentionBackward computes dq, dk, dv (all overwritten) from dout, the
// forward inputs q, k, v, output out and the lse saved by Attention.
func AttentionBackward(dq, dk, dv, dout, q, k, v, out, lse []float32, s AttnShape) {
	if s.BF16 {
		attentionBackwardBF16(dq, dk, dv, dout, q, k, v, out, lse, s)
		return
	}
	hd, qs, ks := s.HeadDim, s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
	ql, kl := s.lds()
	rep := s.Heads / s.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	nblk := (s.T + AttnBlock - 1) / AttnBlock
	clearRows(dk, s.B*s.T, ks, kl)
	clearRows(dv, s.B*s.T, ks, kl)
	// One task per (batch, kv head): it owns that head's dk, dv and its query
	// heads' dq, so tasks never write the same memory.
	be.Parallel(s.B*s.KVHeads, func(lo, hi int) {
		sp := getScratch(2 * AttnBlock * s.T)
		defer scratchPool.Put(sp)
		P, dP := (*sp)[:AttnBlock*s.T], (*sp)[AttnBlock*s.T:]
		for task := lo; task < hi; task++ {
			b, g := task/s.KVHeads, task%s.KVHeads
			for h := g * rep; h < (g+1)*rep; h++ {
				for blk := 0; blk < nblk; blk++ {
					t0, t1 := blk*AttnBlock, min((blk+1)*AttnBlock, s.T)
					m := t1 - t0
					k0 := s.segStart(b, t0)
					nk := t1 - k0
					qb := q[(b*s.T+t0)*ql+h*hd:]
					dob := dout[(b*s.T+t0)*qs+h*hd:]
					kb := k[(b*s.T+k0)*kl+g*hd:]
					vb := v[(b*s.T+k0)*kl+g*hd:]
					sgemm(false, true, m, nk, hd, scale, qb, ql, kb, kl, 0, P, nk)
					sgemm(false, true, m, nk, hd, 1, dob, qs, vb, kl, 0, dP, nk)
					for i := 0; i < m; i++ {
						t := t0 + i
						probGradRow(P[i*nk:(i+1)*nk], dP[i*nk:(i+1)*nk], s.segStart(b, t)-k0, t-k0,
							lse[(b*s.T+t)*s.Heads+h], out[(b*s.T+t)*qs+h*hd:], dout[(b*s.T+t)*qs+h*hd:], hd)
					}
					// dq = scale·dS·K ; dk += scale·dSᵀ·Q ; dv += Pᵀ·dO
					sgemm(false, false, m, hd, nk, scale, dP, nk, kb, kl, 0, dq[(b*s.T+t0)*ql+h*hd:], ql)
					sgemm(true, false, nk, hd, m, scale, dP, nk, qb, ql, 1, dk[(b*s.T+k0)*kl+g*hd:], kl)
					sgemm(true, false, nk, hd, m, 1, P, nk, dob, qs, 1, dv[(b*s.T+k0)*kl+g*hd:], kl)
				}
			}
		}
	})
}

// softmaxCausalRow turns scores row[lo..hi] (inclusive) into probabilities,
// zeroes the rest of the row, and returns the log-sum-exp of the live part.
func softmaxCausalRow(row []float32, lo, hi int) float32 {
	clear(row[:lo])
	clear(row[hi+1:])
	live := row[lo : hi+1]
	mx, sum := vec.ExpSum(live)
	inv := float32(1 / sum)
	for j := range live {
		live[j] *= inv
	}
	return mx + float32(math.Log(sum))
}

// probGradRow recomputes one query row's probabilities from its scores
// row[lo..hi] (inclusive) and log-sum-exp l, in place, and turns dp (dO·Vᵀ
// for the row) into the score gradient P·(dP − o·dO), with o and do the
// row's output and output gradient (hd values). Entries outside lo..hi
// become zero in both.
func probGradRow(row, dp []float32, lo, hi int, l float32, o, do []float32, hd int) {
	var d float32
	for j, ov := range o[:hd] {
		d += ov * do[j]
	}
	clear(row[:lo])
	clear(row[hi+1:])
	clear(dp[:lo])
	clear(dp[hi+1:])
	vec.ProbGrad(row[lo:hi+1], dp[lo:hi+1], l, d)
}

// AttentionCached is causal attention for n new query rows at positions
// p0..p0+n-1 of one sequence, against a key/value cache holding rows
// 0..p0+n-1 (the new rows already appended). q and out are [n, Heads·HeadDim];
// kc and vc are [≥p0+n, KVHeads·HeadDim]. Used for generation and scoring.
func AttentionCached(out, q, kc, vc []float32, n, p0, heads, kvHeads, hd int) {
	qs, ks := heads*hd, kvHeads*hd
	rep := heads / kvHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	nblk := (n + AttnBlock - 1) / AttnBlock
	L := p0 + n
	be.Parallel(heads*nblk, func(lo, hi int) {
		sp := getScratch(AttnBlock * L)
		defer scratchPool.Put(sp)
		S := *sp
		for task := lo; task < hi; task++ {
			h, blk := task/nblk, task%nblk
			g := h / rep
			i0, i1 := blk*AttnBlock, min((blk+1)*AttnBlock, n)
			m := i1 - i0
			nk := p0 + i1
			sgemm(false, true, m, nk, hd, scale, q[i0*qs+h*hd:], qs, kc[g*hd:], ks, 0, S, nk)
			for i := 0; i < m; i++ {
				row := S[i*nk : (i+1)*nk]
				last := p0 + i0 + i
				mx := row[0]
				for j := 0; j <= last; j++ {
					mx = max(mx, row[j])
				}
				clear(row[last+1:])
				live := row[:last+1]
				for j := range live {
					live[j] -= mx
				}
				vec.ExpSerial(live, live)
				var sum float64
				for _, e := range live {
					sum += float64(e)
				}
				inv := float32(1 / sum)
				for j := 0; j <= last; j++ {
					row[j] *= inv
				}
			}
			sgemm(false, false, m, hd, nk, 1, S, nk, vc[g*hd:], ks, 0, out[i0*qs+h*hd:], qs)
		}
	})
}
