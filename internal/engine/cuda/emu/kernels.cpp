// The real kernels.cu, compiled by g++ against the emulator's CUDA shim
// (include/emu_cuda.h, mma.h, cuda_bf16.h), and the registry of its
// kernels. The source is included unchanged: what runs here is what nvcc
// compiles to PTX.
#include "include/emu_cuda.h"

// Dynamic shared memory (extern __shared__ arrays): the largest a block can
// have on any chip the emulator models (227 KiB) plus room for the guard
// the scheduler checks past a launch's request. Defined before kernels.cu so
// that its block-scope extern declarations name constant-initialised
// thread_locals (no TLS init wrapper call).
constexpr size_t kSmemCap = (227 << 10) + (64 << 10);
alignas(128) thread_local float smem[kSmemCap / sizeof(float)];
namespace fa {
alignas(128) thread_local unsigned char fa_smem[kSmemCap];
}

#include "../kernels.cu"

#include "emu.hpp"


namespace {
struct Registrar {
	Registrar() {
		emu::registerSmem({[]() -> void * { return smem; }, sizeof smem, "smem"});
		emu::registerSmem({[]() -> void * { return fa::fa_smem; }, sizeof fa::fa_smem, "fa::fa_smem"});
		EMU_KERNEL(cast_f32_bf16);
		EMU_KERNEL(cast_bf16_f32);
		EMU_KERNEL(add_f32);
		EMU_KERNEL(add3_f32);
		EMU_KERNEL(scale_f32);
		EMU_KERNEL(bias_add);
		EMU_KERNEL(colsum_acc);
		EMU_KERNEL(embedding_fwd);
		EMU_KERNEL(embedding_bwd);
		EMU_KERNEL(rmsnorm_fwd);
		EMU_KERNEL(rmsnorm_bwd);
		EMU_KERNEL(rmsnorm_dw);
		EMU_KERNEL(rope);
		EMU_KERNEL(swiglu_fwd);
		EMU_KERNEL(swiglu_bwd);
		EMU_KERNEL(dropout_fwd);
		EMU_KERNEL(dropout_bwd_acc);
		EMU_KERNEL(xent_rows);
		EMU_KERNEL(nf4_scales_dq);
		EMU_KERNEL(nf4_dequant);
		EMU_KERNEL(sumsq_acc);
		EMU_KERNEL(clip_factor);
		EMU_KERNEL(adamw);
		EMU_KERNEL(attn_rowdot);
		EMU_KERNEL(attn_decode);
#define ATTN(HD)                          \
	EMU_KERNEL(attn_fwd_##HD);        \
	EMU_KERNEL(attn_bwd_dq_##HD);     \
	EMU_KERNEL(attn_bwd_dkdv_##HD);
		ATTN(8)
		ATTN(16)
		ATTN(32)
		ATTN(64)
		ATTN(128)
		ATTN(bf16_64)
		ATTN(bf16_128)
#undef ATTN
	}
} registrar;
} // namespace

#ifdef EMU_KERNELS_SHA256
extern "C" const char *whet_emu_kernels_sha256() { return EMU_KERNELS_SHA256; }
#else
extern "C" const char *whet_emu_kernels_sha256() { return ""; }
#endif
