//go:build cgo && !noblas

package blas

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

// CBLAS enums (cblas.h).
enum { whetRowMajor = 101, whetNoTrans = 111, whetTrans = 112 };

typedef void (*whet_sgemm_fn)(int, int, int, int, int, int, float, const float *, int,
                              const float *, int, float, float *, int);
static whet_sgemm_fn whet_cblas_sgemm;
typedef void (*whet_sgemv_fn)(int, int, int, int, float, const float *, int, const float *, int, float,
                              float *, int);
static whet_sgemv_fn whet_cblas_sgemv;
static void (*whet_set_num_threads)(int);
static char *(*whet_get_corename)(void);
static char *(*whet_get_config)(void);

// whet_openblas_open loads OpenBLAS; returns NULL on success or dlerror().
static const char *whet_openblas_open(const char *lib) {
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) return dlerror();
	whet_cblas_sgemm = (whet_sgemm_fn)dlsym(h, "cblas_sgemm");
	whet_cblas_sgemv = (whet_sgemv_fn)dlsym(h, "cblas_sgemv");
	whet_set_num_threads = (void (*)(int))dlsym(h, "openblas_set_num_threads");
	whet_get_corename = (char *(*)(void))dlsym(h, "openblas_get_corename");
	whet_get_config = (char *(*)(void))dlsym(h, "openblas_get_config");
	if (whet_cblas_sgemm == NULL || whet_cblas_sgemv == NULL || whet_set_num_threads == NULL)
		return "cblas_sgemm, cblas_sgemv or openblas_set_num_threads missing";
	return NULL;
}

static void whet_openblas_threads(int n) { whet_set_num_threads(n); }
static const char *whet_openblas_corename(void) { return whet_get_corename ? whet_get_corename() : "unknown"; }
static const char *whet_openblas_config(void) { return whet_get_config ? whet_get_config() : ""; }

