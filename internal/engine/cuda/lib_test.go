package cuda

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func fakeEnv(t *testing.T, env map[string]string, files ...string) (Env, string) {
	root := t.TempDir()
	for _, f := range files {
		p := filepath.Join(root, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("not a library"), 0o644)
	}
	re := func(p string) string {
		if strings.HasPrefix(p, "/") && !strings.HasPrefix(p, root) {
			return filepath.Join(root, p)
		}
		return p
	}
	return Env{
		Getenv: func(k string) string { return env[k] },
		Glob:   func(p string) ([]string, error) { return filepath.Glob(re(p)) },
		Exists: func(p string) bool {
			st, err := os.Stat(re(p))
			return err == nil && !st.IsDir()
		},
	}, root
}

func TestCUBLASLtCandidates(t *testing.T) {
	e, root := fakeEnv(t, map[string]string{"CUDA_HOME": "/opt/cuda", "VIRTUAL_ENV": "/venv", "WHET_CUBLASLT": "/explicit/libcublasLt.so"},
		"/opt/cuda/lib64/libcublasLt.so.12",
		"/usr/local/cuda-12.4/lib64/libcublasLt.so.12",
		"/venv/lib/python3.12/site-packages/nvidia/cublas/lib/libcublasLt.so.13",
		"/usr/local/lib/python3.11/dist-packages/nvidia/cublas/lib/libcublasLt.so.12")
	got := CUBLASLtCandidates(e)
	for i, p := range got {
		got[i] = strings.TrimPrefix(p, root)
	}
	want := []string{
		"/explicit/libcublasLt.so", // WHET_CUBLASLT first, even unchecked
		"/opt/cuda/lib64/libcublasLt.so.12",
		"/usr/local/cuda-12.4/lib64/libcublasLt.so.12",
		"/venv/lib/python3.12/site-packages/nvidia/cublas/lib/libcublasLt.so.13",
		"/usr/local/lib/python3.11/dist-packages/nvidia/cublas/lib/libcublasLt.so.12",
	}
	if !slices.Equal(got[:len(want)], want) {
		t.Fatalf("candidates:\n%s\nwant prefix:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The dynamic loader's own search comes last, newest soname first.
	if !slices.Equal(got[len(want):], CUBLASLtSonames) {
		t.Errorf("tail %v, want the sonames %v", got[len(want):], CUBLASLtSonames)
	}
}

func TestDriverCandidates(t *testing.T) {
	e, root := fakeEnv(t, nil, "/usr/local/nvidia/lib64/libcuda.so.1")
	got := DriverCandidates(e)
	if len(got) != 3 || strings.TrimPrefix(got[0], root) != "/usr/local/nvidia/lib64/libcuda.so.1" || got[1] != "libcuda.so.1" {
		t.Errorf("driver candidates %v", got)
	}
}

// TestOpenWithoutGPUIsClean: on a machine without a usable GPU, Open fails
// with an error wrapping ErrUnavailable that says why; Devices likewise.
func TestOpenWithoutGPUIsClean(t *testing.T) {
	d, err := Open(0)
	if err == nil {
		t.Skipf("a GPU is usable here: %s", d)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Open: %v does not wrap ErrUnavailable", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "cuda unavailable: ") || len(msg) < 30 {
		t.Errorf("unhelpful error %q", msg)
	}
	t.Logf("Open(0): %v", err)
	if _, err := Devices(); err != nil && !errors.Is(err, ErrUnavailable) {
		t.Errorf("Devices: %v", err)
	}
}

// TestOpenMissingLibraries: a driver file that is not a library, and no
// cuBLASLt, give errors naming what was tried.
func TestDriverCandidateNotALibrary(t *testing.T) {
	if !haveCgo {
		t.Skip("without cgo nothing is loaded")
	}
	e, root := fakeEnv(t, nil)
	bad := filepath.Join(root, "libcuda.so.1")
	os.WriteFile(bad, []byte("garbage"), 0o644)
	err := drvOpen(bad)
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("dlopen of a non-library: %v; want an error naming %s", err, bad)
	}
	_ = e
	if err := ltOpen(filepath.Join(root, "libcublasLt.so.13")); err == nil {
		t.Error("ltOpen of a missing file succeeded")
	}
}
