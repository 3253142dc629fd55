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

// splitGemmDense is splitGemm for libraries whose fast kernels want dense
// operands (oneDNN's brgemm matmul): every call gets row blocks that are
// contiguous in memory. Row blocks of C when A is not transposed; otherwise
// blocks of k (rows of the stored A and B), each summed into its own C
// buffer and added up at the end. Shapes that split neither way run as one
// call.
func splitGemmDense[TA, TB any](transA, transB bool, m, n, k int, a []TA, lda int, b []TB, ldb int, beta float32, c []float32, ldc int,
	gemm func(m, n, k int, a []TA, b []TB, beta float32, c []float32, ldc int)) {
	w := workers()
	small := w <= 1 || 2*m*n*k < 4<<20
	switch {
	case small:
		gemm(m, n, k, a, b, beta, c, ldc)
	case !transA && m >= 2*16:
		const align = 16
		parts := min(w, (m+align-1)/align)
		chunk := roundUp((m+parts-1)/parts, align)
		Parallel(parts, func(lo, hi int) {
			for p := lo; p < hi; p++ {
				i0 := p * chunk
				if i0 >= m {
					return
				}
				gemm(min(chunk, m-i0), n, k, a[i0*lda:], b, beta, c[i0*ldc:], ldc)
			}
		})
	case transA && !transB && k >= 2*64:
		const align = 64
		parts := min(w, k/align)
		chunk := roundUp((k+parts-1)/parts, align)
		parts = (k + chunk - 1) / chunk
		tmp := getF32((parts - 1) * m * n)
		defer putF32(tmp)
		Parallel(parts, func(lo, hi int) {
			for p := lo; p < hi; p++ {
				p0 := p * chunk
				kp := min(chunk, k-p0)
				if p == 0 {
					gemm(m, n, kp, a, b, beta, c, ldc)
					continue
				}
				gemm(m, n, kp, a[p0*lda:], b[p0*ldb:], 0, (*tmp)[(p-1)*m*n:p*m*n], n)
			}
		})
		ParallelMin(m, max(1, 16384/max(n, 1)), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				row := c[i*ldc : i*ldc+n]
				for p := 1; p < parts; p++ {
					t := (*tmp)[(p-1)*m*n+i*n : (p-1)*m*n+i*n+n]
					for j, v := range t {
						row[j] += v
					}
				}
			}
		})
	default:
		gemm(m, n, k, a, b, beta, c, ldc)
	}
}
