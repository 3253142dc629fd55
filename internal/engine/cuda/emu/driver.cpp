// The CUDA driver API and cuBLASLt entry points Whetstone loads with dlopen
// (internal/engine/cuda/driver_cgo.go, blaslt_cgo.go), implemented on the
// CPU: device memory is host memory, launches run synchronously through
// the scheduler (sched.cpp), products are float32 loops.
//
// Checks that turn bugs into errors (cuGetErrorString says what happened):
//   - launch configuration: block size > 1024 or over the kernel's
//     .maxntid (__launch_bounds__, read from the PTX), grid limits, dynamic
//     shared memory over 48 KiB unless raised with cuFuncSetAttribute, or
//     over the device's limit (cuFuncSetAttribute);
//   - kernel faults (sticky, as on a GPU: every later call fails): writes
//     past the launch's dynamic shared memory, a deadlocked block, wmma
//     misuse, an allocation's guard bytes overwritten (checked after every
//     launch and product, and at free);
//   - copies, memsets and products touching memory outside a live
//     allocation; frees of something that is not an allocation;
//   - cuModuleLoadDataEx: every .entry of the PTX must be a kernel the
//     emulator has (it runs kernels.cu's source, not the PTX);
//   - cuModuleGetFunction of an unknown name.
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "emu.hpp"

#define API extern "C" __attribute__((visibility("default")))

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

enum {
	CUDA_SUCCESS = 0,
	CUDA_ERROR_INVALID_VALUE = 1,
	CUDA_ERROR_OUT_OF_MEMORY = 2,
	CUDA_ERROR_NOT_INITIALIZED = 3,
	CUDA_ERROR_INVALID_DEVICE = 101,
	CUDA_ERROR_INVALID_IMAGE = 200,
	CUDA_ERROR_INVALID_CONTEXT = 201,
	CUDA_ERROR_INVALID_PTX = 218,
	CUDA_ERROR_INVALID_HANDLE = 400,
	CUDA_ERROR_NOT_FOUND = 500,
	CUDA_ERROR_ILLEGAL_ADDRESS = 700,
	CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES = 701,
	CUDA_ERROR_LAUNCH_FAILED = 719,
};

namespace {

std::recursive_mutex mu;
bool inited;
int ccMajor = 9, ccMinor = 0;
size_t totalMem = (size_t)16 << 30;
size_t allocated;
int gemmMode; // cublasLtMatmul's sums: 0 eight partial sums, 1 sequential, 2 float64 (WHET_CUDA_EMU_GEMM)
int sticky; // a kernel fault: every later call returns it
std::map<int, std::string> detail;

CUresult setErr(int code, const std::string &msg) {
	detail[code] = msg;
	if (getenv("WHET_CUDA_EMU_VERBOSE")) fprintf(stderr, "whet cuda emulator: error %d: %s\n", code, msg.c_str());
	return code;
}

CUresult fault(const std::string &msg) {
	sticky = CUDA_ERROR_LAUNCH_FAILED;
	return setErr(CUDA_ERROR_LAUNCH_FAILED, msg);
}

std::string fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char *f, ...) {
	char b[1024];
	va_list ap;
	va_start(ap, f);
	vsnprintf(b, sizeof b, f, ap);
	va_end(ap);
	return b;
}

// Device memory: [guard][bytes][guard], the guards a byte pattern checked
// after every launch. New memory is filled with 0xff (NaN as float or bf16)
// so reading memory nobody wrote shows.
constexpr size_t kGuard = 256;
constexpr unsigned char kGuardByte = 0xa5;
struct Alloc {
	size_t bytes;
	unsigned char *base;
};
std::map<uintptr_t, Alloc> allocs; // by user address

std::string checkGuards(uintptr_t p, const Alloc &a) {
	const unsigned char *front = a.base, *back = (const unsigned char *)p + a.bytes;
	for (size_t i = 0; i < kGuard; i++) {
		if (front[i] != kGuardByte)
			return fmt("the %zu bytes before allocation 0x%llx (%zu bytes) were overwritten (byte -%zu)", kGuard, (unsigned long long)p, a.bytes,
			           kGuard - i);
		if (back[i] != kGuardByte)
			return fmt("the %zu bytes after allocation 0x%llx (%zu bytes) were overwritten (byte %zu past the end)", kGuard, (unsigned long long)p,
			           a.bytes, i);
	}
	return "";
}

