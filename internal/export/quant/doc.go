// Package quant converts float32 weights to and from the ggml tensor
// encodings that GGUF files carry: F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_K
// and Q6_K.
//
// The block layouts follow llama.cpp's ggml-common.h byte for byte:
//
//	Q8_0  32 values:  f16 d, int8 qs[32]                      (34 bytes)
//	Q4_0  32 values:  f16 d, uint8 qs[16]                     (18 bytes)
//	Q5_0  32 values:  f16 d, uint8 qh[4], uint8 qs[16]        (22 bytes)
//	Q4_K 256 values:  f16 d, f16 dmin, uint8 scales[12], qs[128]  (144 bytes)
//	Q6_K 256 values:  uint8 ql[128], qh[64], int8 scales[16], f16 d (210 bytes)
//
// The quantizers follow the reference (no importance matrix) algorithms of
// ggml-quants.c, so files written here dequantize in llama.cpp to the values
// Dequantize returns. Quantization works row by row: a row's length must be
// a multiple of the type's block size (BlockSize).
package quant
