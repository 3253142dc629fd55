//go:build cgo && linux

package cuda

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

typedef int cublasStatus_t;
typedef void *cublasLtHandle_t;
typedef void *cublasLtMatmulDesc_t;
typedef void *cublasLtMatrixLayout_t;
typedef void *cublasLtMatmulPreference_t;
typedef struct { uint64_t data[8]; } whet_lt_algo;
typedef struct {
	whet_lt_algo algo;
	size_t workspaceSize;
	cublasStatus_t state;
	float wavesCount;
	int reserved[4];
} whet_lt_heur;

static cublasStatus_t (*p_ltCreate)(cublasLtHandle_t *);
static size_t (*p_ltGetVersion)(void);
static cublasStatus_t (*p_ltDescCreate)(cublasLtMatmulDesc_t *, int, int);
static cublasStatus_t (*p_ltDescSetAttr)(cublasLtMatmulDesc_t, int, const void *, size_t);
static cublasStatus_t (*p_ltLayoutCreate)(cublasLtMatrixLayout_t *, int, uint64_t, uint64_t, int64_t);
static cublasStatus_t (*p_ltPrefCreate)(cublasLtMatmulPreference_t *);
static cublasStatus_t (*p_ltPrefSetAttr)(cublasLtMatmulPreference_t, int, const void *, size_t);
static cublasStatus_t (*p_ltHeuristic)(cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                       cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatmulPreference_t, int,
                                       whet_lt_heur *, int *);
static cublasStatus_t (*p_ltMatmul)(cublasLtHandle_t, cublasLtMatmulDesc_t, const void *, const void *, cublasLtMatrixLayout_t,
                                    const void *, cublasLtMatrixLayout_t, const void *, const void *, cublasLtMatrixLayout_t,
                                    void *, cublasLtMatrixLayout_t, const whet_lt_algo *, void *, size_t, void *);

static cublasLtHandle_t g_lt;

static const char *whet_lt_open(const char *lib) {
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) return dlerror();
#define SYM(p, name) if ((*(void **)&p = dlsym(h, name)) == NULL) return "symbol " name " missing";
	SYM(p_ltCreate, "cublasLtCreate")
	SYM(p_ltGetVersion, "cublasLtGetVersion")
	SYM(p_ltDescCreate, "cublasLtMatmulDescCreate")
	SYM(p_ltDescSetAttr, "cublasLtMatmulDescSetAttribute")
	SYM(p_ltLayoutCreate, "cublasLtMatrixLayoutCreate")
	SYM(p_ltPrefCreate, "cublasLtMatmulPreferenceCreate")
	SYM(p_ltPrefSetAttr, "cublasLtMatmulPreferenceSetAttribute")
	SYM(p_ltHeuristic, "cublasLtMatmulAlgoGetHeuristic")
	SYM(p_ltMatmul, "cublasLtMatmul")
#undef SYM
	return NULL;
}

static cublasStatus_t whet_lt_init(void) { return p_ltCreate(&g_lt); }
static size_t whet_lt_version(void) { return p_ltGetVersion(); }

// A plan: descriptors and the chosen algorithm for one shape (column-major,
// as cuBLASLt sees it).
typedef struct {
	cublasLtMatmulDesc_t desc;
	cublasLtMatrixLayout_t a, b, c;
	whet_lt_algo algo;
	size_t ws;
} whet_lt_plan;

