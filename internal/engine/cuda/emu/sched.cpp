// The block scheduler of the Whetstone CUDA emulator: a launch runs block
// by block on the calling OS thread; within a block each CUDA thread is a
// cooperative fiber that runs until it reaches a sync point or returns.
//
//   __syncthreads  waits until every live thread of the block arrived
//                  (threads that returned count as arrived);
//   __syncwarp     waits until every live lane of the warp arrived at a
//                  warp barrier;
//   shuffles       each lane writes its value to the warp's exchange
//                  slots, warp barrier, reads its partner's, warp barrier.
//
// The scheduler passes over the block's threads in order (or reverse order
// with WHET_CUDA_EMU_REVERSE=1, which also runs the blocks last to first)
// and resumes every thread that can run; the
// last thread to arrive at a barrier releases it and runs on. A pass in
// which nothing could run while threads remain is a deadlock (threads of
// one warp waiting at different kinds of barrier, say) and fails the
// launch. Stacks (kStack bytes each, a guard page below) are taken when a
// thread starts and given back when it returns, so kernels without sync
// points run every thread on the same stack.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "emu.hpp"

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

#if defined(__x86_64__)
// emu_swap saves the callee-saved registers, MXCSR and the x87 control
// word on the current stack, stores the stack pointer in *save and resumes
// the context whose stack pointer is `to`.
extern "C" void emu_swap(void **save, void *to);
asm(R"(
.pushsection .text
.globl emu_swap
.hidden emu_swap
.type emu_swap,@function
emu_swap:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	subq $8, %rsp
	stmxcsr (%rsp)
	fnstcw 4(%rsp)
	movq %rsp, (%rdi)
	movq %rsi, %rsp
	ldmxcsr (%rsp)
	fldcw 4(%rsp)
	addq $8, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
.size emu_swap, .-emu_swap
.popsection
)");
#else
#include <ucontext.h>
#endif