static void whet_sgemm(int transA, int transB, int m, int n, int k, float alpha, const float *a, int lda,
                       const float *b, int ldb, float beta, float *c, int ldc) {
	whet_cblas_sgemm(whetRowMajor, transA ? whetTrans : whetNoTrans, transB ? whetTrans : whetNoTrans,
	                 m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// whet_sgemv: y = alpha·op(A)·x + beta·y, A rows×cols row-major.
static void whet_sgemv(int trans, int rows, int cols, float alpha, const float *a, int lda, const float *x, int incx,
                       float beta, float *y, int incy) {
	whet_cblas_sgemv(whetRowMajor, trans ? whetTrans : whetNoTrans, rows, cols, alpha, a, lda, x, incx, beta, y, incy);
}
*/
import "C"

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"unsafe"
)

// OpenBLAS is loaded with dlopen on first use rather than linked, for two
// reasons. It reads OPENBLAS_CORETYPE and OPENBLAS_NUM_THREADS only when it
// is loaded, so loading it ourselves lets us pick its kernel for this CPU
// even when the environment says otherwise (this machine's environment sets
// OPENBLAS_CORETYPE=Haswell, which halves f32 GEMM speed on an AVX-512 CPU).
// And a binary built with cgo still runs, on the pure-Go kernels, where the
// library is not installed.

var openblas struct {
	once     sync.Once
	ok       bool
	err      error
	coreName string
	config   string
}

// openblasLib is the soname of Debian's libopenblas0 (pthread variant).
const openblasLib = "libopenblas.so.0"

// loadOpenBLAS loads OpenBLAS once. The library runs single-threaded; Sgemm
// splits work across goroutines itself, so no OpenBLAS thread spins between
// calls and competes with the engine's Go code for the cores.
func loadOpenBLAS() bool {
	openblas.once.Do(func() {
		if disabled("openblas") {
			openblas.err = fmt.Errorf("disabled by WHET_BLAS_DISABLE")
			return
		}
		coretype := openblasCoreType()
		restore := setenvTemp(map[string]string{
			"OPENBLAS_CORETYPE":    coretype,
			"OPENBLAS_NUM_THREADS": "1",
		})
		lib := C.CString(openblasLib)
		defer C.free(unsafe.Pointer(lib))
		msg := C.whet_openblas_open(lib)
		restore()
		if msg != nil {
			openblas.err = fmt.Errorf("load %s: %s", openblasLib, C.GoString(msg))
			return
		}
		C.whet_openblas_threads(1)
		openblas.ok = true
		openblas.coreName = C.GoString(C.whet_openblas_corename())
		openblas.config = strings.TrimSpace(C.GoString(C.whet_openblas_config()))
	})
	return openblas.ok
}

// openblasCoreType returns the OPENBLAS_CORETYPE to load OpenBLAS with:
// WHET_OPENBLAS_CORETYPE if set; else SkylakeX when the CPU has the AVX-512
// subsets that kernel uses; else the inherited OPENBLAS_CORETYPE ("" lets
// OpenBLAS detect the CPU).
func openblasCoreType() string {
	if v := os.Getenv("WHET_OPENBLAS_CORETYPE"); v != "" {
		return v
	}
	if hasAVX512() {
		return "SkylakeX"
	}
	return os.Getenv("OPENBLAS_CORETYPE")
}

// setenvTemp sets the given variables ("" unsets) and returns a function
// restoring the previous values, so child processes see the environment we
// were started with.
func setenvTemp(vars map[string]string) (restore func()) {
	type old struct {
		v  string
		ok bool
	}
	prev := map[string]old{}
	for k, v := range vars {
		ov, ok := os.LookupEnv(k)
		prev[k] = old{ov, ok}
		if v == "" {
			os.Unsetenv(k)
		} else {
			os.Setenv(k, v)
		}
	}
	return func() {
		for k, o := range prev {
			if o.ok {
				os.Setenv(k, o.v)
			} else {
				os.Unsetenv(k)
			}
		}
	}
}

// Name returns the name of the Sgemm backend in use: "openblas <version>
// <core>" when OpenBLAS loaded, else "go (<reason>)".
func Name() string {
	if !loadOpenBLAS() {
		return fmt.Sprintf("go (%v)", openblas.err)
	}
	return fmt.Sprintf("openblas (%s; core %s)", openblas.config, openblas.coreName)
}

// OpenBLASError returns why OpenBLAS could not be loaded, or nil if it was.
func OpenBLASError() error {
	loadOpenBLAS()
	return openblas.err
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices,
// where op(X) is X or Xᵀ as transA/transB say; op(A) is m×k, op(B) is k×n and
// C is m×n. lda, ldb and ldc are the row strides of A, B and C as stored.
// beta == 0 overwrites C without reading it. Panics if a slice is too short
// for its dimensions and stride.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if !loadOpenBLAS() {
		SgemmGo(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if m == 1 || n == 1 {
		gemv(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	splitGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, func(m, n int, a, b, c []float32) {
		C.whet_sgemm(cbool(transA), cbool(transB), C.int(m), C.int(n), C.int(k), C.float(alpha),
			(*C.float)(unsafe.Pointer(&a[0])), C.int(lda), (*C.float)(unsafe.Pointer(&b[0])), C.int(ldb),
			C.float(beta), (*C.float)(unsafe.Pointer(&c[0])), C.int(ldc))
	})
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// gemv runs a GEMM with one row or one column of C as a matrix-vector
// product (OpenBLAS 0.3.21's sgemm packs its operands even then, several
// times slower), split into blocks of the output across cores.
func gemv(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	// m == 1: c (1×n, stride 1) = alpha·op(B)ᵀ·a + beta·c, with a's k
	// elements at stride 1 (or lda when transposed). op(B) is k×n; stored
	// B is k×n (use Bᵀ: trans) or n×k (use B: no trans).
	// n == 1: c (m×1, stride ldc) = alpha·op(A)·b + beta·c, the same with
	// the roles of A and B swapped: op(A) is m×k; stored A is m×k (no
	// trans) or k×m (trans); b's k elements at stride 1 (transB) or ldb.
	var (
		mat        []float32
		ld         int
		matTrans   bool
		vec        []float32
		incx, incy int
		outs       int
	)
	if m == 1 {
		mat, ld, matTrans, vec, incy, outs = b, ldb, !transB, a, 1, n
		incx = 1
		if transA {
			incx = lda
		}
	} else {
		mat, ld, matTrans, vec, incy, outs = a, lda, transA, b, ldc, m
		incx = ldb
		if transB {
			incx = 1
		}
	}
	// Stored matrix: outs×k (no trans, output i is row i) or k×outs (trans,
	// output i is column i).
	w := workers()
	if 2*outs*k < 1<<20 {
		w = 1
	}
	const align = 16
	chunk := roundUp((outs+w-1)/w, align)
	Parallel((outs+chunk-1)/chunk, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			o0 := p * chunk
			no := min(chunk, outs-o0)
			var sub []float32
			rows, cols := no, k
			if matTrans {
				sub, rows, cols = mat[o0:], k, no
			} else {
				sub = mat[o0*ld:]
			}
			C.whet_sgemv(cbool(matTrans), C.int(rows), C.int(cols), C.float(alpha), (*C.float)(unsafe.Pointer(&sub[0])), C.int(ld),
				(*C.float)(unsafe.Pointer(&vec[0])), C.int(incx), C.float(beta), (*C.float)(unsafe.Pointer(&c[o0*incy])), C.int(incy))
		}
	})
}
