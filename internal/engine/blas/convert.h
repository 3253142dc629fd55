#include <stddef.h>
#include <stdint.h>

void whet_f32_to_bf16(uint16_t *dst, const float *src, size_t n);
void whet_f32_to_bf16_rows(uint16_t *dst, const float *src, size_t rows, size_t w, size_t ld);
void whet_bf16_to_f32(float *dst, const uint16_t *src, size_t n);
