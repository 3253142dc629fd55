//go:build cgo && !noblas

package blas

import (
	"os"
	"strings"
	"testing"
)

// TestOpenBLASLoaded fails when WHET_BLAS_REQUIRE_NATIVE=1 (as in CI) and
// OpenBLAS could not be loaded, so the Sgemm tests cannot silently run on the
// pure-Go fallback.
func TestOpenBLASLoaded(t *testing.T) {
	t.Parallel()
	err := OpenBLASError()
	if err != nil && os.Getenv("WHET_BLAS_REQUIRE_NATIVE") == "1" {
		t.Fatalf("OpenBLAS required: %v", err)
	}
	if err != nil {
		t.Skipf("OpenBLAS not loaded, Sgemm runs on the pure-Go kernels: %v", err)
	}
	if hasAVX512() && os.Getenv("WHET_OPENBLAS_CORETYPE") == "" && openblas.coreName != "SkylakeX" {
		t.Errorf("AVX-512 CPU but OpenBLAS core %q, want SkylakeX", openblas.coreName)
	}
}

// TestDNNLLoaded is TestOpenBLASLoaded for oneDNN.
func TestDNNLLoaded(t *testing.T) {
	t.Parallel()
	err := DNNLError()
	if err != nil && os.Getenv("WHET_BLAS_REQUIRE_NATIVE") == "1" {
		t.Fatalf("oneDNN required: %v", err)
	}
	if err != nil {
		t.Skipf("oneDNN not loaded, GemmBF16 runs on Sgemm: %v", err)
	}
	if hasAVX512BF16() && !strings.Contains(BF16Name(), "bf16") {
		t.Errorf("AVX512_BF16 CPU but oneDNN picked %s", BF16Name())
	}
}

func TestSetenvTempRestores(t *testing.T) {
	t.Setenv("WHET_TEST_A", "orig")
	os.Unsetenv("WHET_TEST_B")
	restore := setenvTemp(map[string]string{"WHET_TEST_A": "", "WHET_TEST_B": "x"})
	if _, ok := os.LookupEnv("WHET_TEST_A"); ok || os.Getenv("WHET_TEST_B") != "x" {
		t.Fatalf("not applied: A=%q B=%q", os.Getenv("WHET_TEST_A"), os.Getenv("WHET_TEST_B"))
	}
	restore()
	if _, ok := os.LookupEnv("WHET_TEST_B"); ok || os.Getenv("WHET_TEST_A") != "orig" {
		t.Fatalf("not restored: A=%q B=%q", os.Getenv("WHET_TEST_A"), os.Getenv("WHET_TEST_B"))
	}
}
