// __nv_bfloat16 for the Whetstone CUDA emulator: raw bits, conversions as
// CUDA's (round to nearest even; NaN stays NaN, as the canonical 0x7fff).
#pragma once

#include <stdint.h>
#include <string.h>

struct __nv_bfloat16 {
	unsigned short x;
};

inline __nv_bfloat16 __float2bfloat16_rn(float f) {
	uint32_t u;
	memcpy(&u, &f, 4);
	__nv_bfloat16 r;
	if ((u & 0x7fffffffu) > 0x7f800000u) {
		r.x = 0x7fff;
		return r;
	}
	r.x = (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
	return r;
}

inline float __bfloat162float(__nv_bfloat16 b) {
	uint32_t u = (uint32_t)b.x << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}
