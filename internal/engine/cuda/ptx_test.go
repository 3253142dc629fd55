package cuda

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// TestPTXAssembles runs ptxas, where it exists, on each embedded PTX for
// its chip: the PTX must assemble (the driver does the same at load time,
// so an error here is an error on every GPU of that kind), and each
// attention kernel's static plus dynamic shared memory must fit the most a
// block can opt into on that chip (A100: 163 KiB; H100/H200: 227 KiB).
// Registers and spills are logged: a spill in a hot kernel is a speed
// problem worth seeing before device time is spent.
func TestPTXAssembles(t *testing.T) {
	ptxas, err := exec.LookPath("ptxas")
	if err != nil {
		t.Skip("ptxas not found (Debian's nvidia-cuda-toolkit has it)")
	}
	if testing.Short() {
		t.Skip("assembling both PTX files takes ~30 s")
	}
	maxSmem := map[string]int{"80": 163 << 10, "90": 227 << 10}
	dyn := map[string]int{}
	for hd, m := range attnSmem {
		for kind, b := range m {
			dyn[fmt.Sprintf("attn_%s_%d", kind, hd)] = b
		}
	}
	for hd, m := range attnBF16Smem {
		for kind, b := range m {
			dyn[fmt.Sprintf("attn_%s_bf16_%d", kind, hd)] = b
		}
	}
	for arch, ptx := range map[string][]byte{"80": ptx80, "90": ptx90} {
		f := filepath.Join(t.TempDir(), "k.ptx")
		if err := os.WriteFile(f, ptx, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(ptxas, "-arch=sm_"+arch, "-v", f, "-o", os.DevNull).CombinedOutput()
		if err != nil {
			t.Fatalf("ptxas sm_%s: %v\n%s", arch, err, out)
		}
		props := parsePtxas(string(out))
		for _, k := range kernelNames {
			p, ok := props[k]
			if !ok {
				t.Errorf("sm_%s: ptxas reported nothing for %s", arch, k)
				continue
			}
			if total := p.smem + dyn[k]; total > maxSmem[arch] {
				t.Errorf("sm_%s: %s needs %d bytes of shared memory (%d static + %d dynamic), over the %d a block can have",
					arch, k, total, p.smem, dyn[k], maxSmem[arch])
			}
			if p.spill > 0 || strings.HasPrefix(k, "attn_") {
				t.Logf("sm_%s %-22s %3d registers, %6d B shared (static %d), %d B spilled", arch, k, p.regs, p.smem+dyn[k], p.smem, p.spill)
			}
		}
	}
}

// ptxasProps is what ptxas -v reports of one kernel.
type ptxasProps struct{ regs, smem, spill int }

// parsePtxas reads ptxas -v output: per entry function, "N bytes spill
// stores" and "Used N registers[, N bytes smem]".
func parsePtxas(out string) map[string]ptxasProps {
	props := map[string]ptxasProps{}
	var cur string
	num := func(s, unit string) int {
		i := strings.Index(s, unit)
		if i < 0 {
			return 0
		}
		f := strings.Fields(s[:i])
		n, _ := strconv.Atoi(f[len(f)-1])
		return n
	}
	for _, line := range strings.Split(out, "\n") {
		if i := strings.Index(line, "Compiling entry function '"); i >= 0 {
			rest := line[i+len("Compiling entry function '"):]
			cur = rest[:strings.IndexByte(rest, '\'')]
			props[cur] = ptxasProps{}
			continue
		}
		if cur == "" {
			continue
		}
		p := props[cur]
		if strings.Contains(line, "spill stores") {
			p.spill = num(line, " bytes spill stores")
		}
		if strings.Contains(line, "Used ") {
			p.regs = num(line, " registers")
			p.smem = num(line, " bytes smem")
		}
		props[cur] = p
	}
	return props
}
