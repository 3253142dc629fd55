//go:build cgo && !noblas

#include "dnnl_shim.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef WHET_HAVE_DNNL

const char *whet_dnnl_open(const char *lib) { (void)lib; return "built without oneDNN headers (install libdnnl-dev and rebuild)"; }
const char *whet_dnnl_version(void) { return ""; }
whet_mm *whet_mm_create(int bf16, int transA, int transB, int64_t m, int64_t n, int64_t k, int64_t lda,
                        int64_t ldb, int64_t ldc, float alpha, float beta, const char **err) {
	*err = "oneDNN not available";
	return NULL;
}
size_t whet_mm_scratch_size(const whet_mm *mm) { return 0; }
void whet_mm_destroy(whet_mm *mm) {}
const char *whet_mm_impl(const whet_mm *mm) { return ""; }
const char *whet_mm_exec(const whet_mm *mm, const void *a, const void *b, float *c, void *scratch) {
	return "oneDNN not available";
}
const char *whet_dnnl_sgemm(int transA, int transB, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                            int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
	return "oneDNN not available";
}

#else

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

// Function pointers filled by dlsym, typed from the header's declarations.
#define WHET_FN(name) static __typeof__(name) *p_##name;
#define WHET_FNS(X)                                                                                \
	X(dnnl_engine_create) X(dnnl_stream_create) X(dnnl_memory_desc_init_by_strides)                \
	X(dnnl_matmul_desc_init) X(dnnl_primitive_attr_create) X(dnnl_primitive_attr_destroy)          \
	X(dnnl_primitive_attr_set_scratchpad_mode) X(dnnl_primitive_attr_set_output_scales)            \
	X(dnnl_post_ops_create) X(dnnl_post_ops_destroy) X(dnnl_post_ops_append_sum)                   \
	X(dnnl_primitive_attr_set_post_ops) X(dnnl_primitive_desc_create) X(dnnl_primitive_desc_destroy) \
	X(dnnl_primitive_desc_query) X(dnnl_primitive_desc_query_md) X(dnnl_memory_desc_get_size)      \
	X(dnnl_primitive_create) X(dnnl_primitive_destroy) X(dnnl_memory_create) X(dnnl_memory_destroy) X(dnnl_primitive_execute) \
	X(dnnl_stream_wait) X(dnnl_stream_destroy) X(dnnl_version) X(dnnl_sgemm) X(dnnl_status2str)
WHET_FNS(WHET_FN)

static dnnl_engine_t whet_engine;
static char whet_version_str[64];

const char *whet_dnnl_open(const char *lib) {
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) return dlerror();
#define WHET_SYM(name)                                                                             \
	p_##name = (__typeof__(name) *)dlsym(h, #name);                                                \
	if (p_##name == NULL) return "missing symbol " #name;
	WHET_FNS(WHET_SYM)
	dnnl_status_t st = p_dnnl_engine_create(&whet_engine, dnnl_cpu, 0);
	if (st != dnnl_success) return p_dnnl_status2str(st);
	const dnnl_version_t *v = p_dnnl_version();
	snprintf(whet_version_str, sizeof whet_version_str, "oneDNN %d.%d.%d", v->major, v->minor, v->patch);
	return NULL;
}

const char *whet_dnnl_version(void) { return whet_version_str; }

struct whet_mm {
	dnnl_primitive_t prim;
	dnnl_memory_desc_t a_md, b_md, c_md, scratch_md;
	size_t scratch_size;
	const char *impl;
};

#define WHET_CHECK(call)                                                                           \
	do {                                                                                           \
		dnnl_status_t st_ = (call);                                                                \
		if (st_ != dnnl_success) {                                                                 \
			*err = p_dnnl_status2str(st_);                                                         \
			goto fail;                                                                             \
		}                                                                                          \
	} while (0)

