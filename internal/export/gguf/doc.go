// Package gguf writes and reads GGUF files, the single-file model format of
// llama.cpp and Ollama (version 3, little-endian).
//
// # Layout
//
//	magic "GGUF", version u32, tensor count u64, metadata count u64
//	metadata: key (u64 length + UTF-8), value type u32, value
//	tensor infos: name, n_dims u32, dims u64[n_dims] (row length first),
//	              ggml type u32, offset u64 (from the start of the data section)
//	padding to general.alignment (32), then tensor data, each tensor aligned
//
// Write streams tensor data through callbacks, so a converter holds one
// tensor in memory at a time. Open reads the header and gives tensor bytes on
// demand; it does not trust sizes in the file (bad files give errors naming
// the key or tensor, never panics or huge allocations).
package gguf
