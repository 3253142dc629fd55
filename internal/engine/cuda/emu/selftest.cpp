// Self-test of the Whetstone CUDA emulator's execution model: kernels with
// the bugs it must catch (a missing __syncthreads or __syncwarp, a write
// past dynamic shared memory, a deadlock, misaligned wmma) and kernels it
// must run right (shared-memory reductions, shuffles, wmma products against
// plain loops). Built and run by `scripts/cuda-emu.sh test`; exits 1 on a
// failed check.
#include "include/emu_cuda.h"

#include <mma.h>
#include <cuda_bf16.h>
#include <stdio.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "emu.hpp"

alignas(128) thread_local float smem[(64 << 10) / 4];

using namespace nvcuda;

// block_sum: out[blockIdx.x] = Σ in[blockIdx.x·n + i], a shared-memory tree
// reduction; with skip set, the __syncthreads inside the tree is left out.
__global__ void block_sum(float *out, const float *in, int n, int skip) {
	__shared__ float buf[256];
	int t = threadIdx.x;
	buf[t] = t < n ? in[blockIdx.x * n + t] : 0.0f;
	__syncthreads();
	for (int s = blockDim.x / 2; s > 0; s >>= 1) {
		float v = t < s ? buf[t] + buf[t + s] : 0.0f;
		if (!skip) __syncthreads();
		if (t < s) buf[t] = v;
		if (!skip) __syncthreads();
	}
	if (t == 0) out[blockIdx.x] = buf[0];
}

// warp_shfl: out[t] = Σ over the warp by __shfl_xor_sync (float and double),
// and out2[t] = the value of lane t^5.
__global__ void warp_shfl(float *out, double *outd, float *out2, const float *in) {
	int t = threadIdx.x;
	float v = in[t];
	double d = in[t];
	out2[t] = __shfl_xor_sync(0xffffffffu, v, 5);
	for (int o = 16; o > 0; o >>= 1) {
		v += __shfl_xor_sync(0xffffffffu, v, o);
		d += __shfl_xor_sync(0xffffffffu, d, o);
	}
	out[t] = v;
	outd[t] = d;
}

// wmma_prod: C = A·B (16×16, bf16 A row-major, B col-major from a
// transposed tile), stored to shared memory, then each lane copies row
// lane/2, half the columns (or elements lane + 32i), to out — with (sync 1)
// or without the __syncwarp
// between the store and the reads.
__global__ void wmma_prod(float *out, const float *a, const float *b, int sync) {
	extern __shared__ __align__(128) float smem[];
	__nv_bfloat16 *as = (__nv_bfloat16 *)smem, *bs = as + 256;
	float *cs = smem + 256;
	int lane = threadIdx.x;
	for (int e = lane; e < 256; e += 32) {
		as[e] = __float2bfloat16_rn(a[e]);
		bs[e] = __float2bfloat16_rn(b[e]); // bs[n·16 + k] = B[k][n]
	}
	__syncwarp();
	wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
	wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> fb;
	wmma::fragment<wmma::accumulator, 16, 16, 16, float> fc;
	wmma::fill_fragment(fc, 0.0f);
	wmma::load_matrix_sync(fa, as, 16);
	wmma::load_matrix_sync(fb, bs, 16);
	wmma::mma_sync(fc, fa, fb, fc);
	for (int i = 0; i < fc.num_elements; i++) fc.x[i] *= 2.0f;
	wmma::store_matrix_sync(cs, fc, 16, wmma::mem_row_major);
	if (sync == 1) __syncwarp();
	if (sync < 2) {
		int r = lane >> 1, half = lane & 1;
		for (int c = half; c < 16; c += 2) out[r * 16 + c] = cs[r * 16 + c];
	} else // elements lane, lane + 32, …: not the lane's own either
		for (int e = lane; e < 256; e += 32) out[e] = cs[e];
}

// misaligned: a wmma load from a pointer 16 bytes off alignment.
__global__ void misaligned(float *out) {
	extern __shared__ __align__(128) float smem[];
	for (int e = threadIdx.x; e < 512; e += 32) smem[e] = 0;
	__syncwarp();
	wmma::fragment<wmma::accumulator, 16, 16, 16, float> fc;
	wmma::load_matrix_sync(fc, smem + 4, 16, wmma::mem_row_major);
	out[threadIdx.x] = fc.x[0];
}

