//go:build cgo && !noblas

package blas

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "dnnl_shim.h"
*/
import "C"

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"unsafe"
)

// oneDNN is loaded with dlopen on first use, like OpenBLAS: a cgo build then
// needs only its headers (libdnnl-dev) to compile and runs without it (bf16
// GEMMs fall back to float32 ones). It is built with OpenMP and libgomp reads
// OMP_NUM_THREADS and OMP_WAIT_POLICY when it is loaded, so loading it
// ourselves lets us run every call single-threaded (the Go side splits the
// work across cores) with no OpenMP thread spinning between calls.

// dnnlLib is the soname of Debian's libdnnl2.
const dnnlLib = "libdnnl.so.2"

var dnnl struct {
	once    sync.Once
	ok      bool
	err     error
	version string

	mu    sync.Mutex
	cache map[mmKey]*cachedMM
}

// maxCachedPrimitives bounds the primitive cache; past it, an unused
// primitive is evicted (destroyed once no call is running it).
const maxCachedPrimitives = 256

// cachedMM is a primitive and the number of calls running it.
type cachedMM struct {
	mm      *C.whet_mm
	refs    int
	evicted bool
}

type mmKey struct {
	bf16, transA, transB   bool
	m, n, k, lda, ldb, ldc int
	alpha, beta            float32
}

func loadDNNL() bool {
	dnnl.once.Do(func() {
		if disabled("dnnl") {
			dnnl.err = fmt.Errorf("disabled by WHET_BLAS_DISABLE")
			return
		}
		restore := setenvTemp(map[string]string{"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"})
		lib := C.CString(dnnlLib)
		defer C.free(unsafe.Pointer(lib))
		msg := C.whet_dnnl_open(lib)
		restore()
		if msg != nil {
			dnnl.err = fmt.Errorf("load %s: %s", dnnlLib, C.GoString(msg))
			return
		}
		dnnl.ok = true
		dnnl.version = C.GoString(C.whet_dnnl_version())
		dnnl.cache = map[mmKey]*cachedMM{}
	})
	return dnnl.ok
}

// disabled reports whether WHET_BLAS_DISABLE (a comma-separated list of
// "openblas", "dnnl") names the backend.
func disabled(backend string) bool {
	for _, s := range strings.Split(os.Getenv("WHET_BLAS_DISABLE"), ",") {
		if strings.TrimSpace(s) == backend {
			return true
		}
	}
	return false
}

// DNNLError returns why oneDNN could not be loaded, or nil if it was.
func DNNLError() error {
	loadDNNL()
	return dnnl.err
}

// BF16Name returns the backend of GemmBF16: "onednn <version> (<impl>)" or
// "sgemm (<reason>)" when bf16 products run through Sgemm in float32.
func BF16Name() string {
	if !loadDNNL() {
		return fmt.Sprintf("sgemm (%v)", dnnl.err)
	}
	return fmt.Sprintf("%s (%s)", dnnl.version, primitiveImpl(true))
}

// BF16Native reports whether GemmBF16 runs on bf16 hardware instructions
// (oneDNN loaded and the CPU has AVX512_BF16), so that bf16 autocast is
// worth it.
func BF16Native() bool { return loadDNNL() && hasAVX512BF16() }

// primitiveImpl returns the implementation oneDNN picks for a 1024×576×576
// matmul.
func primitiveImpl(bf16 bool) string {
	e, err := acquire(mmKey{bf16: bf16, transB: true, m: 1024, n: 576, k: 576, lda: 576, ldb: 576, ldc: 576, alpha: 1})
	if err != nil {
		return err.Error()
	}
	defer release(e)
	return C.GoString(C.whet_mm_impl(e.mm))
}

