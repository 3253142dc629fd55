// nvcuda::wmma for the Whetstone CUDA emulator (16×16×16 shapes).
//
// Every lane of a warp holds the whole 16×16 tile in its fragment (so
// element-wise loops over x[0..num_elements) stay uniform and correct),
// load_matrix_sync reads the whole tile and mma_sync computes the whole
// product in float32 (bf16 operands converted exactly, k summed in order
// 0..15 per element, each step rounded to float32). store_matrix_sync
// writes only this lane's share of the tile: element (row, col) belongs to
// lane 4·(row % 8) + (col % 8)/2, the accumulator layout of the sm_80+
// mma.m16n8k16 instructions wmma is built on (lane L: rows L/4 and L/4 + 8,
// columns 2(L%4) + {0, 1, 8, 9}). A lane that reads the stored tile before
// a __syncwarp therefore sees other lanes' elements not yet written, as on
// hardware, where each lane holds and stores only its own elements.
//
// The wmma operations do not switch fibers: lanes run one after another
// between sync points, so a lane's load_matrix_sync sees exactly the
// writes of the lanes that ran before it since the last barrier. Correct
// code (a __syncwarp or __syncthreads between writing a tile and loading
// it) gives the right answer; code that relies on the .sync in the name to
// order other lanes' plain stores before its load does not. In-place
// accumulation (load C from memory, mma, store to the same place) stays
// correct because a lane's stored elements depend only on the same
// elements of its loaded C.
//
// Checked (the launch fails): pointers 32-byte aligned, ldm a multiple of
// 16 bytes, as the CUDA documentation requires; every lane of a warp does
// the same number of load/store/mma_sync calls (compared at every barrier
// and when the block ends: a wmma call in divergent code is an error).
#pragma once

#include <stdint.h>

#include <type_traits>

#include "cuda_bf16.h"
#include "emu_cuda.h"

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
	static_assert(M == 16 && N == 16 && K == 16, "the emulator has 16x16x16 fragments only");
	static constexpr int rows = std::is_same<Use, matrix_b>::value ? K : M;
	static constexpr int cols = std::is_same<Use, matrix_a>::value ? K : N;
	static constexpr int num_elements = rows * cols;
	T x[rows * cols]; // row-major [rows][cols], whatever the memory layout
};

namespace detail {
inline float tof(float v) { return v; }
inline float tof(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
inline void check(const char *op, const void *p, unsigned ldm) {
	if ((uintptr_t)p % 32 != 0) emu::fail("%s: pointer %p is not 32-byte (256-bit) aligned", op, p);
	if ((ldm * sizeof(T)) % 16 != 0) emu::fail("%s: ldm %u (elements of %zu bytes) is not a multiple of 16 bytes", op, ldm, sizeof(T));
}
} // namespace detail

template <typename Use, int M, int N, int K, typename T, typename Layout>
inline void fill_fragment(fragment<Use, M, N, K, T, Layout> &f, const T &v) {
	for (int i = 0; i < f.num_elements; i++) f.x[i] = v;
}

// fill_fragment(acc, 0.0f) with T = float; bf16 fragments take a bf16.
template <typename Use, int M, int N, int K, typename Layout>
inline void fill_fragment(fragment<Use, M, N, K, float, Layout> &f, float v) {
	for (int i = 0; i < f.num_elements; i++) f.x[i] = v;
}

// matrix_a / matrix_b: the layout is the fragment's.
template <typename Use, int M, int N, int K, typename T, typename Layout>
inline void load_matrix_sync(fragment<Use, M, N, K, T, Layout> &f, const T *p, unsigned ldm) {
	static_assert(!std::is_same<Use, accumulator>::value, "accumulator loads take a layout_t");
	emu::collective();
	detail::check<T>("load_matrix_sync", p, ldm);
	typedef fragment<Use, M, N, K, T, Layout> F;
	for (int r = 0; r < F::rows; r++)
		for (int c = 0; c < F::cols; c++)
			f.x[r * F::cols + c] = std::is_same<Layout, col_major>::value ? p[(long)c * ldm + r] : p[(long)r * ldm + c];
}

template <int M, int N, int K, typename T>
inline void load_matrix_sync(fragment<accumulator, M, N, K, T> &f, const T *p, unsigned ldm, layout_t layout) {
	emu::collective();
	detail::check<T>("load_matrix_sync(accumulator)", p, ldm);
	for (int r = 0; r < M; r++)
		for (int c = 0; c < N; c++) f.x[r * N + c] = layout == mem_col_major ? p[(long)c * ldm + r] : p[(long)r * ldm + c];
}

template <int M, int N, int K, typename T>
inline void store_matrix_sync(T *p, const fragment<accumulator, M, N, K, T> &f, unsigned ldm, layout_t layout) {
	emu::collective();
	detail::check<T>("store_matrix_sync", p, ldm);
	// The lane's 8 elements: rows L/4 and L/4 + 8, columns 2(L%4) + {0, 1, 8, 9}.
	int lane = emu::laneId(), r0 = lane >> 2, c0 = 2 * (lane & 3);
	for (int i = 0; i < 8; i++) {
		int r = r0 + 8 * (i >> 2), c = c0 + (i & 1) + 8 * ((i >> 1) & 1);
		int e = r * N + c;
		if (layout == mem_col_major) p[(long)c * ldm + r] = f.x[e];
		else p[(long)r * ldm + c] = f.x[e];
	}
}

// d = a·b + c, float32 accumulation.
template <int M, int N, int K, typename TA, typename LA, typename TB, typename LB, typename TC>
inline void mma_sync(fragment<accumulator, M, N, K, TC> &d, const fragment<matrix_a, M, N, K, TA, LA> &a,
                     const fragment<matrix_b, M, N, K, TB, LB> &b, const fragment<accumulator, M, N, K, TC> &c) {
	emu::collective();
	float af[M * K], bf[K * N], acc[M * N];
	for (int i = 0; i < M * K; i++) af[i] = detail::tof(a.x[i]);
	for (int i = 0; i < K * N; i++) bf[i] = detail::tof(b.x[i]);
	for (int i = 0; i < M * N; i++) acc[i] = c.x[i];
	for (int i = 0; i < M; i++)
		for (int k = 0; k < K; k++) {
			float av = af[i * K + k];
			for (int j = 0; j < N; j++) acc[i * N + j] += av * bf[k * N + j];
		}
	for (int i = 0; i < M * N; i++) d.x[i] = acc[i];
}

} // namespace wmma
} // namespace nvcuda
