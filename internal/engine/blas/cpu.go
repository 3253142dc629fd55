package blas

import "golang.org/x/sys/cpu"

// hasAVX512 reports whether the CPU and OS support AVX-512 F, DQ, CD, BW and
// VL, the subsets OpenBLAS's SkylakeX kernels use.
func hasAVX512() bool {
	x := cpu.X86
	return x.HasAVX512F && x.HasAVX512DQ && x.HasAVX512CD && x.HasAVX512BW && x.HasAVX512VL
}

// hasAVX512BF16 reports whether the CPU has AVX512_BF16 (native bf16 dot
// products, used by oneDNN's bf16 matmul).
func hasAVX512BF16() bool { return hasAVX512() && cpu.X86.HasAVX512BF16 }
