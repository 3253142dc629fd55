//go:build !cgo || noblas

package vec

const native = false

func expNative(dst, x []float32)                                     { panic("unreachable") }
func sigmoidNative(dst, x []float32)                                 { panic("unreachable") }
func siluNative(dst, x []float32)                                    { panic("unreachable") }
func siluMulNative(dst, g, u []float32)                              { panic("unreachable") }
func swigluBackwardNative(dg, du, dy, g, u []float32)                { panic("unreachable") }
func swigluSavedNative(out, sig, g, u []float32)                     { panic("unreachable") }
func swigluBackwardSavedNative(dg, du, dy, g, u, s []float32)        { panic("unreachable") }
func rmsnormNative(out, rstd, x, w []float32, n, d int, eps float32) { panic("unreachable") }
func rmsnormBackwardNative(dx, dout, x, w, rstd []float32, n, d int, accumulate bool) {
	panic("unreachable")
}
func expSumNative(row []float32) (float32, float64) { panic("unreachable") }
func probGradNative(s, dp []float32, l, d float32)  { panic("unreachable") }