namespace emu {

int g_cur;
uint32_t *g_collective;

namespace {

enum State : uint8_t { NEW, READY, WAIT_BLOCK, WAIT_WARP, DONE };

struct Th {
#if defined(__x86_64__)
	void *sp;
#else
	ucontext_t uc;
#endif
	int stack;
	State state;
	uint3 tid;
};

std::vector<Th> th;
std::vector<char *> stacks;
std::vector<int> freeStacks;
std::vector<uint64_t> slots;
std::vector<uint32_t> collectiveCount;
std::vector<int> warpLive, warpWaiting;
int nthreads, nlive, blockWaiting;
#if defined(__x86_64__)
void *schedSp;
#else
ucontext_t schedUc;
#endif
Kernel *curK;
void **curParams;
std::string err;
bool reverse;

std::vector<SmemArray> &smemArrays() {
	static std::vector<SmemArray> a;
	return a;
}

int takeStack() {
	if (!freeStacks.empty()) {
		int s = freeStacks.back();
		freeStacks.pop_back();
		return s;
	}
	long page = sysconf(_SC_PAGESIZE);
	void *p = mmap(nullptr, kStack + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "whet cuda emulator: mmap of a %zu-byte fiber stack failed\n", kStack);
		abort();
	}
	mprotect(p, page, PROT_NONE); // stack overflow: a fault, not silent corruption
	stacks.push_back((char *)p + page);
	return (int)stacks.size() - 1;
}

void exitThread();

void fiberEntry() {
	curK->invoke(curK->fn, curParams);
	exitThread();
}

void initFiber(Th &t) {
	t.stack = takeStack();
	char *base = stacks[t.stack];
#if defined(__x86_64__)
	uintptr_t top = ((uintptr_t)(base + kStack)) & ~(uintptr_t)15;
	uint64_t *ret = (uint64_t *)(top - 16); // ret[0]: where emu_swap returns to; ret[1]: 0 (no caller)
	ret[0] = (uint64_t)(uintptr_t)&fiberEntry;
	ret[1] = 0;
	char *sp = (char *)ret - 56; // control words + six registers
	memset(sp, 0, 56);
	((uint32_t *)sp)[0] = 0x1f80; // MXCSR default
	((uint16_t *)sp)[2] = 0x037f; // x87 control word default
	t.sp = sp;
#else
	getcontext(&t.uc);
	t.uc.uc_stack.ss_sp = base;
	t.uc.uc_stack.ss_size = kStack;
	t.uc.uc_link = nullptr;
	makecontext(&t.uc, fiberEntry, 0);
#endif
}

// yield returns to the scheduler; it comes back when the thread may run.
inline void yield() {
#if defined(__x86_64__)
	emu_swap(&th[g_cur].sp, schedSp);
#else
	swapcontext(&th[g_cur].uc, &schedUc);
#endif
}

void resume(int i) {
	g_cur = i;
	threadIdx = th[i].tid;
	th[i].state = READY;
#if defined(__x86_64__)
	emu_swap(&schedSp, th[i].sp);
#else
	swapcontext(&schedUc, &th[i].uc);
#endif
	if (th[i].state == DONE && th[i].stack >= 0) {
		freeStacks.push_back(th[i].stack);
		th[i].stack = -1;
	}
}

// checkCollective fails the launch when the lanes of warp w (live ones,
// or all with all set) did different numbers of warp-collective operations.
void checkCollective(int w, bool all) {
	int lo = 32 * w, hi = std::min(nthreads, lo + 32), ref = -1;
	for (int i = lo; i < hi; i++) {
		if (!all && th[i].state == DONE) continue;
		if (ref < 0) ref = i;
		else if (collectiveCount[i] != collectiveCount[ref] && err.empty()) {
			char b[300];
			snprintf(b, sizeof b,
			         "warp %d diverged on warp-collective operations (wmma *_sync): thread %d did %u, thread %d did %u (block (%u,%u,%u))",
			         w, ref, collectiveCount[ref], i, collectiveCount[i], blockIdx.x, blockIdx.y, blockIdx.z);
			err = b;
		}
	}
}

void releaseBlock() {
	for (int w = 0; w < (int)warpLive.size(); w++) checkCollective(w, false);
	for (int i = 0; i < nthreads; i++)
		if (th[i].state == WAIT_BLOCK) th[i].state = READY;
	blockWaiting = 0;
}

void releaseWarp(int w) {
	checkCollective(w, false);
	int hi = std::min(nthreads, 32 * w + 32);
	for (int i = 32 * w; i < hi; i++)
		if (th[i].state == WAIT_WARP) th[i].state = READY;
	warpWaiting[w] = 0;
}

void exitThread() {
	int w = g_cur >> 5;
	th[g_cur].state = DONE;
	slots[g_cur] = ~0ull;
	nlive--;
	warpLive[w]--;
	if (blockWaiting > 0 && blockWaiting == nlive) releaseBlock();
	if (warpWaiting[w] > 0 && warpWaiting[w] == warpLive[w]) releaseWarp(w);
	yield(); // never resumed
	abort();
}

std::string where() {
	char b[160];
	snprintf(b, sizeof b, "block (%u,%u,%u) thread (%u,%u,%u)", blockIdx.x, blockIdx.y, blockIdx.z, threadIdx.x, threadIdx.y,
	         threadIdx.z);
	return b;
}

std::string describeDeadlock() {
	std::string s = "deadlock: no thread can run;";
	int nb = 0, nw = 0;
	for (int i = 0; i < nthreads; i++) {
		if (th[i].state == WAIT_BLOCK) nb++;
		if (th[i].state == WAIT_WARP) nw++;
	}
	char b[200];
	snprintf(b, sizeof b, " %d thread(s) wait at __syncthreads, %d at a warp barrier (__syncwarp or a shuffle), %d of %d live", nb, nw,
	         nlive, nthreads);
	s += b;
	for (int w = 0; w < (int)warpLive.size(); w++) {
		if (warpWaiting[w] > 0 && warpWaiting[w] < warpLive[w]) {
			snprintf(b, sizeof b, "; warp %d: %d of %d live lanes at a warp barrier", w, warpWaiting[w], warpLive[w]);
			s += b;
			break;
		}
	}
	return s;
}

// runBlock runs the threads of the current block to completion (or the
// first error); returns false on an error (in err).
bool runBlock() {
	for (int i = 0; i < nthreads; i++) {
		th[i].state = NEW;
		th[i].stack = -1;
		th[i].tid = {i % blockDim.x, (i / blockDim.x) % blockDim.y, i / (blockDim.x * blockDim.y)};
		slots[i] = ~0ull;
		collectiveCount[i] = 0;
	}
	nlive = nthreads;
	blockWaiting = 0;
	for (size_t w = 0; w < warpLive.size(); w++) {
		warpLive[w] = std::min(32, nthreads - 32 * (int)w);
		warpWaiting[w] = 0;
	}
	bool ok = true;
	while (nlive > 0 && ok) {
		bool ran = false;
		for (int k = 0; k < nthreads; k++) {
			int i = reverse ? nthreads - 1 - k : k;
			if (th[i].state == NEW) initFiber(th[i]);
			else if (th[i].state != READY) continue;
			resume(i);
			ran = true;
			if (!err.empty()) {
				ok = false;
				break;
			}
		}
		if (ok && !ran) {
			err = describeDeadlock();
			ok = false;
		}
	}
	if (ok) {
		for (int w = 0; w < (int)warpLive.size(); w++) checkCollective(w, true);
		ok = err.empty();
	}
	if (!ok) // abandon the threads still waiting
		for (int i = 0; i < nthreads; i++)
			if (th[i].stack >= 0) {
				freeStacks.push_back(th[i].stack);
				th[i].stack = -1;
			}
	return ok;
}

constexpr size_t kGuard = 16 << 10; // bytes past the requested dynamic shared memory checked after every block
constexpr unsigned char kPoison = 0xff; // float and bf16 NaN

// firstChanged returns the offset of the first byte of [lo, hi) that is
// not the poison, or hi.
size_t firstChanged(const unsigned char *p, size_t lo, size_t hi) {
	size_t i = lo;
	while (i < hi && (i & 7)) {
		if (p[i] != kPoison) return i;
		i++;
	}
	for (; i + 8 <= hi; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		if (v != ~0ull) break;
	}
	for (; i < hi; i++)
		if (p[i] != kPoison) return i;
	return hi;
}

thread_local std::vector<size_t> smemDirty; // per array: bytes from 0 that may differ from the poison

} // namespace

