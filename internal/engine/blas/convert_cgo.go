//go:build cgo && !noblas

package blas

/*
#cgo CFLAGS: -O3
#include "convert.h"
*/
import "C"

import "unsafe"

// f32ToBF16Native converts with the vectorized C loop in convert.c.
func f32ToBF16Native(dst []uint16, src []float32) bool {
	if len(src) > 0 {
		C.whet_f32_to_bf16((*C.uint16_t)(unsafe.Pointer(&dst[0])), (*C.float)(unsafe.Pointer(&src[0])), C.size_t(len(src)))
	}
	return true
}

// f32ToBF16RowsNative converts strided rows with convert.c's loop.
func f32ToBF16RowsNative(dst []uint16, src []float32, rows, w, ld int) bool {
	if rows > 0 && w > 0 {
		C.whet_f32_to_bf16_rows((*C.uint16_t)(unsafe.Pointer(&dst[0])), (*C.float)(unsafe.Pointer(&src[0])), C.size_t(rows), C.size_t(w), C.size_t(ld))
	}
	return true
}

// bf16ToF32Native converts with the vectorized C loop in convert.c.
func bf16ToF32Native(dst []float32, src []uint16) bool {
	if len(src) > 0 {
		C.whet_bf16_to_f32((*C.float)(unsafe.Pointer(&dst[0])), (*C.uint16_t)(unsafe.Pointer(&src[0])), C.size_t(len(src)))
	}
	return true
}
