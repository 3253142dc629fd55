package cuda

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The CUDA emulator (internal/engine/cuda/emu, scripts/cuda-emu.sh) runs
// kernels.cu on the CPU behind the driver API; these tests check what only
// it can be asked to do: refuse launches a GPU refuses, and pretend to be
// another chip. They skip on a real GPU and without one.

const emulatorName = "Whetstone CUDA emulator (CPU)"

func emulatorDevice(t *testing.T) *Device {
	t.Helper()
	d := testDevice(t)
	if d.Info.Name != emulatorName {
		t.Skipf("%s is not the CUDA emulator", d.Info.Name)
	}
	return d
}

// TestEmulatorRejectsBadLaunches: launch configurations a GPU refuses are
// errors that say why (and leave the device usable: they are not faults).
func TestEmulatorRejectsBadLaunches(t *testing.T) {
	d := emulatorDevice(t)
	attnArgs := []any{Buffer{}, Buffer{}, Buffer{}, Buffer{}, Buffer{}, Buffer{}, 1, 64, 1, 1, float32(0.125)}
	sm := attnBF16Smem[64]["fwd"]
	for _, c := range []struct {
		name, kernel string
		block        uint32
		smem         int
		args         []any
		want         string
	}{
		{"over __launch_bounds__", "attn_fwd_bf16_64", 256, sm, attnArgs, "__launch_bounds__ (.maxntid) allows 128"},
		{"over the function's shared memory", "attn_fwd_bf16_64", attnBF16Threads, sm + 16, attnArgs, "the function allows"},
		{"over 48 KiB without the attribute", "add_f32", 256, 48<<10 + 4, []any{Buffer{}, Buffer{}, int64(0)}, "48 KiB unless raised"},
		{"over 1024 threads", "add_f32", 1025, 0, []any{Buffer{}, Buffer{}, int64(0)}, "exceeds 1024 threads"},
	} {
		err := d.launch(c.kernel, [3]uint32{1, 1, 1}, [3]uint32{c.block, 1, 1}, c.smem, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: launch error %v; want one containing %q", c.name, err, c.want)
		}
	}
	// Still usable.
	x := []float32{1, 2, 3}
	b, err := d.AllocF32(3, x)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free(b)
	if err := d.launch("scale_f32", grid1(3), t256, 0, b, int64(3), float32(2)); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 3)
	if err := Download(got, b); err != nil || got[2] != 6 {
		t.Fatalf("after the refused launches: %v, %v", got, err)
	}
}

// TestEmulatedCompute86 opens the emulator as a compute 8.6 chip (99 KiB
// of shared memory per block) in a child process: the bf16 attention
// kernels are unavailable there (selecting them is an error naming the
// shared memory), the float32 ones run.
func TestEmulatedCompute86(t *testing.T) {
	if os.Getenv("WHET_TEST_EMU_CHILD") == "1" {
		d := testDevice(t)
		if d.Info.ComputeCapability() != "8.6" || d.PTXArch != "compute_80" {
			t.Fatalf("compute %s, PTX %s; want 8.6 and compute_80", d.Info.ComputeCapability(), d.PTXArch)
		}
		err := d.SetAttnKernels(AttnBF16)
		if err == nil || !strings.Contains(err.Error(), "shared memory") {
			t.Fatalf("SetAttnKernels(bf16) on compute 8.6: %v; want an error about shared memory", err)
		}
		t.Logf("bf16 attention on compute 8.6: %v", err)
		return
	}
	emulatorDevice(t)
	cmd := exec.Command(os.Args[0], "-test.run", "^TestEmulatedCompute86$", "-test.v")
	cmd.Env = append(os.Environ(), "WHET_TEST_EMU_CHILD=1", "WHET_CUDA_EMU_CC=8.6", "WHET_REQUIRE_GPU=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestEmulatedCompute86") {
		t.Fatalf("child on compute 8.6: %v\n%s", err, out)
	}
	t.Logf("child: %s", strings.TrimSpace(string(out)))
}
