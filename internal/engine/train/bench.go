package train

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/whetstone/whetstone/internal/engine/cuda"
	"github.com/whetstone/whetstone/internal/engine/model"
	"github.com/whetstone/whetstone/internal/engine/nn"
)

// BenchConfig configures Bench, mirroring the PyTorch reference's
// train-bench (torch_llama.py).
type BenchConfig struct {
	Method     string // lora, qlora or full
	Seq, Batch int
	Steps      int // the first is a warm-up and not timed
	LoRA       model.LoRAConfig
	LR         float64 // Defaults to 1e-4.
	// DoubleQuant (qlora) double-quantizes the NF4 scales.
	DoubleQuant bool
	// BF16 runs the products with frozen weights in bfloat16 (Model.UseBF16).
	BF16 bool
	// Device, when set, runs the steps on that CUDA device (package gpu).
	Device *cuda.Device
	// Checkpointing recomputes each layer's activations in the backward
	// pass (device runs only).
	Checkpointing bool
}

// BenchResult is what Bench measured.
type BenchResult struct {
	TokensPerS   float64
	SecPerStep   float64
	LossFirst    float64
	LossLast     float64
	MatmulGFLOPs float64 // model matmul FLOPs per step / time per step
	// CPUPerStep is process CPU seconds (all threads) per timed step: on a
	// shared machine it shows the work done independently of the load.
	CPUPerStep float64
	PeakRSS    int64 // bytes, VmHWM of the process
	// Device runs: peak bytes allocated by whet on the device (weights,
	// state, activations, scratch, cuBLASLt workspace) and the device's
	// memory in use at the end (every process, the CUDA context included).
	GPUPeakAlloc, GPUUsed int64
	GPUEstimate           int64
}

// SyntheticBatch is the reference's deterministic token pattern:
// tok = (1 + 7t + 13b + 3·step + (t² mod 11)) mod V, with next-token labels.
func SyntheticBatch(step, batch, seq, vocab int) *model.Batch {
	b := &model.Batch{B: batch, T: seq, IDs: make([]int32, batch*seq), Labels: make([]int32, batch*seq)}
	for bb := 0; bb < batch; bb++ {
		for t := 0; t < seq; t++ {
			b.IDs[bb*seq+t] = int32((1 + 7*t + 13*bb + 3*step + (t*t)%11) % vocab)
		}
		for t := 0; t < seq; t++ {
			if t+1 < seq {
				b.Labels[bb*seq+t] = b.IDs[bb*seq+t+1]
			} else {
				b.Labels[bb*seq+t] = nn.IgnoreIndex
			}
		}
	}
	return b
}

// MatmulFLOPs estimates the dense-product FLOPs of one training step of m
// on n = batch·seq tokens: projections and output head forward, their input
// gradients, weight gradients for full fine-tuning, and attention (forward
// plus the recomputing backward).
func MatmulFLOPs(m *model.Model, batch, seq int, full bool) float64 {
	c := &m.Cfg
	n := float64(batch * seq)
	D, I, V := float64(c.HiddenSize), float64(c.IntermediateSize), float64(c.VocabSize)
	qd, kd := float64(c.NumAttentionHeads*c.HeadDim), float64(c.NumKeyValueHeads*c.HeadDim)
	lin := float64(c.NumHiddenLayers) * (D*qd + 2*D*kd + qd*D + 3*D*I)
	fwd := 2*n*lin + 2*n*D*V
	attn := float64(c.NumHiddenLayers) * 2 * float64(batch) * float64(c.NumAttentionHeads) * float64(c.HeadDim) * float64(seq) * float64(seq)
	total := 2*fwd + attn*(1+2.5)
	if full {
		total += fwd
	}
	return total
}

// Bench trains m on synthetic batches with AdamW and reports throughput,
// printing one line per step to w.
func Bench(ctx context.Context, m *model.Model, c BenchConfig, w io.Writer) (BenchResult, error) {
	var r BenchResult
	if c.Steps < 2 {
		return r, fmt.Errorf("bench: need at least 2 steps (the first is a warm-up)")
	}
	if c.LR == 0 {
		c.LR = 1e-4
	}
	switch c.Method {
	case "lora", "qlora":
		if err := m.AddLoRA(c.LoRA, 0); err != nil {
			return r, err
		}
		m.EnableLoRAGrad()
		if c.Method == "qlora" {
			if _, err := m.QuantizeNF4(c.DoubleQuant); err != nil {
				return r, err
			}
			debug.FreeOSMemory()
		}
	case "full":
		m.EnableFullGrad()
	default:
		return r, fmt.Errorf("bench: method %q: want lora, qlora or full", c.Method)
	}
	if c.Device != nil {
		return benchDevice(ctx, m, c, w)
	}
	m.UseBF16(c.BF16)
	params := m.Trainable()
	ntrain := 0
	mom, vel := make([][]float32, len(params)), make([][]float32, len(params))
	for i, p := range params {
		mom[i], vel[i] = make([]float32, len(p.Data)), make([]float32, len(p.Data))
		ntrain += len(p.Data)
	}
	opt := nn.DefaultAdamW()
	opt.WeightDecay = 0.01
	fmt.Fprintf(w, "method=%s trainable_params=%d seq=%d batch=%d bf16=%v backend=%s\n", c.Method, ntrain, c.Seq, c.Batch, c.BF16, nn.CurrentBackend().Name())
	var total time.Duration
	var cpu0 time.Duration
	for s := 0; s < c.Steps; s++ {
		if s == 1 {
			cpu0 = cpuTime()
		}
		if err := ctx.Err(); err != nil {
			return r, err
		}
		b := SyntheticBatch(s, c.Batch, c.Seq, m.Cfg.VocabSize)
		b.Train = true
		t0 := time.Now()
		m.ZeroGrad()
		n := c.Batch * (c.Seq - 1)
		sum, _, err := m.ForwardBackward(b, 1/float32(n), true)
		if err != nil {
			return r, err
		}
		for i, p := range params {
			opt.Step(p.Data, p.Grad, mom[i], vel[i], s+1, c.LR)
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
	r.CPUPerStep = (cpuTime() - cpu0).Seconds() / float64(c.Steps-1)
	r.SecPerStep = total.Seconds() / float64(c.Steps-1)
	r.TokensPerS = float64(c.Batch*c.Seq) / r.SecPerStep
	r.MatmulGFLOPs = MatmulFLOPs(m, c.Batch, c.Seq, c.Method == "full") / r.SecPerStep / 1e9
	r.PeakRSS = PeakRSS()
	return r, nil
}

// PeakRSS returns the process's peak resident set size (VmHWM) in bytes, or
// 0 where /proc is unavailable.
func PeakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
