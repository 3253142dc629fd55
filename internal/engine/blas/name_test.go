package blas

import "testing"

func TestName(t *testing.T) {
	t.Logf("backend: %s; avx512=%v avx512bf16=%v", Name(), hasAVX512(), hasAVX512BF16())
}
