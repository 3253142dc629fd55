#include <stddef.h>

void whet_exp(float *dst, const float *x, size_t n);
void whet_sigmoid(float *dst, const float *x, size_t n);
void whet_silu(float *dst, const float *x, size_t n);
void whet_silu_mul(float *dst, const float *g, const float *u, size_t n);
void whet_swiglu_backward(float *dg, float *du, const float *dy, const float *g, const float *u, size_t n);
void whet_swiglu_saved(float *out, float *sig, const float *g, const float *u, size_t n);
void whet_swiglu_backward_saved(float *dg, float *du, const float *dy, const float *g, const float *u, const float *s, size_t n);
void whet_rmsnorm_rows(float *out, float *rstd, const float *x, const float *w, size_t n, size_t d, float eps);
void whet_rmsnorm_backward_rows(float *dx, const float *dout, const float *x, const float *w, const float *rstd, size_t n, size_t d, int accumulate);
double whet_exp_sum_row(float *row, size_t n, float *mx);
void whet_prob_grad_row(float *s, float *dp, size_t n, float l, float d);
