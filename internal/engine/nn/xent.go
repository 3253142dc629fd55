package nn

import (
	"math"

	"github.com/whetstone/whetstone/internal/engine/blas/vec"
)

// IgnoreIndex marks a label that contributes no loss, as in PyTorch.
const IgnoreIndex = -100

// XentScratchBytes bounds the logits CrossEntropy holds at once.
const XentScratchBytes = 100 << 20

// XentRows returns the number of rows whose logits CrossEntropy holds at
// once for a vocabulary of vocab: the largest power of two from 64 to 512
// whose float32 logits fit XentScratchBytes (at least 64). Taller chunks
// make the head GEMMs (rows × vocab × hidden) run nearer the matmul peak
// (measured on 2 AVX-512 cores with vocab 49152: 263 GFLOP/s at 64 rows,
// 343 at 256, 414 at 512).
func XentRows(vocab int) int {
	r := 512
	for r > 64 && r*vocab*4 > XentScratchBytes {
		r /= 2
	}
	return r
}

// CrossEntropy computes the language-model head and its loss in chunks of
// XentRows(vocab) rows, so the [n, vocab] logits never exist whole.
//
// x [n, d] is the final (normalised) hidden state, w [vocab, d] the output
// head, labels [n] the target id of each row or IgnoreIndex. It returns the
// summed loss over counted rows and their number. When dx is non-nil it is
// overwritten with gradScale·∂(summed loss)/∂x; when dw is non-nil
// gradScale·∂/∂w is added to it. Callers pass gradScale = 1/(total counted
// rows) for a mean loss.
func CrossEntropy(dx, dw, x, w []float32, labels []int32, n, d, vocab int, gradScale float32) (sum float64, count int) {
	return CrossEntropyW(dx, dw, x, w, nil, labels, n, d, vocab, gradScale)
}

// CrossEntropyW is CrossEntropy with the head optionally given as bfloat16
// bits wbf (then dw must be nil).
func CrossEntropyW(dx, dw, x, w []float32, wbf []uint16, labels []int32, n, d, vocab int, gradScale float32) (sum float64, count int) {
	chunk := XentRows(vocab)
	lp := getScratch(min(chunk, n) * vocab)
	defer scratchPool.Put(lp)
	logits := *lp
	losses := make([]float64, chunk)
	for r0 := 0; r0 < n; r0 += chunk {
		r1 := min(r0+chunk, n)
		m := r1 - r0
		any := false
		for r := r0; r < r1; r++ {
			if labels[r] != IgnoreIndex {
				any = true
				break
			}
		}
		if !any {
			if dx != nil {
				clear(dx[r0*d : r1*d])
			}
			continue
		}
		lg := logits[:m*vocab]
		sgemmW(false, true, m, vocab, d, 1, x[r0*d:], d, w, wbf, d, 0, lg, vocab)
		parallelRows(m, 4, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				row := lg[i*vocab : (i+1)*vocab]
				lab := labels[r0+i]
				if lab == IgnoreIndex {
					losses[i] = math.NaN()
					if dx != nil || dw != nil {
						clear(row)
					}
					continue
				}
				target := row[lab]
				mx, s := vec.ExpSum(row)
				losses[i] = float64(mx) + math.Log(s) - float64(target)
				if dx != nil || dw != nil {
					k := gradScale / float32(s)
					for j := range row {
						row[j] *= k
					}
					row[lab] -= gradScale
				}
			}
		})
		for i := 0; i < m; i++ {
			if !math.IsNaN(losses[i]) {
				sum += losses[i]
				count++
			}
		}
		if dx != nil {
			sgemmW(false, false, m, d, vocab, 1, lg, vocab, w, wbf, d, 0, dx[r0*d:], d)
		}
		if dw != nil {
			sgemm(true, false, vocab, d, m, 1, lg, vocab, x[r0*d:], d, 1, dw, d)
		}
	}
	return sum, count
}