std::string checkAllGuards() {
	for (auto &kv : allocs) {
		std::string e = checkGuards(kv.first, kv.second);
		if (!e.empty()) return e;
	}
	return "";
}

// inAlloc reports whether [p, p+n) lies inside one live allocation.
bool inAlloc(uintptr_t p, size_t n) {
	auto it = allocs.upper_bound(p);
	if (it == allocs.begin()) return false;
	--it;
	return p >= it->first && p + n <= it->first + it->second.bytes;
}

std::string where(uintptr_t p, size_t n) {
	return fmt("[0x%llx, +%zu bytes) is not inside one live allocation", (unsigned long long)p, n);
}

// The largest dynamic shared memory a block may opt into, per chip.
unsigned smemOptin() {
	int cc = ccMajor * 10 + ccMinor;
	if (cc >= 90) return 227 << 10;
	if (cc == 80 || cc == 87) return 163 << 10;
	if (cc >= 86) return 99 << 10;
	if (cc >= 75) return 64 << 10;
	return 96 << 10;
}

int smCount() {
	if (ccMajor >= 9) return 132;
	if (ccMajor == 8 && ccMinor == 0) return 108;
	return 84;
}

struct Module {
	std::map<std::string, emu::Kernel *> fns;
};

double nowMs() {
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// Per-kernel host time (WHET_CUDA_EMU_STATS=1 prints it at exit).
std::map<std::string, std::pair<double, long>> stats;
bool statsOn;
void printStats() {
	std::vector<std::pair<double, std::string>> v;
	for (auto &kv : stats) v.push_back({kv.second.first, kv.first});
	std::sort(v.rbegin(), v.rend());
	fprintf(stderr, "whet cuda emulator: host time per kernel (not GPU time)\n");
	for (auto &x : v) fprintf(stderr, "  %-28s %10.1f ms %8ld calls\n", x.second.c_str(), x.first, stats[x.second].second);
}

} // namespace

API CUresult cuInit(unsigned int) {
	std::lock_guard<std::recursive_mutex> l(mu);
	if (inited) return CUDA_SUCCESS;
	if (const char *cc = getenv("WHET_CUDA_EMU_CC")) {
		int a, b;
		if (sscanf(cc, "%d.%d", &a, &b) != 2) return setErr(CUDA_ERROR_INVALID_VALUE, fmt("WHET_CUDA_EMU_CC=%s: want major.minor, like 8.6", cc));
		ccMajor = a;
		ccMinor = b;
	}
	if (const char *m = getenv("WHET_CUDA_EMU_MEM_GIB")) totalMem = (size_t)(atof(m) * (1 << 30));
	statsOn = getenv("WHET_CUDA_EMU_STATS") != nullptr;
	if (const char *g = getenv("WHET_CUDA_EMU_GEMM")) gemmMode = !strcmp(g, "seq") ? 1 : !strcmp(g, "f64") ? 2 : 0;
	if (statsOn) atexit(printStats);
	inited = true;
	return CUDA_SUCCESS;
}

API CUresult cuDriverGetVersion(int *v) {
	*v = 12080;
	return CUDA_SUCCESS;
}

API CUresult cuDeviceGetCount(int *n) {
	*n = inited ? 1 : 0;
	return inited ? CUDA_SUCCESS : setErr(CUDA_ERROR_NOT_INITIALIZED, "cuInit was not called");
}

API CUresult cuDeviceGet(int *d, int ord) {
	if (ord != 0) return setErr(CUDA_ERROR_INVALID_DEVICE, fmt("device %d: the emulator has one device", ord));
	*d = 0;
	return CUDA_SUCCESS;
}

API CUresult cuDeviceGetName(char *name, int len, int) {
	snprintf(name, len, "Whetstone CUDA emulator (CPU)");
	return CUDA_SUCCESS;
}

API CUresult cuDeviceTotalMem_v2(size_t *b, int) {
	*b = totalMem;
	return CUDA_SUCCESS;
}

