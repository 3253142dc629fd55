package blas

import (
	"fmt"
	"sync"

	"github.com/whetstone/whetstone/internal/engine/blas/internal/kernel"
)

// Blocking of the pure-Go GEMM: C is computed in mc×nc blocks, each as a
// sum over kc-long slices of k; inside a block, mr×nr tiles are accumulated
// in registers from packed panels of A and B.
const (
	goMR = kernel.MR
	goNR = kernel.NR
	goKC = 256
	goMC = 64
	goNC = 512
)

// checkGemm panics with a descriptive message if the arguments of a GEMM
// call are inconsistent. These are programming errors, like an index out of
// range.
func checkGemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	checkDims(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
}

// checkDims is checkGemm given the operands' lengths, for any element type.
func checkDims(transA, transB bool, m, n, k, lenA, lda, lenB, ldb, lenC, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("blas: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	check := func(name string, length, rows, cols, ld int) {
		if ld < max(cols, 1) {
			panic(fmt.Sprintf("blas: %s: leading dimension %d < %d columns", name, ld, cols))
		}
		if rows > 0 && cols > 0 && length < (rows-1)*ld+cols {
			panic(fmt.Sprintf("blas: %s: len %d too short for %d×%d with stride %d", name, length, rows, cols, ld))
		}
	}
	check("c", lenC, m, n, ldc)
	if m == 0 || n == 0 || k == 0 {
		return
	}
	check("a", lenA, ar, ac, lda)
	check("b", lenB, br, bc, ldb)
}

// scaleC sets C = beta·C; beta == 0 clears C (so NaNs in C do not survive,
// as in reference BLAS).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	ParallelMin(m, max(1, 16384/max(n, 1)), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := c[i*ldc : i*ldc+n]
			if beta == 0 {
				clear(row)
				continue
			}
			for j := range row {
				row[j] *= beta
			}
		}
	})
}