whet_mm *whet_mm_create(int bf16, int transA, int transB, int64_t m, int64_t n, int64_t k, int64_t lda,
                        int64_t ldb, int64_t ldc, float alpha, float beta, const char **err) {
	whet_mm *mm = calloc(1, sizeof *mm);
	dnnl_primitive_attr_t attr = NULL;
	dnnl_post_ops_t po = NULL;
	dnnl_primitive_desc_t pd = NULL;
	dnnl_data_type_t dt = bf16 ? dnnl_bf16 : dnnl_f32;
	dnnl_dims_t a_dims = {m, k}, b_dims = {k, n}, c_dims = {m, n};
	dnnl_dims_t a_str = {lda, 1}, b_str = {ldb, 1}, c_str = {ldc, 1};
	if (transA) { a_str[0] = 1; a_str[1] = lda; }
	if (transB) { b_str[0] = 1; b_str[1] = ldb; }
	WHET_CHECK(p_dnnl_memory_desc_init_by_strides(&mm->a_md, 2, a_dims, dt, a_str));
	WHET_CHECK(p_dnnl_memory_desc_init_by_strides(&mm->b_md, 2, b_dims, dt, b_str));
	WHET_CHECK(p_dnnl_memory_desc_init_by_strides(&mm->c_md, 2, c_dims, dnnl_f32, c_str));
	dnnl_matmul_desc_t md;
	WHET_CHECK(p_dnnl_matmul_desc_init(&md, &mm->a_md, &mm->b_md, NULL, &mm->c_md));
	WHET_CHECK(p_dnnl_primitive_attr_create(&attr));
	WHET_CHECK(p_dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
	if (alpha != 1.0f) WHET_CHECK(p_dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha));
	if (beta != 0.0f) {
		WHET_CHECK(p_dnnl_post_ops_create(&po));
		WHET_CHECK(p_dnnl_post_ops_append_sum(po, beta));
		WHET_CHECK(p_dnnl_primitive_attr_set_post_ops(attr, po));
	}
	WHET_CHECK(p_dnnl_primitive_desc_create(&pd, &md, attr, whet_engine, NULL));
	const dnnl_memory_desc_t *smd = p_dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
	if (smd != NULL) {
		mm->scratch_md = *smd;
		mm->scratch_size = p_dnnl_memory_desc_get_size(smd);
	}
	const char *impl = NULL;
	if (p_dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl) {
		mm->impl = impl; // owned by pd; copied below before pd is destroyed
	}
	mm->impl = strdup(mm->impl ? mm->impl : "unknown");
	WHET_CHECK(p_dnnl_primitive_create(&mm->prim, pd));
	p_dnnl_primitive_desc_destroy(pd);
	if (po) p_dnnl_post_ops_destroy(po);
	p_dnnl_primitive_attr_destroy(attr);
	return mm;
fail:
	if (pd) p_dnnl_primitive_desc_destroy(pd);
	if (po) p_dnnl_post_ops_destroy(po);
	if (attr) p_dnnl_primitive_attr_destroy(attr);
	free(mm);
	return NULL;
}

size_t whet_mm_scratch_size(const whet_mm *mm) { return mm->scratch_size; }

void whet_mm_destroy(whet_mm *mm) {
	p_dnnl_primitive_destroy(mm->prim);
	free((void *)mm->impl);
	free(mm);
}
const char *whet_mm_impl(const whet_mm *mm) { return mm->impl; }

const char *whet_mm_exec(const whet_mm *mm, const void *a, const void *b, float *c, void *scratch) {
	dnnl_memory_t ma = NULL, mb = NULL, mc = NULL, ms = NULL;
	dnnl_stream_t s = NULL;
	const char *err = NULL;
	const char **errp = &err;
#undef WHET_CHECK
#define WHET_CHECK(call)                                                                           \
	do {                                                                                           \
		dnnl_status_t st_ = (call);                                                                \
		if (st_ != dnnl_success) {                                                                 \
			*errp = p_dnnl_status2str(st_);                                                        \
			goto done;                                                                             \
		}                                                                                          \
	} while (0)
	WHET_CHECK(p_dnnl_stream_create(&s, whet_engine, dnnl_stream_default_flags));
	WHET_CHECK(p_dnnl_memory_create(&ma, &mm->a_md, whet_engine, (void *)a));
	WHET_CHECK(p_dnnl_memory_create(&mb, &mm->b_md, whet_engine, (void *)b));
	WHET_CHECK(p_dnnl_memory_create(&mc, &mm->c_md, whet_engine, c));
	int nargs = 3;
	dnnl_exec_arg_t args[4] = {
		{DNNL_ARG_SRC, ma},
		{DNNL_ARG_WEIGHTS, mb},
		{DNNL_ARG_DST, mc},
	};
	if (mm->scratch_size > 0) {
		WHET_CHECK(p_dnnl_memory_create(&ms, &mm->scratch_md, whet_engine, scratch));
		args[nargs].arg = DNNL_ARG_SCRATCHPAD;
		args[nargs].memory = ms;
		nargs++;
	}
	WHET_CHECK(p_dnnl_primitive_execute(mm->prim, s, nargs, args));
	WHET_CHECK(p_dnnl_stream_wait(s));
done:
	if (ms) p_dnnl_memory_destroy(ms);
	if (mc) p_dnnl_memory_destroy(mc);
	if (mb) p_dnnl_memory_destroy(mb);
	if (ma) p_dnnl_memory_destroy(ma);
	if (s) p_dnnl_stream_destroy(s);
	return err;
}

const char *whet_dnnl_sgemm(int transA, int transB, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                            int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
	dnnl_status_t st = p_dnnl_sgemm(transA ? 'T' : 'N', transB ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb,
	                                beta, c, ldc);
	return st == dnnl_success ? NULL : p_dnnl_status2str(st);
}

#endif
