package train

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/whetstone/whetstone/internal/engine/gpu"
	"github.com/whetstone/whetstone/internal/engine/model"
	"github.com/whetstone/whetstone/internal/engine/nn"
)

// benchDevice is Bench on c.Device: the same synthetic batches and AdamW
// (with global-norm clipping at 1), every op on the device.
func benchDevice(ctx context.Context, m *model.Model, c BenchConfig, w io.Writer) (BenchResult, error) {
	var r BenchResult
	dev := c.Device
	o := gpu.Options{BF16: c.BF16, Checkpointing: c.Checkpointing}
	est := gpu.EstimateMemory(m, c.Batch, c.Seq, o)
	r.GPUEstimate = est.Total
	if free, _, err := dev.MemInfo(); err == nil && est.Total > free {
		return r, &gpu.EstimateError{Estimate: est, Free: free, Device: dev.Info.Name}
	}
	dev.ResetPeak()
	g, err := gpu.New(dev, m, o)
	if err != nil {
		return r, err
	}
	defer g.Close()
	ntrain := 0
	for _, p := range m.Trainable() {
		ntrain += len(p.Data)
	}
	opt := nn.DefaultAdamW()
	opt.WeightDecay = 0.01
	fmt.Fprintf(w, "method=%s trainable_params=%d seq=%d batch=%d bf16=%v gradient_checkpointing=%v device=%s\n", c.Method, ntrain, c.Seq, c.Batch, c.BF16, c.Checkpointing, dev)
	var total time.Duration
	for s := 0; s < c.Steps; s++ {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		b := SyntheticBatch(s, c.Batch, c.Seq, m.Cfg.VocabSize)
		b.Train = true
		t0 := time.Now()
		if err := g.ZeroGrad(); err != nil {
			return r, err
		}
		n := c.Batch * (c.Seq - 1)
		sum, _, err := g.ForwardBackward(b, 1/float32(n), true)
		if err != nil {
			return r, err
		}
		if _, err := g.ClipGradNorm(1); err != nil {
			return r, err
		}
		if err := g.Step(opt, s+1, c.LR); err != nil {
			return r, err
		}
		if err := dev.Sync(); err != nil {
			return r, err
		}
		dt := time.Since(t0)
		loss := sum / float64(n)
		if s == 0 {
			r.LossFirst = loss
		} else {
			total += dt
		}
		r.LossLast = loss
		note := ""
		if s == 0 {
			note = " (warm-up, not timed)"
		}
		fmt.Fprintf(w, "step %d loss=%.6f time=%.3fs%s\n", s, loss, dt.Seconds(), note)
	}
	if os.Getenv("WHET_GPU_PROFILE") == "1" {
		// One more step with every launch timed: where the time goes.
		b := SyntheticBatch(c.Steps, c.Batch, c.Seq, m.Cfg.VocabSize)
		b.Train = true
		dev.StartProfile()
		g.ZeroGrad()
		n := c.Batch * (c.Seq - 1)
		if _, _, err := g.ForwardBackward(b, 1/float32(n), true); err != nil {
			return r, err
		}
		g.ClipGradNorm(1)
		g.Step(opt, c.Steps+1, c.LR)
		ms, calls, err := dev.Profile()
		if err != nil {
			return r, err
		}
		names := make([]string, 0, len(ms))
		var sum float64
		for k, v := range ms {
			names = append(names, k)
			sum += v
		}
		sort.Slice(names, func(i, j int) bool { return ms[names[i]] > ms[names[j]] })
		fmt.Fprintf(w, "profile (one step, every launch timed with events): %.1f ms in kernels\n", sum)
		for _, k := range names {
			fmt.Fprintf(w, "  %-22s %8.2f ms %5.1f%% %6d calls\n", k, ms[k], 100*ms[k]/sum, calls[k])
		}
	}
	r.SecPerStep = total.Seconds() / float64(c.Steps-1)
	r.TokensPerS = float64(c.Batch*c.Seq) / r.SecPerStep
	r.MatmulGFLOPs = MatmulFLOPs(m, c.Batch, c.Seq, c.Method == "full") / r.SecPerStep / 1e9
	r.PeakRSS = PeakRSS()
	r.GPUPeakAlloc = dev.PeakAllocated()
	if free, total, err := dev.MemInfo(); err == nil {
		r.GPUUsed = total - free
	}
	return r, nil
}