// SgemmGo is the pure-Go implementation of Sgemm, available in every build
// so other backends can be compared against it.
func SgemmGo(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	scaleC(m, n, beta, c, ldc)
	if k == 0 || alpha == 0 {
		return
	}
	// Packed B block (kc×nc, in nr-wide panels), shared by all workers.
	bpp := bPackPool.get(goKC * goNC)
	defer bPackPool.put(bpp)
	bp := *bpp
	for jc := 0; jc < n; jc += goNC {
		nc := min(goNC, n-jc)
		ncPanels := (nc + goNR - 1) / goNR
		for pc := 0; pc < k; pc += goKC {
			kc := min(goKC, k-pc)
			Parallel(ncPanels, func(lo, hi int) {
				for jp := lo; jp < hi; jp++ {
					packB(transB, b, ldb, pc, kc, jc+jp*goNR, min(goNR, nc-jp*goNR), bp[jp*goNR*kc:(jp+1)*goNR*kc])
				}
			})
			// Split rows of C across workers; with few rows, split columns.
			mPanels := (m + goMR - 1) / goMR
			if mPanels >= 2*workers() || mPanels >= ncPanels {
				Parallel(mPanels, func(lo, hi int) {
					app := aPackPool.get(goKC * goMC)
					defer aPackPool.put(app)
					ap := *app
					for ip := lo * goMR; ip < min(hi*goMR, m); ip += goMC {
						mc := min(goMC, min(hi*goMR, m)-ip)
						packA(transA, alpha, a, lda, ip, mc, pc, kc, ap)
						macroKernel(mc, nc, kc, ap, bp, c[ip*ldc+jc:], ldc, 0, ncPanels)
					}
				})
			} else {
				Parallel(ncPanels, func(lo, hi int) {
					app := aPackPool.get(goKC * goMC)
					defer aPackPool.put(app)
					ap := *app
					for ip := 0; ip < m; ip += goMC {
						mc := min(goMC, m-ip)
						packA(transA, alpha, a, lda, ip, mc, pc, kc, ap)
						macroKernel(mc, nc, kc, ap, bp, c[ip*ldc+jc:], ldc, lo, hi)
					}
				})
			}
		}
	}
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// packA copies alpha·op(A)[i0:i0+mc, p0:p0+kc] into ap as mr-row panels,
// each stored k-major (ap[panel][p][r]), zero-padding the last panel.
func packA(transA bool, alpha float32, a []float32, lda, i0, mc, p0, kc int, ap []float32) {
	for ip := 0; ip < mc; ip += goMR {
		dst := ap[ip*kc : ip*kc+goMR*kc]
		rows := min(goMR, mc-ip)
		if !transA {
			for r := 0; r < goMR; r++ {
				if r >= rows {
					for p := 0; p < kc; p++ {
						dst[p*goMR+r] = 0
					}
					continue
				}
				src := a[(i0+ip+r)*lda+p0:]
				src = src[:kc]
				for p, v := range src {
					dst[p*goMR+r] = alpha * v
				}
			}
			continue
		}
		for p := 0; p < kc; p++ {
			src := a[(p0+p)*lda+i0+ip:]
			d := dst[p*goMR : p*goMR+goMR]
			if rows == goMR {
				s := src[:goMR:goMR]
				d[0] = alpha * s[0]
				d[1] = alpha * s[1]
				d[2] = alpha * s[2]
				d[3] = alpha * s[3]
				continue
			}
			for r := range d {
				d[r] = 0
				if r < rows {
					d[r] = alpha * src[r]
				}
			}
		}
	}
}

// packB copies op(B)[p0:p0+kc, j0:j0+cols] into bp (kc×nr, k-major),
// zero-padding columns past cols.
func packB(transB bool, b []float32, ldb, p0, kc, j0, cols int, bp []float32) {
	if !transB {
		for p := 0; p < kc; p++ {
			src := b[(p0+p)*ldb+j0:]
			d := bp[p*goNR : p*goNR+goNR]
			if cols == goNR {
				copy(d, src[:goNR])
				continue
			}
			for c := range d {
				d[c] = 0
				if c < cols {
					d[c] = src[c]
				}
			}
		}
		return
	}
	for c := 0; c < goNR; c++ {
		if c >= cols {
			for p := 0; p < kc; p++ {
				bp[p*goNR+c] = 0
			}
			continue
		}
		src := b[(j0+c)*ldb+p0:]
		src = src[:kc]
		for p, v := range src {
			bp[p*goNR+c] = v
		}
	}
}

// macroKernel adds the product of the packed mc×kc A block and nr-panels
// [jpLo, jpHi) of the packed kc×nc B block to C (already offset to the
// block's top-left corner).
func macroKernel(mc, nc, kc int, ap, bp, c []float32, ldc, jpLo, jpHi int) {
	var tile [goMR * goNR]float32
	for jp := jpLo; jp < jpHi; jp++ {
		j := jp * goNR
		cols := min(goNR, nc-j)
		b := bp[jp*goNR*kc : (jp+1)*goNR*kc]
		for i := 0; i < mc; i += goMR {
			rows := min(goMR, mc-i)
			a := ap[i*kc : i*kc+goMR*kc]
			if rows == goMR && cols == goNR {
				kernel.Sgemm4x16(kc, a, b, c[i*ldc+j:], ldc)
				continue
			}
			clear(tile[:])
			kernel.Sgemm4x16(kc, a, b, tile[:], goNR)
			for r := 0; r < rows; r++ {
				for cc := 0; cc < cols; cc++ {
					c[(i+r)*ldc+j+cc] += tile[r*goNR+cc]
				}
			}
		}
	}
}

func workers() int { return freeWorkers() }

// bufPool recycles float32 buffers of one size class: get returns one of at
// least n elements.
type bufPool struct{ p sync.Pool }

// Pools of the packed A blocks (one per worker) and B blocks.
var aPackPool, bPackPool bufPool

func (b *bufPool) get(n int) *[]float32 {
	if s, ok := b.p.Get().(*[]float32); ok {
		if cap(*s) >= n {
			*s = (*s)[:n]
			return s
		}
		b.p.Put(s)
	}
	s := make([]float32, n)
	return &s
}

func (b *bufPool) put(s *[]float32) { b.p.Put(s) }
