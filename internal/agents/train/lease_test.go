package train

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/assets"
	"github.com/whetstone/whetstone/internal/engine/model"
	trainer "github.com/whetstone/whetstone/internal/engine/train"
	"github.com/whetstone/whetstone/internal/gpus"
)

// TestLeaseGPU: which runs take a GPU lease, for how much memory, and that
// a run asking for more than any GPU has is refused as bad input.
func TestLeaseGPU(t *testing.T) {
	m, err := model.Load(assets.Path(t, "models", "stories260K"))
	if err != nil {
		t.Fatal(err)
	}
	const gib = int64(1) << 30
	mgr := &gpus.Manager{Dir: t.TempDir(), Poll: time.Millisecond, Devices: func() ([]gpus.GPU, error) {
		return []gpus.GPU{{Index: 0, UUID: "GPU-x", Name: "Fake", MemoryTotal: 80 * gib}}, nil
	}}
	job := Job{GPUs: mgr, NodeID: "j/tune"}
	ctx := context.Background()
	for _, c := range []struct {
		device string
		lease  bool
	}{{"auto", true}, {"", true}, {"cuda", true}, {"cpu", false}, {"cuda:0", false}} {
		cfg := trainer.Config{Device: c.device, BatchSize: 8, MaxSeqLen: 256, Method: "lora"}
		l, err := leaseGPU(ctx, job, m, &cfg)
		if err != nil || (l != nil) != c.lease {
			t.Fatalf("device %q: lease %v, %v; want lease=%v", c.device, l, err, c.lease)
		}
		if l != nil {
			if l.Device() != "cuda:0" {
				t.Errorf("device %q: leased %s", c.device, l.Device())
			}
			l.Release()
		}
	}
	// The inventory comes from NVML by default: only where NVML is present
	// does a run wait for a lease.
	// A run that could never fit is refused as bad input.
	small := &gpus.Manager{Dir: t.TempDir(), Devices: func() ([]gpus.GPU, error) {
		return []gpus.GPU{{Index: 0, UUID: "GPU-s", MemoryTotal: 1 << 20}}, nil
	}}
	cfg := trainer.Config{Device: "auto", BatchSize: 8, MaxSeqLen: 256, Method: "lora"}
	if _, err := leaseGPU(ctx, Job{GPUs: small, NodeID: "j/x"}, m, &cfg); !errors.Is(err, ErrBadInput) || !errors.Is(err, gpus.ErrNoGPU) {
		t.Errorf("oversized run: %v", err)
	}
}