API CUresult cuDeviceGetAttribute(int *v, int attr, int) {
	switch (attr) {
	case 1: *v = 1024; break;                                // MAX_THREADS_PER_BLOCK
	case 2: case 3: *v = attr == 2 ? 1024 : 1024; break;     // MAX_BLOCK_DIM_X, Y
	case 4: *v = 64; break;                                  // MAX_BLOCK_DIM_Z
	case 5: *v = 2147483647; break;                          // MAX_GRID_DIM_X
	case 6: case 7: *v = 65535; break;                       // MAX_GRID_DIM_Y, Z
	case 8: *v = 48 << 10; break;                            // MAX_SHARED_MEMORY_PER_BLOCK
	case 10: *v = 32; break;                                 // WARP_SIZE
	case 16: *v = smCount(); break;                          // MULTIPROCESSOR_COUNT
	case 75: *v = ccMajor; break;                            // COMPUTE_CAPABILITY_MAJOR
	case 76: *v = ccMinor; break;                            // COMPUTE_CAPABILITY_MINOR
	case 97: *v = (int)smemOptin(); break;                   // MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
	default: return setErr(CUDA_ERROR_INVALID_VALUE, fmt("cuDeviceGetAttribute(%d): not emulated", attr));
	}
	return CUDA_SUCCESS;
}

static int theCtx;
static thread_local void *curCtx;

API CUresult cuDevicePrimaryCtxRetain(void **c, int) {
	*c = &theCtx;
	return CUDA_SUCCESS;
}
API CUresult cuDevicePrimaryCtxRelease_v2(int) { return CUDA_SUCCESS; }
API CUresult cuCtxSetCurrent(void *c) {
	curCtx = c;
	return CUDA_SUCCESS;
}
API CUresult cuCtxGetCurrent(void **c) {
	*c = curCtx;
	return CUDA_SUCCESS;
}

API CUresult cuCtxSynchronize(void) {
	std::lock_guard<std::recursive_mutex> l(mu);
	if (sticky) return sticky;
	std::string e = checkAllGuards();
	if (!e.empty()) return fault(e);
	return CUDA_SUCCESS;
}

API CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n) {
	std::lock_guard<std::recursive_mutex> l(mu);
	if (sticky) return sticky;
	if (n == 0) return setErr(CUDA_ERROR_INVALID_VALUE, "cuMemAlloc of 0 bytes");
	if (n > totalMem - allocated)
		return setErr(CUDA_ERROR_OUT_OF_MEMORY, fmt("out of memory: %zu bytes requested, %zu of %zu free (WHET_CUDA_EMU_MEM_GIB sets the size)", n,
		                                            totalMem - allocated, totalMem));
	size_t body = (n + 255) & ~(size_t)255;
	unsigned char *base = (unsigned char *)aligned_alloc(256, kGuard + body + kGuard);
	if (!base) return setErr(CUDA_ERROR_OUT_OF_MEMORY, fmt("host allocation of %zu bytes failed", n));
	memset(base, kGuardByte, kGuard);
	memset(base + kGuard, 0xff, n);
	memset(base + kGuard + n, kGuardByte, kGuard);
	uintptr_t u = (uintptr_t)(base + kGuard);
	allocs[u] = {n, base};
	allocated += n;
	*p = u;
	return CUDA_SUCCESS;
}

API CUresult cuMemFree_v2(CUdeviceptr p) {
	std::lock_guard<std::recursive_mutex> l(mu);
	if (sticky) return sticky;
	auto it = allocs.find((uintptr_t)p);
	if (it == allocs.end()) return setErr(CUDA_ERROR_INVALID_VALUE, fmt("cuMemFree(0x%llx): not an allocation", p));
	std::string e = checkGuards(it->first, it->second);
	if (!e.empty()) return fault(e);
	allocated -= it->second.bytes;
	free(it->second.base);
	allocs.erase(it);
	return CUDA_SUCCESS;
}

API CUresult cuMemGetInfo_v2(size_t *f, size_t *t) {
	std::lock_guard<std::recursive_mutex> l(mu);
	*f = totalMem - allocated;
	*t = totalMem;
	return CUDA_SUCCESS;
}

API CUresult cuMemcpyHtoD_v2(CUdeviceptr d, const void *h, size_t n) {
	std::lock_guard<std::recursive_mutex> l(mu);
	if (sticky) return sticky;
	if (!inAlloc(d, n)) return setErr(CUDA_ERROR_INVALID_VALUE, "cuMemcpyHtoD: destination " + where(d, n));
	memcpy((void *)d, h, n);
	return CUDA_SUCCESS;
}