void syncthreads() {
	th[g_cur].state = WAIT_BLOCK;
	if (++blockWaiting == nlive) {
		releaseBlock();
		th[g_cur].state = READY;
		return;
	}
	yield();
}

void syncwarp() {
	int w = g_cur >> 5;
	th[g_cur].state = WAIT_WARP;
	if (++warpWaiting[w] == warpLive[w]) {
		releaseWarp(w);
		th[g_cur].state = READY;
		return;
	}
	yield();
}

uint64_t shfl(uint64_t v, int srcLane) {
	slots[g_cur] = v;
	syncwarp();
	int idx = (g_cur & ~31) + srcLane;
	uint64_t r = idx < nthreads ? slots[idx] : ~0ull; // a lane that does not exist or returned: NaN
	syncwarp();
	return r;
}

void fail(const char *fmt, ...) {
	if (!err.empty()) return;
	char b[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b, sizeof b, fmt, ap);
	va_end(ap);
	err = std::string(b) + " (" + where() + ")";
}

void registerSmem(SmemArray a) { smemArrays().push_back(a); }

std::vector<Kernel *> &registry() {
	static std::vector<Kernel *> r;
	return r;
}

void registerKernel(const char *name, void *fn, Invoker inv) {
	Kernel *k = new Kernel;
	k->name = name;
	k->fn = fn;
	k->invoke = inv;
	registry().push_back(k);
}

