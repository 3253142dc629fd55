// Package nn holds the training engine's tensor kernels: forward and backward
// passes of the operations a Llama-family decoder needs, on row-major float32
// buffers.
//
// # Layout
//
// Activations are contiguous [N, D] float32 slices, N = batch·time rows of D
// features. Linear weights are stored as in Hugging Face checkpoints, [out, in],
// so a projection is y = x·Wᵀ. Every backward function accumulates into its
// gradient outputs only where documented; otherwise it overwrites.
//
// # Backend
//
// Dense products and loop splitting go through a Backend (Sgemm, Parallel),
// so a GPU backend can be slotted in later. The default CPU backend uses
// package blas (OpenBLAS through cgo, or pure Go with CGO_ENABLED=0).
//
// # Memory
//
// Attention runs flash-style over query blocks of AttnBlock rows: per head it
// holds one AttnBlock×T score block, never a T×T matrix. Cross-entropy walks
// the rows in chunks so the N×V logits never exist whole.
package nn