API CUresult cuMemcpyDtoH_v2(void *h, CUdeviceptr s, size_t n) {
	std::lock_guard<std::recursive_mutex> l(mu);
	if (sticky) return sticky;
	if (!inAlloc(s, n)) return setErr(CUDA_ERROR_INVALID_VALUE, "cuMemcpyDtoH: source " + where(s, n));
	memcpy(h, (const void *)s, n);
	return CUDA_SUCCESS;
}

API CUresult cuMemcpyDtoD_v2(CUdeviceptr d, CUdeviceptr s, size_t n) {
	std::lock_guard<std::recursive_mutex> l(mu);
	if (sticky) return sticky;
	if (!inAlloc(d, n)) return setErr(CUDA_ERROR_INVALID_VALUE, "cuMemcpyDtoD: destination " + where(d, n));
	if (!inAlloc(s, n)) return setErr(CUDA_ERROR_INVALID_VALUE, "cuMemcpyDtoD: source " + where(s, n));
	memmove((void *)d, (const void *)s, n);
	return CUDA_SUCCESS;
}

API CUresult cuMemsetD8_v2(CUdeviceptr d, unsigned char v, size_t n) {
	std::lock_guard<std::recursive_mutex> l(mu);
	if (sticky) return sticky;
	if (!inAlloc(d, n)) return setErr(CUDA_ERROR_INVALID_VALUE, "cuMemsetD8: " + where(d, n));
	memset((void *)d, v, n);
	return CUDA_SUCCESS;
}

extern "C" const char *whet_emu_kernels_sha256();

// cuModuleLoadDataEx: the image is PTX text. Its entries (and their
// .maxntid) are matched against the kernels compiled into the emulator.
API CUresult cuModuleLoadDataEx(void **mod, const void *image, unsigned int nopts, int *opts, void **vals) {
	std::lock_guard<std::recursive_mutex> l(mu);
	if (sticky) return sticky;
	char *logBuf = nullptr;
	size_t logLen = 0;
	for (unsigned i = 0; i < nopts; i++) {
		if (opts[i] == 5) logBuf = (char *)vals[i];
		if (opts[i] == 6) logLen = (size_t)(uintptr_t)vals[i];
	}
	auto jitFail = [&](const std::string &msg) {
		if (logBuf && logLen) snprintf(logBuf, logLen, "whet cuda emulator: %s", msg.c_str());
		return setErr(CUDA_ERROR_INVALID_PTX, msg);
	};
	std::istringstream in((const char *)image);
	std::string line, cur, missing, sha;
	Module *m = new Module;
	std::set<std::string> seen;
	while (std::getline(in, line)) {
		if (line.rfind("// kernels.cu sha256: ", 0) == 0) sha = line.substr(22);
		size_t at = line.find(".entry ");
		if (at != std::string::npos && line.find("//") != 0) {
			std::string rest = line.substr(at + 7);
			size_t e = rest.find_first_of("( \t");
			cur = rest.substr(0, e);
			emu::Kernel *k = emu::findKernel(cur);
			if (!k) {
				missing += (missing.empty() ? "" : ", ") + cur;
				continue;
			}
			k->maxThreads = 0;
			m->fns[cur] = k;
			seen.insert(cur);
			continue;
		}
		if (!cur.empty() && (line.rfind(".maxntid", 0) == 0 || line.rfind(".reqntid", 0) == 0)) {
			unsigned x = 1, y = 1, z = 1;
			sscanf(line.c_str() + 8, " %u , %u , %u", &x, &y, &z);
			if (m->fns.count(cur)) m->fns[cur]->maxThreads = x * y * z;
		}
		if (line.rfind("{", 0) == 0) cur.clear();
	}
	if (!missing.empty()) {
		delete m;
		return jitFail("the PTX has entries the emulator does not have (register them in internal/engine/cuda/emu/kernels.cpp): " + missing);
	}
	if (m->fns.empty()) {
		delete m;
		return jitFail("no .entry in the PTX");
	}
	for (emu::Kernel *k : emu::registry())
		if (!seen.count(k->name))
			fprintf(stderr, "whet cuda emulator: kernel %s is compiled in but not in the PTX (stale PTX?)\n", k->name.c_str());
	const char *mine = whet_emu_kernels_sha256();
	if (mine[0] && !sha.empty() && sha != mine)
		fprintf(stderr, "whet cuda emulator: the PTX was generated from kernels.cu %s, the emulator runs %s (the emulator tests the source)\n",
		        sha.c_str(), mine);
	*mod = m;
	return CUDA_SUCCESS;
}