// divergent: only half the warp's lanes load a wmma tile.
__global__ void divergent(float *out) {
	extern __shared__ __align__(128) float smem[];
	for (int e = threadIdx.x; e < 256; e += 32) smem[e] = 1;
	__syncwarp();
	wmma::fragment<wmma::accumulator, 16, 16, 16, float> fc;
	wmma::fill_fragment(fc, 0.0f);
	if (threadIdx.x < 16) wmma::load_matrix_sync(fc, smem, 16, wmma::mem_row_major);
	__syncwarp();
	out[threadIdx.x] = fc.x[0];
}

// overrun writes one float past n floats of dynamic shared memory.
__global__ void overrun(int n) {
	extern __shared__ __align__(128) float smem[];
	for (int i = threadIdx.x; i <= n; i += blockDim.x) smem[i] = 1.0f;
}

// deadlock: lane 0 waits at __syncthreads, the rest of its warp at __syncwarp.
__global__ void deadlock() {
	if (threadIdx.x == 0) __syncthreads();
	else __syncwarp();
}

// uninit reads dynamic shared memory nobody wrote.
__global__ void uninit(float *out) {
	extern __shared__ __align__(128) float smem[];
	out[threadIdx.x] = smem[threadIdx.x];
}

// atomics: every thread of every block adds 1 (float) and 0.5 (double).
__global__ void atomics(float *f, double *d) {
	atomicAdd(f, 1.0f);
	atomicAdd(d, 0.5);
}

namespace {

int failures;

void check(bool ok, const char *what, const std::string &detail = "") {
	fflush(stdout);
	printf("%s  %s%s%s\n", ok ? "ok  " : "FAIL", what, detail.empty() ? "" : ": ", detail.c_str());
	if (!ok) failures++;
}

template <typename F>
emu::Kernel *kernel(const char *name, F *f) {
	static std::vector<emu::Kernel *> ks;
	emu::Kernel *k = new emu::Kernel{name, (void *)f, emu::invokerFor(f)};
	ks.push_back(k);
	return k;
}

template <typename... A>
std::string run(emu::Kernel *k, dim3 g, dim3 b, unsigned sm, A... args) {
	void *p[] = {(void *)&args...};
	return emu::launch(k, g, b, sm, p);
}

float bfr(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }

} // namespace

