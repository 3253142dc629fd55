// Internals of the Whetstone CUDA emulator shared by the scheduler, the
// driver API, the kernel registry and the self-test.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <string>
#include <utility>
#include <vector>

#include "include/emu_cuda.h"

namespace emu {

typedef void (*Invoker)(void *fn, void **params);

struct Kernel {
	std::string name;
	void *fn;
	Invoker invoke;
	unsigned maxThreads = 0;       // from the PTX's .maxntid (0: none given)
	unsigned maxDynSmem = 48 << 10; // cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)
};

template <typename... A, size_t... I>
inline void invokeImpl(void (*f)(A...), void **p, std::index_sequence<I...>) {
	f(*static_cast<std::remove_reference_t<A> *>(p[I])...);
}

template <typename... A>
inline void invokeTyped(void *fn, void **p) {
	invokeImpl(reinterpret_cast<void (*)(A...)>(fn), p, std::index_sequence_for<A...>{});
}

template <typename... A>
inline Invoker invokerFor(void (*)(A...)) {
	return &invokeTyped<A...>;
}

void registerKernel(const char *name, void *fn, Invoker inv);
Kernel *findKernel(const std::string &name);
std::vector<Kernel *> &registry();

// A dynamic shared memory array (extern __shared__): its address on the
// calling OS thread, and its capacity.
struct SmemArray {
	void *(*addr)();
	size_t cap;
	const char *name;
};
void registerSmem(SmemArray a);

#define EMU_KERNEL(name) ::emu::registerKernel(#name, (void *)&name, ::emu::invokerFor(&name))

// launch runs k on the CPU (blocks one at a time, fibers within a block)
// and returns "" or what went wrong.
std::string launch(Kernel *k, dim3 grid, dim3 block, unsigned smem, void **params);

// Stack bytes per fiber.
constexpr size_t kStack = 512 << 10;

} // namespace emu
