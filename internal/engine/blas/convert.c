//go:build cgo && !noblas

// Vectorized bf16 conversions for bf16.go. target_clones makes GCC emit
// AVX-512, AVX2 and baseline versions and pick one at load time.

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "convert.h"

static inline void f32_to_bf16(uint16_t *dst, const float *src, size_t n) {
	for (size_t i = 0; i < n; i++) {
		uint32_t u;
		memcpy(&u, &src[i], 4);
		uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
		uint32_t q = (u >> 16) | 0x40u; // quiet NaN keeps its sign
		dst[i] = (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? q : r);
	}
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void whet_f32_to_bf16(uint16_t *dst, const float *src, size_t n) { f32_to_bf16(dst, src, n); }

// whet_f32_to_bf16_rows converts rows rows of w elements, ld apart in src,
// into the packed [rows, w] dst.
__attribute__((target_clones("avx512f", "avx2", "default")))
void whet_f32_to_bf16_rows(uint16_t *dst, const float *src, size_t rows, size_t w, size_t ld) {
	for (size_t r = 0; r < rows; r++) f32_to_bf16(dst + r * w, src + r * ld, w);
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void whet_bf16_to_f32(float *dst, const uint16_t *src, size_t n) {
	for (size_t i = 0; i < n; i++) {
		uint32_t u = (uint32_t)src[i] << 16;
		memcpy(&dst[i], &u, 4);
	}
}
