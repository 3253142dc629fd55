package kernel

import "golang.org/x/sys/cpu"

var useAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func sgemm4x16AVX2(kc int, a, b, c *float32, ldc int)