// whet_lt_make: D[m,n] = op(A)·op(B) (column-major), A/B of type ab (0 f32,
// 14 bf16), C/D f32, f32 compute. Returns a status; 1000 when no algorithm.
static cublasStatus_t whet_lt_make(whet_lt_plan **out, int ta, int tb, uint64_t m, uint64_t n, uint64_t k, int64_t lda,
                                   int64_t ldb, int64_t ldc, int ab, size_t wsLimit, uint32_t align) {
	whet_lt_plan *p = (whet_lt_plan *)calloc(1, sizeof(whet_lt_plan));
	cublasStatus_t s;
	if ((s = p_ltDescCreate(&p->desc, 68, 0))) return s; // CUBLAS_COMPUTE_32F, CUDA_R_32F scale
	int opA = ta, opB = tb;
	if ((s = p_ltDescSetAttr(p->desc, 3, &opA, sizeof(opA)))) return s; // TRANSA
	if ((s = p_ltDescSetAttr(p->desc, 4, &opB, sizeof(opB)))) return s; // TRANSB
	if ((s = p_ltLayoutCreate(&p->a, ab, ta ? k : m, ta ? m : k, lda))) return s;
	if ((s = p_ltLayoutCreate(&p->b, ab, tb ? n : k, tb ? k : n, ldb))) return s;
	if ((s = p_ltLayoutCreate(&p->c, 0, m, n, ldc))) return s;
	cublasLtMatmulPreference_t pref;
	if ((s = p_ltPrefCreate(&pref))) return s;
	uint64_t wl = wsLimit;
	if ((s = p_ltPrefSetAttr(pref, 1, &wl, sizeof(wl)))) return s;
	for (int attr = 5; attr <= 8; attr++) // MIN_ALIGNMENT_{A,B,C,D}_BYTES
		if ((s = p_ltPrefSetAttr(pref, attr, &align, sizeof(align)))) return s;
	whet_lt_heur h[1];
	int got = 0;
	if ((s = p_ltHeuristic(g_lt, p->desc, p->a, p->b, p->c, p->c, pref, 1, h, &got))) return s;
	if (got < 1) return 1000;
	p->algo = h[0].algo;
	p->ws = h[0].workspaceSize;
	*out = p;
	return 0;
}

static cublasStatus_t whet_lt_run(whet_lt_plan *p, float alpha, uint64_t A, uint64_t B, float beta, uint64_t C, uint64_t ws, size_t wsSize) {
	return p_ltMatmul(g_lt, p->desc, &alpha, (const void *)A, p->a, (const void *)B, p->b, &beta, (const void *)C, p->c,
	                  (void *)C, p->c, &p->algo, (void *)ws, wsSize, NULL);
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

func ltOpen(path string) error {
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	if msg := C.whet_lt_open(cs); msg != nil {
		return fmt.Errorf("%s", C.GoString(msg))
	}
	if s := C.whet_lt_init(); s != 0 {
		return fmt.Errorf("cublasLtCreate: status %d", int(s))
	}
	return nil
}

func ltVersion() int { return int(C.whet_lt_version()) }

// ltMakePlan builds a column-major plan; see whet_lt_make.
func ltMakePlan(ta, tb bool, m, n, k, lda, ldb, ldc int, bf16 bool, wsLimit int64, align int) (unsafe.Pointer, error) {
	var p *C.whet_lt_plan
	ab := C.int(0)
	if bf16 {
		ab = 14
	}
	s := C.whet_lt_make(&p, b2i(ta), b2i(tb), C.uint64_t(m), C.uint64_t(n), C.uint64_t(k), C.int64_t(lda), C.int64_t(ldb), C.int64_t(ldc), ab, C.size_t(wsLimit), C.uint32_t(align))
	if s == 1000 {
		return nil, fmt.Errorf("cublasLt: no algorithm for %dx%dx%d (ta=%v tb=%v bf16=%v)", m, n, k, ta, tb, bf16)
	}
	if s != 0 {
		return nil, fmt.Errorf("cublasLt plan %dx%dx%d: status %d", m, n, k, int(s))
	}
	return unsafe.Pointer(p), nil
}

func ltRun(plan unsafe.Pointer, alpha float32, a, b uint64, beta float32, c uint64, ws uint64, wsSize int64) error {
	if s := C.whet_lt_run((*C.whet_lt_plan)(plan), C.float(alpha), C.uint64_t(a), C.uint64_t(b), C.float(beta), C.uint64_t(c), C.uint64_t(ws), C.size_t(wsSize)); s != 0 {
		return fmt.Errorf("cublasLtMatmul: status %d", int(s))
	}
	return nil
}

func b2i(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
