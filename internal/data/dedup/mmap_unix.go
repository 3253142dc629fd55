//go:build unix

package dedup

import (
	"sync"
	"syscall"
	"unsafe"
)

// mapped records the mappings made by mapAnon, so release knows heap
// slices from mapped ones.
var mapped sync.Map // uintptr -> int (size)

// mapAnon returns size bytes of zeroed anonymous memory, or nil.
func mapAnon(size int) []byte {
	if size < 1<<16 {
		return nil // small: the heap is fine
	}
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil
	}
	mapped.Store(uintptr(unsafe.Pointer(&b[0])), size)
	return b
}

// unmapAnon unmaps b if mapAnon made it.
func unmapAnon(b []byte) {
	p := uintptr(unsafe.Pointer(&b[0]))
	if _, ok := mapped.LoadAndDelete(p); ok {
		syscall.Munmap(b)
	}
}