int main() {
	setvbuf(stdout, nullptr, _IONBF, 0);
	emu::registerSmem({[]() -> void * { return smem; }, sizeof smem, "smem"});
	srand(1);
	std::vector<float> in(4 * 200);
	for (auto &x : in) x = (float)(rand() % 1000) / 100.0f;

	{ // __syncthreads: right with it, wrong without
		auto *k = kernel("block_sum", block_sum);
		for (int skip = 0; skip < 2; skip++) {
			std::vector<float> out(4, -1);
			std::string e = run(k, dim3(4), dim3(256), 0, out.data(), (const float *)in.data(), 200, skip);
			double worst = 0;
			for (int b = 0; b < 4; b++) {
				double s = 0;
				for (int i = 0; i < 200; i++) s += in[b * 200 + i];
				worst = fmax(worst, fabs(out[b] - s) / fabs(s));
			}
			char d[100];
			snprintf(d, sizeof d, "worst relative error %.2g", worst);
			if (skip == 0) check(e.empty() && worst < 1e-5, "block reduction with __syncthreads matches a loop", e + d);
			else check(e.empty() && worst > 1e-3, "block reduction without __syncthreads gives a wrong sum", e + d);
		}
	}
	{ // shuffles
		auto *k = kernel("warp_shfl", warp_shfl);
		std::vector<float> out(64), out2(64);
		std::vector<double> outd(64);
		std::string e = run(k, dim3(1), dim3(64), 0, out.data(), outd.data(), out2.data(), (const float *)in.data());
		bool ok = e.empty();
		for (int w = 0; w < 2; w++) {
			double s = 0;
			for (int i = 0; i < 32; i++) s += in[32 * w + i];
			for (int i = 0; i < 32; i++) {
				ok = ok && fabs(out[32 * w + i] - s) < 1e-4 * fabs(s) && fabs(outd[32 * w + i] - s) < 1e-9 * fabs(s);
				ok = ok && out2[32 * w + i] == in[32 * w + (i ^ 5)];
			}
		}
		check(ok, "__shfl_xor_sync sums and exchanges (float, double) match a loop", e);
	}
	{ // wmma
		auto *k = kernel("wmma_prod", wmma_prod);
		std::vector<float> a(256), b(256), want(256);
		for (int i = 0; i < 256; i++) {
			a[i] = (float)(rand() % 2001 - 1000) / 337.0f;
			b[i] = (float)(rand() % 2001 - 1000) / 251.0f;
		}
		for (int i = 0; i < 16; i++)
			for (int j = 0; j < 16; j++) {
				double s = 0;
				for (int kk = 0; kk < 16; kk++) s += (double)bfr(a[i * 16 + kk]) * bfr(b[j * 16 + kk]);
				want[i * 16 + j] = (float)(2 * s);
			}
		for (int sync = 1; sync >= 0; sync--)
			for (int pattern = 0; pattern < 2; pattern++) {
			std::vector<float> out(256);
			int mode = sync ? 1 : pattern == 0 ? 0 : 2; // 0: no sync, rows; 1: sync; 2: no sync, strided
			if (sync && pattern) break;
			std::string e = run(k, dim3(1), dim3(32), 4096, out.data(), (const float *)a.data(), (const float *)b.data(), mode);
			double worst = 0;
			int wrong = 0;
			for (int i = 0; i < 256; i++) {
				double d = fabs(out[i] - want[i]);
				worst = fmax(worst, d);
				if (!(d <= 1e-4 * (1 + fabs(want[i])))) wrong++;
			}
			char d[100];
			snprintf(d, sizeof d, "%d of 256 elements wrong, worst error %.2g", wrong, worst);
			if (sync) check(e.empty() && wrong == 0, "wmma bf16 16x16x16 product (row_major A, col_major B) matches a loop", e + d);
			else
				check(e.empty() && wrong > 0,
				      pattern ? "reading a stored wmma tile (elements lane + 32i) without __syncwarp gives wrong elements"
				              : "reading a stored wmma tile (row lane/2) without __syncwarp gives wrong elements",
				      e + d);
		}
	}
	{
		std::vector<float> out(32);
		std::string e = run(kernel("misaligned", misaligned), dim3(1), dim3(32), 4096, out.data());
		check(e.find("not 32-byte") != std::string::npos, "a misaligned wmma load fails the launch", e);
	}
	{
		std::vector<float> out(32);
		std::string e = run(kernel("divergent", divergent), dim3(1), dim3(32), 4096, out.data());
		check(e.find("diverged on warp-collective") != std::string::npos, "a wmma load by half a warp fails the launch", e);
	}
	{
		std::string e = run(kernel("overrun", overrun), dim3(2), dim3(64), 1024, 256);
		check(e.find("wrote past the 1024 bytes") != std::string::npos, "a write past dynamic shared memory fails the launch", e);
		e = run(kernel("overrun", overrun), dim3(2), dim3(64), 1028, 256);
		check(e.empty(), "the same write within the launch's dynamic shared memory is fine", e);
	}
	{
		std::string e = run(kernel("deadlock", deadlock), dim3(1), dim3(64), 0);
		check(e.find("deadlock") != std::string::npos, "threads of a warp at different barriers: a deadlock error", e);
	}
	{
		std::vector<float> out(32);
		std::string e = run(kernel("uninit", uninit), dim3(1), dim3(32), 128, out.data());
		bool nan = true;
		for (float x : out) nan = nan && std::isnan(x);
		check(e.empty() && nan, "uninitialised dynamic shared memory reads as NaN", e);
	}
	{
		float f = 0;
		double d = 0;
		std::string e = run(kernel("atomics", atomics), dim3(3), dim3(100), 0, &f, &d);
		check(e.empty() && f == 300 && d == 150, "atomicAdd (float, double) over 3 blocks of 100", e);
	}
	printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