API CUresult cuModuleGetFunction(void **f, void *mod, const char *name) {
	std::lock_guard<std::recursive_mutex> l(mu);
	Module *m = (Module *)mod;
	auto it = m->fns.find(name);
	if (it == m->fns.end()) return setErr(CUDA_ERROR_NOT_FOUND, fmt("cuModuleGetFunction: no kernel named %s in the module", name));
	*f = it->second;
	return CUDA_SUCCESS;
}

// Only CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES (8) is emulated.
API CUresult cuFuncSetAttribute(void *f, int attr, int v) {
	std::lock_guard<std::recursive_mutex> l(mu);
	emu::Kernel *k = (emu::Kernel *)f;
	if (attr != 8) return setErr(CUDA_ERROR_INVALID_VALUE, fmt("cuFuncSetAttribute(%d): not emulated", attr));
	if (v < 0 || (unsigned)v > smemOptin())
		return setErr(CUDA_ERROR_INVALID_VALUE, fmt("%s: %d bytes of dynamic shared memory; compute %d.%d allows %u per block", k->name.c_str(), v,
		                                            ccMajor, ccMinor, smemOptin()));
	k->maxDynSmem = (unsigned)v;
	return CUDA_SUCCESS;
}

API CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned smem, void *,
                            void **params, void **extra) {
	std::lock_guard<std::recursive_mutex> l(mu);
	if (sticky) return sticky;
	emu::Kernel *k = (emu::Kernel *)f;
	if (extra) return setErr(CUDA_ERROR_INVALID_VALUE, k->name + ": the extra launch parameters are not emulated");
	unsigned long long threads = (unsigned long long)bx * by * bz;
	if (threads == 0 || gx == 0 || gy == 0 || gz == 0)
		return setErr(CUDA_ERROR_INVALID_VALUE, fmt("%s: empty launch (grid %u×%u×%u, block %u×%u×%u)", k->name.c_str(), gx, gy, gz, bx, by, bz));
	if (threads > 1024 || bx > 1024 || by > 1024 || bz > 64)
		return setErr(CUDA_ERROR_INVALID_VALUE, fmt("%s: block %u×%u×%u exceeds 1024 threads or the block dimensions", k->name.c_str(), bx, by, bz));
	if (gy > 65535 || gz > 65535 || gx > 2147483647u)
		return setErr(CUDA_ERROR_INVALID_VALUE, fmt("%s: grid %u×%u×%u exceeds the grid dimensions", k->name.c_str(), gx, gy, gz));
	if (k->maxThreads && threads > k->maxThreads)
		return setErr(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES,
		              fmt("%s: %llu threads per block, its __launch_bounds__ (.maxntid) allows %u", k->name.c_str(), threads, k->maxThreads));
	if (smem > k->maxDynSmem)
		return setErr(CUDA_ERROR_INVALID_VALUE,
		              fmt("%s: %u bytes of dynamic shared memory, the function allows %u (48 KiB unless raised with cuFuncSetAttribute)",
		                  k->name.c_str(), smem, k->maxDynSmem));
	if (getenv("WHET_CUDA_EMU_TRACE"))
		fprintf(stderr, "whet cuda emulator: %s grid %u×%u×%u block %u×%u×%u smem %u\n", k->name.c_str(), gx, gy, gz, bx, by, bz, smem);
	double t0 = statsOn ? nowMs() : 0;
	std::string e = emu::launch(k, dim3(gx, gy, gz), dim3(bx, by, bz), smem, params);
	if (statsOn) {
		auto &s = stats[k->name];
		s.first += nowMs() - t0;
		s.second++;
	}
	if (!e.empty()) return fault(e);
	e = checkAllGuards();
	if (!e.empty()) return fault(k->name + ": " + e);
	return CUDA_SUCCESS;
}

