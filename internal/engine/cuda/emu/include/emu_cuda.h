// The CUDA C++ that kernels.cu uses, for g++ on the CPU (the Whetstone CUDA
// emulator). Every CUDA thread of a block is a cooperative fiber of one OS
// thread; fibers switch only at the sync points below (__syncthreads,
// __syncwarp, shuffles), so the emulator is deterministic.
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <cmath>

struct uint3 {
	unsigned int x, y, z;
};

struct dim3 {
	unsigned int x, y, z;
	constexpr dim3(unsigned int a = 1, unsigned int b = 1, unsigned int c = 1) : x(a), y(b), z(c) {}
};

// Set by the scheduler before it resumes a fiber.
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;

#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// Shared memory is one per block and blocks run one at a time on one OS
// thread, whose fibers share its thread_local storage: a block-scope
// thread_local is a static (what __shared__ variables need), and
// `extern __shared__ T a[]` becomes a thread_local array the emulator
// defines (dynamic shared memory).
#define __shared__ thread_local

struct __align__(16) float4 {
	float x, y, z, w;
};
struct __align__(8) float2 {
	float x, y;
};

namespace emu {
// The running fiber's linear thread index in its block.
extern int g_cur;
void syncthreads();
void syncwarp();
uint64_t shfl(uint64_t v, int srcLane);
// fail records the first error of the launch (the launch then fails).
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
inline int laneId() { return g_cur & 31; }
// Per thread of the block: warp-collective operations done (wmma's *_sync);
// every lane of a warp must do the same ones, checked at barriers.
extern uint32_t *g_collective;
inline void collective() { g_collective[g_cur]++; }
} // namespace emu

inline void __syncthreads() { emu::syncthreads(); }
inline void __syncwarp(unsigned = 0xffffffffu) { emu::syncwarp(); }

template <typename T>
inline T __shfl_xor_sync(unsigned, T v, int laneMask, int width = 32) {
	static_assert(sizeof(T) <= 8, "shuffle of more than 8 bytes");
	uint64_t u = 0;
	memcpy(&u, &v, sizeof(T));
	int lane = emu::laneId();
	int src = lane ^ laneMask;
	if ((src & ~(width - 1)) != (lane & ~(width - 1))) src = lane; // outside the segment: own value
	u = emu::shfl(u, src);
	memcpy(&v, &u, sizeof(T));
	return v;
}

template <typename T>
inline T __shfl_sync(unsigned, T v, int srcLane, int width = 32) {
	uint64_t u = 0;
	memcpy(&u, &v, sizeof(T));
	int lane = emu::laneId();
	u = emu::shfl(u, (lane & ~(width - 1)) + (srcLane & (width - 1)));
	memcpy(&v, &u, sizeof(T));
	return v;
}

// Atomics: fibers never switch inside one, so a plain update is atomic.
inline float atomicAdd(float *p, float v) {
	float o = *p;
	*p = o + v;
	return o;
}
inline double atomicAdd(double *p, double v) {
	double o = *p;
	*p = o + v;
	return o;
}
inline int atomicAdd(int *p, int v) {
	int o = *p;
	*p = o + v;
	return o;
}
inline unsigned atomicAdd(unsigned *p, unsigned v) {
	unsigned o = *p;
	*p = o + v;
	return o;
}
inline unsigned long long atomicAdd(unsigned long long *p, unsigned long long v) {
	unsigned long long o = *p;
	*p = o + v;
	return o;
}

inline unsigned int __float_as_uint(float f) {
	unsigned int u;
	memcpy(&u, &f, 4);
	return u;
}
inline float __uint_as_float(unsigned int u) {
	float f;
	memcpy(&f, &u, 4);
	return f;
}
inline int __float_as_int(float f) {
	int u;
	memcpy(&u, &f, 4);
	return u;
}
inline float __int_as_float(int u) {
	float f;
	memcpy(&f, &u, 4);
	return f;
}

// Math: the host's libm (not CUDA's ulp bounds: see docs/gpu.md).
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __saturatef(float x) { return x < 0 ? 0.0f : (x > 1 ? 1.0f : x); }

// CUDA's integer and float min/max overloads.
#define EMU_MINMAX(T)                                    \
	inline T min(T a, T b) { return a < b ? a : b; } \
	inline T max(T a, T b) { return a > b ? a : b; }
EMU_MINMAX(int)
EMU_MINMAX(unsigned int)
EMU_MINMAX(long)
EMU_MINMAX(unsigned long)
EMU_MINMAX(long long)
EMU_MINMAX(unsigned long long)
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }
#undef EMU_MINMAX
