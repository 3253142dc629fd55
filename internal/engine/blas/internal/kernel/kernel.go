// Package kernel holds the register-blocked inner loop of the pure-Go
// GEMM (package blas), in AVX2/FMA assembly on amd64 where the CPU has it and
// in Go elsewhere. It is a separate package because a package using cgo,
// as blas does, cannot contain Go assembly.
package kernel

// MR and NR are the tile of C that Sgemm4x16 computes.
const (
	MR = 4
	NR = 16
)

// Sgemm4x16 adds a·b to the 4×16 tile of c at row stride ldc, where a is a
// packed 4×kc panel (a[p*4+r] = A[r][p]) and b a packed kc×16 panel
// (b[p*16+j] = B[p][j]). Panics if a, b or c are too short.
func Sgemm4x16(kc int, a, b, c []float32, ldc int) {
	if kc <= 0 {
		return
	}
	_ = a[MR*kc-1]
	_ = b[NR*kc-1]
	_ = c[3*ldc+NR-1]
	if useAsm {
		sgemm4x16AVX2(kc, &a[0], &b[0], &c[0], ldc)
		return
	}
	sgemm4x16Go(kc, a, b, c, ldc)
}

// Accelerated reports whether Sgemm4x16 runs the assembly version.
func Accelerated() bool { return useAsm }

func sgemm4x16Go(kc int, a, b, c []float32, ldc int) {
	for g := 0; g < NR; g += 4 {
		sgemm4x4(kc, a, b[g:], c[g:], ldc)
	}
}

// sgemm4x4 is the 4×4 tile at column offset already applied to b and c;
// b keeps the panel's row stride NR.
func sgemm4x4(kc int, a, b, c []float32, ldc int) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	var c20, c21, c22, c23, c30, c31, c32, c33 float32
	for p := 0; p < kc; p++ {
		aa := a[p*4 : p*4+4 : p*4+4]
		bb := b[p*NR : p*NR+4 : p*NR+4]
		b0, b1, b2, b3 := bb[0], bb[1], bb[2], bb[3]
		a0 := aa[0]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		a1 := aa[1]
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a2 := aa[2]
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		a3 := aa[3]
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	r := c[0:4:4]
	r[0] += c00
	r[1] += c01
	r[2] += c02
	r[3] += c03
	r = c[ldc : ldc+4 : ldc+4]
	r[0] += c10
	r[1] += c11
	r[2] += c12
	r[3] += c13
	r = c[2*ldc : 2*ldc+4 : 2*ldc+4]
	r[0] += c20
	r[1] += c21
	r[2] += c22
	r[3] += c23
	r = c[3*ldc : 3*ldc+4 : 3*ldc+4]
	r[0] += c30
	r[1] += c31
	r[2] += c32
	r[3] += c33
}