API CUresult cuGetErrorString(CUresult r, const char **s) {
	static const std::map<int, const char *> names = {
	    {0, "CUDA_SUCCESS"},
	    {1, "CUDA_ERROR_INVALID_VALUE"},
	    {2, "CUDA_ERROR_OUT_OF_MEMORY"},
	    {3, "CUDA_ERROR_NOT_INITIALIZED"},
	    {101, "CUDA_ERROR_INVALID_DEVICE"},
	    {200, "CUDA_ERROR_INVALID_IMAGE"},
	    {201, "CUDA_ERROR_INVALID_CONTEXT"},
	    {218, "CUDA_ERROR_INVALID_PTX"},
	    {400, "CUDA_ERROR_INVALID_HANDLE"},
	    {500, "CUDA_ERROR_NOT_FOUND"},
	    {700, "CUDA_ERROR_ILLEGAL_ADDRESS"},
	    {701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"},
	    {719, "CUDA_ERROR_LAUNCH_FAILED"},
	};
	std::lock_guard<std::recursive_mutex> l(mu);
	static std::map<int, std::string> texts;
	auto n = names.find(r);
	if (n == names.end()) {
		*s = nullptr;
		return CUDA_ERROR_INVALID_VALUE;
	}
	std::string t = std::string(n->second) + " (whet cuda emulator";
	auto d = detail.find(r);
	if (d != detail.end()) t += ": " + d->second;
	t += ")";
	texts[r] = t;
	*s = texts[r].c_str();
	return CUDA_SUCCESS;
}

// Events: host time (everything is synchronous).
API CUresult cuEventCreate(void **e, unsigned int) {
	*e = new double(0);
	return CUDA_SUCCESS;
}
API CUresult cuEventRecord(void *e, void *) {
	*(double *)e = nowMs();
	return CUDA_SUCCESS;
}
API CUresult cuEventSynchronize(void *) {
	std::lock_guard<std::recursive_mutex> l(mu);
	return sticky;
}
API CUresult cuEventElapsedTime(float *ms, void *a, void *b) {
	*ms = (float)(*(double *)b - *(double *)a);
	return CUDA_SUCCESS;
}
API CUresult cuEventDestroy_v2(void *e) {
	delete (double *)e;
	return CUDA_SUCCESS;
}

// ---- cuBLASLt ----

typedef int cublasStatus_t;
enum {
	CUBLAS_STATUS_SUCCESS = 0,
	CUBLAS_STATUS_NOT_INITIALIZED = 1,
	CUBLAS_STATUS_INVALID_VALUE = 7,
	CUBLAS_STATUS_EXECUTION_FAILED = 13,
	CUBLAS_STATUS_NOT_SUPPORTED = 15,
};

namespace {
struct LtDesc {
	int compute, scale, ta = 0, tb = 0;
};
struct LtLayout {
	int type;
	uint64_t rows, cols;
	int64_t ld;
};
struct LtPref {
	uint64_t ws = 0;
	uint32_t align[4] = {256, 256, 256, 256};
};
struct LtAlgo {
	uint64_t magic;
	uint32_t align[4];
	uint64_t pad[5];
};
static_assert(sizeof(LtAlgo) == 64, "cublasLtMatmulAlgo_t is 64 bytes");
struct LtHeur {
	LtAlgo algo;
	size_t workspaceSize;
	cublasStatus_t state;
	float wavesCount;
	int reserved[4];
};
constexpr uint64_t kAlgoMagic = 0x77686574656d7531ull;

cublasStatus_t ltErr(int code, const std::string &msg) {
	detail[100000 + code] = msg;
	fprintf(stderr, "whet cuda emulator: cuBLASLt status %d: %s\n", code, msg.c_str());
	return code;
}

inline float ldElem(const LtLayout *l, const void *p, uint64_t r, uint64_t c) {
	uint64_t i = r + c * (uint64_t)l->ld;
	if (l->type == 14) {
		uint32_t u = (uint32_t)((const uint16_t *)p)[i] << 16;
		float f;
		memcpy(&f, &u, 4);
		return f;
	}
	return ((const float *)p)[i];
}

// dot: eight interleaved float32 partial sums (vectorisable), then their
// sum; a different order from cuBLAS's, within float32 rounding.
// WHET_CUDA_EMU_GEMM=seq sums in order k = 0, 1, … instead, and =f64 in
// float64 rounded once (to see how much a result depends on the order).
float dot(const float *a, const float *b, uint64_t k) {
	if (gemmMode == 1) {
		float s = 0;
		for (uint64_t i = 0; i < k; i++) s += a[i] * b[i];
		return s;
	}
	if (gemmMode == 2) {
		double s = 0;
		for (uint64_t i = 0; i < k; i++) s += (double)a[i] * b[i];
		return (float)s;
	}
	float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
	uint64_t i = 0;
	for (; i + 8 <= k; i += 8)
		for (int j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
	for (; i < k; i++) s[i & 7] += a[i] * b[i];
	return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// extent is the bytes a column-major layout spans.
size_t extent(const LtLayout *l) {
	size_t es = l->type == 14 ? 2 : 4;
	return ((l->cols - 1) * (size_t)l->ld + l->rows) * es;
}
} // namespace

API cublasStatus_t cublasLtCreate(void **h) {
	*h = (void *)&theCtx;
	return CUBLAS_STATUS_SUCCESS;
}
API size_t cublasLtGetVersion(void) { return 120000; }

API cublasStatus_t cublasLtMatmulDescCreate(void **d, int compute, int scale) {
	if (compute != 68 || scale != 0) return ltErr(CUBLAS_STATUS_NOT_SUPPORTED, fmt("matmul desc: compute type %d, scale type %d (the emulator has CUBLAS_COMPUTE_32F, CUDA_R_32F)", compute, scale));
	*d = new LtDesc{compute, scale};
	return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasLtMatmulDescSetAttribute(void *d, int attr, const void *buf, size_t n) {
	LtDesc *x = (LtDesc *)d;
	if (attr == 3 || attr == 4) {
		if (n != 4) return ltErr(CUBLAS_STATUS_INVALID_VALUE, "TRANSA/TRANSB take an int32");
		int op;
		memcpy(&op, buf, 4);
		if (op != 0 && op != 1) return ltErr(CUBLAS_STATUS_NOT_SUPPORTED, fmt("operation %d", op));
		(attr == 3 ? x->ta : x->tb) = op;
		return CUBLAS_STATUS_SUCCESS;
	}
	return ltErr(CUBLAS_STATUS_NOT_SUPPORTED, fmt("matmul desc attribute %d is not emulated", attr));
}

API cublasStatus_t cublasLtMatrixLayoutCreate(void **l, int type, uint64_t rows, uint64_t cols, int64_t ld) {
	if (type != 0 && type != 14) return ltErr(CUBLAS_STATUS_NOT_SUPPORTED, fmt("layout type %d (the emulator has CUDA_R_32F and CUDA_R_16BF)", type));
	if (rows == 0 || cols == 0 || ld < (int64_t)rows)
		return ltErr(CUBLAS_STATUS_INVALID_VALUE, fmt("layout %llu×%llu with ld %lld (column-major: ld ≥ rows)", (unsigned long long)rows,
		                                             (unsigned long long)cols, (long long)ld));
	*l = new LtLayout{type, rows, cols, ld};
	return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasLtMatmulPreferenceCreate(void **p) {
	*p = new LtPref;
	return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasLtMatmulPreferenceSetAttribute(void *p, int attr, const void *buf, size_t n) {
	LtPref *x = (LtPref *)p;
	if (attr == 1 && n == 8) {
		memcpy(&x->ws, buf, 8);
		return CUBLAS_STATUS_SUCCESS;
	}
	if (attr >= 5 && attr <= 8 && n == 4) {
		memcpy(&x->align[attr - 5], buf, 4);
		return CUBLAS_STATUS_SUCCESS;
	}
	return ltErr(CUBLAS_STATUS_NOT_SUPPORTED, fmt("preference attribute %d (%zu bytes) is not emulated", attr, n));
}

API cublasStatus_t cublasLtMatmulAlgoGetHeuristic(void *, void *desc, void *la, void *lb, void *lc, void *ld, void *pref, int requested,
                                                  LtHeur *out, int *returned) {
	LtDesc *d = (LtDesc *)desc;
	LtLayout *A = (LtLayout *)la, *B = (LtLayout *)lb, *C = (LtLayout *)lc, *D = (LtLayout *)ld;
	uint64_t m = d->ta ? A->cols : A->rows, k = d->ta ? A->rows : A->cols;
	uint64_t kb = d->tb ? B->cols : B->rows, n = d->tb ? B->rows : B->cols;
	*returned = 0;
	if (requested < 1) return ltErr(CUBLAS_STATUS_INVALID_VALUE, "requested no algorithm");
	if (k != kb || C->rows != m || C->cols != n || D->rows != m || D->cols != n)
		return ltErr(CUBLAS_STATUS_INVALID_VALUE, fmt("shapes do not agree: op(A) %llu×%llu, op(B) %llu×%llu, C %llu×%llu, D %llu×%llu",
		                                             (unsigned long long)m, (unsigned long long)k, (unsigned long long)kb, (unsigned long long)n,
		                                             (unsigned long long)C->rows, (unsigned long long)C->cols, (unsigned long long)D->rows,
		                                             (unsigned long long)D->cols));
	if (A->type != B->type || C->type != 0 || D->type != 0)
		return ltErr(CUBLAS_STATUS_NOT_SUPPORTED, fmt("types A %d, B %d, C %d, D %d (the emulator has f32·f32 and bf16·bf16 into f32)", A->type,
		                                             B->type, C->type, D->type));
	memset(out, 0, sizeof *out);
	out->algo.magic = kAlgoMagic;
	memcpy(out->algo.align, ((LtPref *)pref)->align, sizeof out->algo.align);
	out->workspaceSize = 0;
	out->wavesCount = 1;
	*returned = 1;
	return CUBLAS_STATUS_SUCCESS;
}

// cublasLtMatmul: D = alpha·op(A)·op(B) + beta·C (column-major), float32
// accumulation (dot); C is not read when beta is 0.
API cublasStatus_t cublasLtMatmul(void *, void *desc, const void *alpha, const void *a, void *la, const void *b, void *lb, const void *beta,
                                  const void *c, void *lc, void *dp, void *ldd, const LtAlgo *algo, void *, size_t, void *) {
	std::lock_guard<std::recursive_mutex> l(mu);
	if (sticky) return ltErr(CUBLAS_STATUS_EXECUTION_FAILED, "the context has failed");
	LtDesc *d = (LtDesc *)desc;
	LtLayout *A = (LtLayout *)la, *B = (LtLayout *)lb, *C = (LtLayout *)lc, *D = (LtLayout *)ldd;
	if (!algo || algo->magic != kAlgoMagic) return ltErr(CUBLAS_STATUS_INVALID_VALUE, "the algorithm does not come from cublasLtMatmulAlgoGetHeuristic");
	const void *ptrs[4] = {a, b, c, dp};
	const LtLayout *lays[4] = {A, B, C, D};
	const char *names = "ABCD";
	float be;
	memcpy(&be, beta, 4);
	for (int i = 0; i < 4; i++) {
		if (i == 2 && be == 0) continue;
		uintptr_t p = (uintptr_t)ptrs[i];
		if (!inAlloc(p, extent(lays[i])))
			return ltErr(CUBLAS_STATUS_INVALID_VALUE, fmt("matrix %c: %s", names[i], where(p, extent(lays[i])).c_str()));
		if (p % algo->align[i] != 0)
			return ltErr(CUBLAS_STATUS_INVALID_VALUE,
			             fmt("matrix %c at 0x%llx is not aligned to the %u bytes the plan was made for", names[i], (unsigned long long)p, algo->align[i]));
	}
	uint64_t m = D->rows, n = D->cols, k = d->ta ? A->rows : A->cols;
	float al;
	memcpy(&al, alpha, 4);
	// Pack op(A) as m rows of k and op(B) as n rows of k, then dot products.
	std::vector<float> ap(m * k), bp(n * k);
	for (uint64_t i = 0; i < m; i++)
		for (uint64_t kk = 0; kk < k; kk++) ap[i * k + kk] = d->ta ? ldElem(A, a, kk, i) : ldElem(A, a, i, kk);
	for (uint64_t j = 0; j < n; j++)
		for (uint64_t kk = 0; kk < k; kk++) bp[j * k + kk] = d->tb ? ldElem(B, b, j, kk) : ldElem(B, b, kk, j);
	const float *cp = (const float *)c;
	float *out = (float *)dp;
	std::vector<float> col(m);
	for (uint64_t j = 0; j < n; j++) {
		const float *bj = &bp[j * k];
		for (uint64_t i = 0; i < m; i++) {
			const float *ai = &ap[i * k];
			col[i] = dot(ai, bj, k);
		}
		// C may alias D: read the column of C before writing it.
		for (uint64_t i = 0; i < m; i++) {
			float v = al * col[i];
			if (be != 0) v += be * cp[i + j * C->ld];
			out[i + j * D->ld] = v;
		}
	}
	std::string e = checkAllGuards();
	if (!e.empty()) {
		fault("cublasLtMatmul: " + e);
		return ltErr(CUBLAS_STATUS_EXECUTION_FAILED, e);
	}
	return CUBLAS_STATUS_SUCCESS;
}
