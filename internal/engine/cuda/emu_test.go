package cuda

import (
	"math/rand/v2"
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

// TestEmulatedChips opens the emulator as other chips in child processes
// (WHET_CUDA_EMU_CC): compute 8.0 (163 KiB of shared memory per block)
// loads the compute_80 PTX and runs the bf16 attention; 8.6 (99 KiB) has
// it unavailable, selecting it is an error naming the shared memory; 7.5 is
// refused by Open (no bf16).
func TestEmulatedChips(t *testing.T) {
	if cc := os.Getenv("WHET_TEST_EMU_CHILD"); cc != "" {
		d, err := Open(0)
		if cc == "7.5" {
			if err == nil || !strings.Contains(err.Error(), "compute capability 7.5") {
				t.Fatalf("Open on compute 7.5: %v; want a refusal naming the compute capability", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if d.Info.ComputeCapability() != cc || d.PTXArch != "compute_80" {
			t.Fatalf("compute %s, PTX %s; want %s and compute_80", d.Info.ComputeCapability(), d.PTXArch, cc)
		}
		err = d.SetAttnKernels(AttnBF16)
		switch {
		case cc == "8.0" && err != nil:
			t.Fatalf("SetAttnKernels(bf16) on compute 8.0: %v", err)
		case cc == "8.6" && (err == nil || !strings.Contains(err.Error(), "shared memory")):
			t.Fatalf("SetAttnKernels(bf16) on compute 8.6: %v; want an error about shared memory", err)
		}
		if cc == "8.0" { // the largest bf16 kernel (dk/dv at head dim 128, 121 KiB) runs
			c := newAttnCase(rand.New(rand.NewPCG(3, 4)), 1, 70, 2, 1, 128, false)
			tt := &tester{t: t, d: d}
			gs := AttnShape{B: 1, T: 70, Heads: 2, KVHeads: 1, HeadDim: 128}
			gq, gk, gv := up(tt, c.q), up(tt, c.k), up(tt, c.v)
			gout, glse := tt.poison(70*256), tt.poison(70*2)
			tt.ok(d.Attention(gout, glse, gq, gk, gv, gs))
			gdq, gdk, gdv, scr := tt.poison(70*256), tt.poison(70*128), tt.poison(70*128), tt.poison(70*2)
			tt.ok(d.AttentionBackward(gdq, gdk, gdv, up(tt, c.dout), gq, gk, gv, gout, glse, scr, gs))
			tt.close("bf16 dk on compute 8.0 vs CPU f32", tt.down(gdk, 70*128), c.dk, attnBF16GradTol)
		}
		t.Logf("compute %s: bf16 attention: %v", cc, err)
		return
	}
	emulatorDevice(t)
	for _, cc := range []string{"8.0", "8.6", "7.5"} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestEmulatedChips$", "-test.v")
		cmd.Env = append(os.Environ(), "WHET_TEST_EMU_CHILD="+cc, "WHET_CUDA_EMU_CC="+cc)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestEmulatedChips") {
			t.Fatalf("child on compute %s: %v\n%s", cc, err, out)
		}
		t.Logf("compute %s: %s", cc, strings.TrimSpace(string(out)))
	}
}