Kernel *findKernel(const std::string &name) {
	for (Kernel *k : registry())
		if (k->name == name) return k;
	return nullptr;
}

std::string launch(Kernel *k, dim3 grid, dim3 block, unsigned smem, void **params) {
	static bool envRead = false;
	if (!envRead) {
		const char *r = getenv("WHET_CUDA_EMU_REVERSE");
		reverse = r && r[0] == '1';
		envRead = true;
	}
	curK = k;
	curParams = params;
	err.clear();
	gridDim = grid;
	blockDim = block;
	nthreads = (int)(block.x * block.y * block.z);
	th.resize(nthreads);
	slots.resize(nthreads);
	collectiveCount.resize(nthreads);
	g_collective = collectiveCount.data();
	warpLive.resize((nthreads + 31) / 32);
	warpWaiting.resize(warpLive.size());
	auto &arrays = smemArrays();
	smemDirty.resize(arrays.size(), SIZE_MAX); // first use on this OS thread: everything
	std::vector<unsigned char *> base(arrays.size());
	for (size_t a = 0; a < arrays.size(); a++) {
		base[a] = (unsigned char *)arrays[a].addr();
		if (smem > arrays[a].cap) {
			char b[200];
			snprintf(b, sizeof b, "%u bytes of dynamic shared memory requested; the emulator has %zu", smem, arrays[a].cap);
			return b;
		}
		// Everything past the request starts as poison.
		size_t dirty = std::min(smemDirty[a], arrays[a].cap);
		if (dirty > smem) memset(base[a] + smem, kPoison, dirty - smem);
		smemDirty[a] = smem;
	}
	// Blocks in order of their linear index (reversed with
	// WHET_CUDA_EMU_REVERSE=1, to show a kernel that depends on the order).
	unsigned long long nblocks = (unsigned long long)grid.x * grid.y * grid.z;
	for (unsigned long long n = 0; n < nblocks; n++) {
		unsigned long long lin = reverse ? nblocks - 1 - n : n;
		unsigned bx = (unsigned)(lin % grid.x), by = (unsigned)(lin / grid.x % grid.y);
		unsigned bz = (unsigned)(lin / ((unsigned long long)grid.x * grid.y));
		blockIdx = {bx, by, bz};
		// Dynamic shared memory is uninitialised on a GPU: NaN here.
		for (size_t a = 0; a < arrays.size(); a++) memset(base[a], kPoison, smem);
		if (!runBlock()) return k->name + ": " + err;
		for (size_t a = 0; a < arrays.size(); a++) {
			size_t hi = std::min(arrays[a].cap, (size_t)smem + kGuard);
			size_t at = firstChanged(base[a], smem, hi);
			if (at < hi) {
				smemDirty[a] = arrays[a].cap;
				char b[300];
				snprintf(b, sizeof b, "%s: block (%u,%u,%u) wrote past the %u bytes of dynamic shared memory it was launched with (%s, byte %zu)",
				         k->name.c_str(), bx, by, bz, smem, arrays[a].name, at);
				return b;
			}
		}
	}
	for (size_t a = 0; a < arrays.size(); a++) {
		size_t at = firstChanged(base[a], smem, arrays[a].cap);
		if (at < arrays[a].cap) {
			smemDirty[a] = arrays[a].cap;
			char b[300];
			snprintf(b, sizeof b, "%s: wrote past the %u bytes of dynamic shared memory it was launched with (%s, byte %zu)", k->name.c_str(), smem,
			         arrays[a].name, at);
			return b;
		}
	}
	return "";
}

} // namespace emu
