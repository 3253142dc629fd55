package nn

import "math"

// IgnoreIndex marks a label that contributes no loss, as in PyTorch.
const IgnoreIndex = -100

// XentChunk is the number of rows whose logits CrossEntropy holds at once.
const XentChunk = 64

// CrossEntropy computes the language-model head and its loss in chunks of
// XentChunk rows, so the [n, vocab] logits never exist whole.
//
// x [n, d] is the final (normalised) hidden state, w [vocab, d] the output
// head, labels [n] the target id of each row or IgnoreIndex. It returns the
// summed loss over counted rows and their number. When dx is non-nil it is
// overwritten with gradScale·∂(summed loss)/∂x; when dw is non-nil
// gradScale·∂/∂w is added to it. Callers pass gradScale = 1/(total counted
// rows) for a mean loss.
func CrossEntropy(dx, dw, x, w []float32, labels []int32, n, d, vocab int, gradScale float32) (sum float64, count int) {
	logits := make([]float32, XentChunk*vocab)
	losses := make([]float64, XentChunk)
	for r0 := 0; r0 < n; r0 += XentChunk {
		r1 := min(r0+XentChunk, n)
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
		sgemm(false, true, m, vocab, d, 1, x[r0*d:], d, w, d, 0, lg, vocab)
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
				mx := row[0]
				for _, v := range row {
					mx = max(mx, v)
				}
				var s float64
				for _, v := range row {
					s += math.Exp(float64(v - mx))
				}
				lse := float64(mx) + math.Log(s)
				losses[i] = lse - float64(row[lab])
				if dx != nil || dw != nil {
					for j, v := range row {
						row[j] = float32(math.Exp(float64(v)-lse)) * gradScale
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
			sgemm(false, false, m, d, vocab, 1, lg, vocab, w, d, 0, dx[r0*d:], d)
		}
		if dw != nil {
			sgemm(true, false, vocab, d, m, 1, lg, vocab, x[r0*d:], d, 1, dw, d)
		}
	}
	return sum, count
}
