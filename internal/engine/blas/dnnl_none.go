//go:build !cgo || noblas

package blas

import "errors"

var errNoCgo = errors.New("built without cgo or with the noblas tag")

// DNNLError returns why oneDNN is not used: this build has no cgo.
func DNNLError() error { return errNoCgo }

// BF16Name returns the backend of GemmBF16: here float32 Sgemm on
// bf16-rounded inputs.
func BF16Name() string { return "sgemm (" + errNoCgo.Error() + ")" }

// BF16Native reports whether GemmBF16 runs on bf16 hardware instructions:
// never in this build.
func BF16Native() bool { return false }

func gemmBF16Native(transA, transB bool, m, n, k int, alpha float32, a []uint16, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int) bool {
	return false
}

func f32ToBF16Native(dst []uint16, src []float32) bool { return false }
func bf16ToF32Native(dst []float32, src []uint16) bool { return false }
func f32ToBF16RowsNative(dst []uint16, src []float32, rows, w, ld int) bool {
	return false
}
