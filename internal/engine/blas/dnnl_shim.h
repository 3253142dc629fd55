// C side of the oneDNN backend (dnnl.go): loads libdnnl.so.2 with dlopen,
// builds matmul primitives and runs them. Compiled only with cgo.

#include <stddef.h>
#include <stdint.h>

#if __has_include(<oneapi/dnnl/dnnl.h>) && !defined(WHET_NO_DNNL)
#define WHET_HAVE_DNNL 1
#endif

typedef struct whet_mm whet_mm;

// whet_dnnl_open loads the library; returns NULL or an error message.
const char *whet_dnnl_open(const char *lib);
const char *whet_dnnl_version(void);

// whet_mm_create builds a matmul primitive computing
// C(m×n, f32, row stride ldc) = alpha·op(A)·op(B) + beta·C where A and B have
// data type bf16 (bf16 != 0) or f32. *err is set to a message on failure.
whet_mm *whet_mm_create(int bf16, int transA, int transB, int64_t m, int64_t n, int64_t k,
                        int64_t lda, int64_t ldb, int64_t ldc, float alpha, float beta,
                        const char **err);
size_t whet_mm_scratch_size(const whet_mm *mm);
const char *whet_mm_impl(const whet_mm *mm);
// whet_mm_exec runs the primitive; returns NULL or an error message.
const char *whet_mm_exec(const whet_mm *mm, const void *a, const void *b, float *c, void *scratch);
// whet_dnnl_sgemm calls dnnl_sgemm (row-major); returns NULL or an error.
const char *whet_dnnl_sgemm(int transA, int transB, int64_t m, int64_t n, int64_t k, float alpha,
                            const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                            float *c, int64_t ldc);
void whet_mm_destroy(whet_mm *mm);