// acquire returns the cached matmul primitive for key, building it on
// first use; the caller must release it.
func acquire(key mmKey) (*cachedMM, error) {
	dnnl.mu.Lock()
	defer dnnl.mu.Unlock()
	if e, ok := dnnl.cache[key]; ok {
		e.refs++
		return e, nil
	}
	mm, err := newPrimitive(key)
	if err != nil {
		return nil, err
	}
	if len(dnnl.cache) >= maxCachedPrimitives {
		for k, old := range dnnl.cache { // evict one, any
			delete(dnnl.cache, k)
			old.evicted = true
			if old.refs == 0 {
				C.whet_mm_destroy(old.mm)
			}
			break
		}
	}
	e := &cachedMM{mm: mm, refs: 1}
	dnnl.cache[key] = e
	return e, nil
}

// release ends a call's use of e, destroying it if it was evicted and this
// was the last call running it.
func release(e *cachedMM) {
	dnnl.mu.Lock()
	defer dnnl.mu.Unlock()
	e.refs--
	if e.evicted && e.refs == 0 {
		C.whet_mm_destroy(e.mm)
	}
}

func newPrimitive(key mmKey) (*C.whet_mm, error) {
	var msg *C.char
	mm := C.whet_mm_create(cbool(key.bf16), cbool(key.transA), cbool(key.transB), C.int64_t(key.m), C.int64_t(key.n),
		C.int64_t(key.k), C.int64_t(key.lda), C.int64_t(key.ldb), C.int64_t(key.ldc), C.float(key.alpha), C.float(key.beta), &msg)
	if mm == nil {
		return nil, fmt.Errorf("onednn matmul %+v: %s", key, C.GoString(msg))
	}
	return mm, nil
}

var scratchPool sync.Pool

// runPrimitive executes the matmul for key on a, b, c (first elements).
func runPrimitive[T any](key mmKey, a, b *T, c *float32) error {
	e, err := acquire(key)
	if err != nil {
		return err
	}
	defer release(e)
	mm := e.mm
	var scratch unsafe.Pointer
	if n := int(C.whet_mm_scratch_size(mm)); n > 0 {
		p, ok := scratchPool.Get().(*[]byte)
		if !ok || cap(*p) < n+64 {
			s := make([]byte, n+4096)
			p = &s
		}
		defer scratchPool.Put(p)
		// oneDNN wants its scratchpad 64-byte aligned.
		buf := (*p)[:cap(*p)]
		off := (64 - int(uintptr(unsafe.Pointer(&buf[0]))%64)) % 64
		scratch = unsafe.Pointer(&buf[off])
	}
	if msg := C.whet_mm_exec(mm, unsafe.Pointer(a), unsafe.Pointer(b), (*C.float)(c), scratch); msg != nil {
		return fmt.Errorf("onednn matmul %+v: %s", key, C.GoString(msg))
	}
	return nil
}

// gemmBF16Native runs GemmBF16 on oneDNN; returns false (having done
// nothing) if oneDNN is not loaded. Panics if oneDNN fails on a loaded
// library, which means a bug in this package.
func gemmBF16Native(transA, transB bool, m, n, k int, alpha float32, a []uint16, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int) bool {
	if !loadDNNL() {
		return false
	}
	splitGemmDense(transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc, func(m, n, k int, a, b []uint16, beta float32, c []float32, ldc int) {
		key := mmKey{bf16: true, transA: transA, transB: transB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc, alpha: alpha, beta: beta}
		if err := runPrimitive(key, &a[0], &b[0], &c[0]); err != nil {
			panic("blas: " + err.Error())
		}
	})
	return true
}

// sgemmDNNL is Sgemm on oneDNN's dnnl_sgemm; returns false if oneDNN is
// not loaded.
func sgemmDNNL(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) bool {
	if !loadDNNL() {
		return false
	}
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return true
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return true
	}
	splitGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, func(m, n int, a, b, c []float32) {
		msg := C.whet_dnnl_sgemm(cbool(transA), cbool(transB), C.int64_t(m), C.int64_t(n), C.int64_t(k), C.float(alpha),
			(*C.float)(&a[0]), C.int64_t(lda), (*C.float)(&b[0]), C.int64_t(ldb), C.float(beta), (*C.float)(&c[0]), C.int64_t(ldc))
		if msg != nil {
			panic("blas: dnnl_sgemm: " + C.GoString(msg))
		}
	})
	return true
}
