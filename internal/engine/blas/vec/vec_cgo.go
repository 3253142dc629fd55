//go:build cgo && !noblas

package vec

/*
#cgo CFLAGS: -O3 -std=c11
#cgo LDFLAGS: -lm
#include "vec.h"
*/
import "C"

import "unsafe"

// native reports that the C loops in vec.c are compiled in.
const native = true

func fp(s []float32) *C.float { return (*C.float)(unsafe.Pointer(unsafe.SliceData(s))) }

func expNative(dst, x []float32) { C.whet_exp(fp(dst), fp(x), C.size_t(len(x))) }

func sigmoidNative(dst, x []float32) { C.whet_sigmoid(fp(dst), fp(x), C.size_t(len(x))) }

func siluNative(dst, x []float32) { C.whet_silu(fp(dst), fp(x), C.size_t(len(x))) }

func siluMulNative(dst, g, u []float32) { C.whet_silu_mul(fp(dst), fp(g), fp(u), C.size_t(len(g))) }

func swigluBackwardNative(dg, du, dy, g, u []float32) {
	C.whet_swiglu_backward(fp(dg), fp(du), fp(dy), fp(g), fp(u), C.size_t(len(g)))
}

func swigluSavedNative(out, sig, g, u []float32) {
	C.whet_swiglu_saved(fp(out), fp(sig), fp(g), fp(u), C.size_t(len(g)))
}

func swigluBackwardSavedNative(dg, du, dy, g, u, s []float32) {
	C.whet_swiglu_backward_saved(fp(dg), fp(du), fp(dy), fp(g), fp(u), fp(s), C.size_t(len(g)))
}

func rmsnormNative(out, rstd, x, w []float32, n, d int, eps float32) {
	var rp *C.float
	if rstd != nil {
		rp = fp(rstd)
	}
	C.whet_rmsnorm_rows(fp(out), rp, fp(x), fp(w), C.size_t(n), C.size_t(d), C.float(eps))
}

func rmsnormBackwardNative(dx, dout, x, w, rstd []float32, n, d int, accumulate bool) {
	acc := C.int(0)
	if accumulate {
		acc = 1
	}
	C.whet_rmsnorm_backward_rows(fp(dx), fp(dout), fp(x), fp(w), fp(rstd), C.size_t(n), C.size_t(d), acc)
}

func expSumNative(row []float32) (float32, float64) {
	var mx C.float
	s := C.whet_exp_sum_row(fp(row), C.size_t(len(row)), &mx)
	return float32(mx), float64(s)
}

func probGradNative(s, dp []float32, l, d float32) {
	C.whet_prob_grad_row(fp(s), fp(dp), C.size_t(len(s)), C.float(l), C.float(d))
}
