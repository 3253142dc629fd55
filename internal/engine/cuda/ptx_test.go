package cuda

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPTXCurrent checks that the embedded PTX was generated from the
// kernels.cu in the tree: each PTX file records the source's SHA-256 (gen.sh),
// and every kernel Open looks up is defined in it. Where nvcc exists it
// also regenerates the PTX and requires the same bytes (the generator of
// record is Debian's nvidia-cuda-toolkit, nvcc 11.8; another nvcc version
// emits different PTX, so that part runs only with 11.8 or when
// WHET_PTX_NVCC_ANY=1).
func TestPTXCurrent(t *testing.T) {
	src, err := os.ReadFile("kernels.cu")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(src)
	want := "// kernels.cu sha256: " + hex.EncodeToString(sum[:])
	for name, ptx := range map[string][]byte{"kernels_sm80.ptx": ptx80, "kernels_sm90.ptx": ptx90} {
		lines := strings.SplitN(string(ptx), "\n", 4)
		if len(lines) < 3 || lines[1] != want {
			t.Fatalf("%s is stale: run `go generate ./internal/engine/cuda` (needs nvcc); header %q, want %q", name, lines[1], want)
		}
		for _, k := range kernelNames {
			if !bytes.Contains(ptx, []byte(".entry "+k+"(")) {
				t.Errorf("%s: kernel %s missing", name, k)
			}
		}
		arch := ".target sm_" + strings.TrimSuffix(strings.TrimPrefix(name, "kernels_sm"), ".ptx")
		if !bytes.Contains(ptx, []byte(arch)) {
			t.Errorf("%s: no %q", name, arch)
		}
	}
	nvcc, err := exec.LookPath("nvcc")
	if err != nil {
		t.Log("nvcc not found: PTX bytes not regenerated (the source hash matches)")
		return
	}
	ver, _ := exec.Command(nvcc, "--version").Output()
	if !bytes.Contains(ver, []byte("release 11.8")) && os.Getenv("WHET_PTX_NVCC_ANY") != "1" {
		t.Logf("nvcc is not 11.8 (the generator of record): PTX bytes not compared")
		return
	}
	if testing.Short() {
		t.Skip("regenerating PTX takes ~45 s")
	}
	dir := t.TempDir()
	for _, f := range []string{"kernels.cu", "gen.sh"} {
		b, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(dir, f), b, 0o755)
	}
	if out, err := exec.Command("sh", filepath.Join(dir, "gen.sh")).CombinedOutput(); err != nil {
		t.Fatalf("gen.sh: %v\n%s", err, out)
	}
	for name, ptx := range map[string][]byte{"kernels_sm80.ptx": ptx80, "kernels_sm90.ptx": ptx90} {
		got, _ := os.ReadFile(filepath.Join(dir, name))
		if !bytes.Equal(got, ptx) {
			t.Errorf("%s differs from what gen.sh makes from kernels.cu: run go generate ./internal/engine/cuda", name)
		}
	}
}
