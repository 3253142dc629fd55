package blas

// splitGemm runs a GEMM as one call of gemm per worker, each on a block of
// rows of C (or of columns, when C has few rows), so a single-threaded
// library call per core does the work. a, b and c passed to gemm start at
// the block's first element; the block is m×n with the full k.
func splitGemm[TA, TB any](transA, transB bool, m, n, k int, a []TA, lda int, b []TB, ldb int, c []float32, ldc int, gemm func(m, n int, a []TA, b []TB, c []float32)) {
	w := workers()
	// Below ~4 MFLOP a goroutine hand-off costs more than it saves.
	if w <= 1 || 2*m*n*k < 4<<20 {
		gemm(m, n, a, b, c)
		return
	}
	const align = 16
	if m >= n || m >= w*64 {
		parts := min(w, (m+align-1)/align)
		chunk := roundUp((m+parts-1)/parts, align)
		Parallel(parts, func(lo, hi int) {
			for p := lo; p < hi; p++ {
				i0 := p * chunk
				if i0 >= m {
					return
				}
				rows := min(chunk, m-i0)
				aOff := i0 * lda
				if transA {
					aOff = i0
				}
				gemm(rows, n, a[aOff:], b, c[i0*ldc:])
			}
		})
		return
	}
	parts := min(w, (n+align-1)/align)
	chunk := roundUp((n+parts-1)/parts, align)
	Parallel(parts, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			j0 := p * chunk
			if j0 >= n {
				return
			}
			cols := min(chunk, n-j0)
			bOff := j0
			if transB {
				bOff = j0 * ldb
			}
			gemm(m, cols, a, b[bOff:], c[j0:])
		}
	})
}
