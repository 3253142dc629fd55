package train

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/whetstone/whetstone/internal/engine/gpu"
	"github.com/whetstone/whetstone/internal/engine/model"
	"github.com/whetstone/whetstone/internal/engine/nn"
)

// Estimate is a run's predicted peak memory in bytes.
type Estimate struct {
	Weights     int64 `json:"weights"`
	Optimizer   int64 `json:"optimizer"` // trainable copies, gradients and AdamW moments
	Activations int64 `json:"activations"`
	Scratch     int64 `json:"scratch"` // backward buffers, logits chunk, attention blocks
	// GCHeadroom is what Go's collector lets the heap grow past the live
	// bytes: the heap may reach twice what was live at the last collection
	// (GOGC=100), and collections land anywhere in a step. Counted as 3/4
	// of the persistent bytes (weights, optimizer) plus 1/3 of the per-step
	// ones (activations, scratch): coefficients fitted on the peak RSS
	// growth of stories260K and SmolLM2-135M LoRA runs (docs/engine.md).
	GCHeadroom int64 `json:"gc_headroom"`
	// Native is memory outside Go's heap that grows with the threads that
	// call into the C kernels: OpenBLAS keeps a work buffer per calling
	// thread and each thread has its own stack. 2 MiB per worker thread
	// (GOMAXPROCS + 1), fitted on stories260K, whose peak RSS growth rose
	// by 6–14 MB when the attention and cross-entropy rows moved into C
	// (more cgo calls, one more thread; the Go heap was unchanged).
	Native int64 `json:"native"`
	Total  int64 `json:"total"`
}

func gib(b int64) string { return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30)) }

// String formats the estimate for humans.
func (e Estimate) String() string {
	return fmt.Sprintf("%s (weights %s, gradients+optimizer %s, activations %s, scratch %s, gc headroom %s, native %s)",
		gib(e.Total), gib(e.Weights), gib(e.Optimizer), gib(e.Activations), gib(e.Scratch), gib(e.GCHeadroom), gib(e.Native))
}

// EstimateError is returned by New for a run that will not fit.
type EstimateError struct {
	Estimate Estimate
	Limit    int64
}

func (e *EstimateError) Error() string {
	return fmt.Sprintf("run needs about %s but only %s is available; lower batch_size or max_seq_len, or use lora or qlora (4-bit base)", e.Estimate, gib(e.Limit))
}

// EstimateMemory predicts the peak memory growth of the process training m
// with cfg (defaults applied): the weights, trainable state, the
// activations that the forward pass keeps for the backward pass, scratch,
// and the garbage collector's headroom over them.
func EstimateMemory(m *model.Model, cfg *Config) Estimate {
	return estimate(&m.Cfg, int64(m.NumParams()), cfg)
}

// EstimateShape is EstimateMemory from a model's shape alone (its
// config.json, no weights; model.NewShape): s gives the dimensions and the
// number of base weights, cfg the method, adapters, precision, batch size
// and sequence length, as for EstimateMemory (the estimate is made before
// the run sets the model up). cfg's defaults are applied; an invalid cfg
// is an error. Scratch and native memory grow with GOMAXPROCS: the
// estimate is for this machine's CPU count.
func EstimateShape(s model.Shape, cfg Config) (Estimate, error) {
	if err := cfg.defaults(); err != nil {
		return Estimate{}, err
	}
	return estimate(&s.Cfg, s.NumParams(), &cfg), nil
}

// EstimateDevice is the device memory a GPU run of cfg on m needs, before
// New has set m up: gpu.EstimateShape of the shape m takes once New
// attaches cfg's adapters (or enables every gradient) and, for qlora,
// holds the projections in NF4. m's own biases and head count. cfg's
// defaults are applied; the activations are sized for MaxSeqLen (New
// sizes them for the longest example when not packing, never more).
func EstimateDevice(m *model.Model, cfg Config) (gpu.Estimate, error) {
	if err := cfg.defaults(); err != nil {
		return gpu.Estimate{}, err
	}
	own := m.Shape()
	s, err := model.NewShape(own.Cfg, cfg.Method, cfg.LoRA, cfg.DoubleQuant)
	if err != nil {
		return gpu.Estimate{}, err
	}
	s.Biases = own.Biases
	return gpu.EstimateShape(s, cfg.BatchSize, cfg.MaxSeqLen, gpu.Options{BF16: cfg.BF16, Checkpointing: cfg.GradientCheckpointing}), nil
}

func estimate(c *model.Config, nparams int64, cfg *Config) Estimate {
	D, I, nh, nkv, hd := int64(c.HiddenSize), int64(c.IntermediateSize), int64(c.NumAttentionHeads), int64(c.NumKeyValueHeads), int64(c.HeadDim)
	qd, kd := nh*hd, nkv*hd
	L := int64(c.NumHiddenLayers)
	N := int64(cfg.BatchSize) * int64(cfg.MaxSeqLen)
	var e Estimate
	dims := map[string][2]int64{"q": {qd, D}, "k": {kd, D}, "v": {kd, D}, "o": {D, qd}, "gate": {I, D}, "up": {I, D}, "down": {D, I}}
	dense := nparams
	if cfg.Method == "qlora" {
		// Every projection is held in NF4 (4.5 bits per weight) and
		// dequantized into one pooled tile per product (float32, or
		// bfloat16 with BF16).
		var tile int64
		for _, d := range dims {
			dense -= L * d[0] * d[1]
			e.Weights += L * nn.NF4Bytes(int(d[0]), int(d[1]), cfg.DoubleQuant)
			tile = max(tile, min(d[0], max(1, nn.NF4TileElems/d[1]))*d[1])
		}
		if cfg.BF16 {
			e.Weights += 2 * tile
		} else {
			e.Weights += 4 * tile
		}
	}
	e.Weights += dense * 4
	if cfg.BF16 && cfg.Method != "full" {
		e.Weights += dense * 2 // bfloat16 copies of the frozen float32 weights
	}
	var trainable, loraPerTok int64
	if cfg.Method == "full" {
		trainable = nparams
		e.Optimizer = trainable * 4 * 3
	} else {
		r := int64(cfg.LoRA.Rank)
		for _, t := range cfg.LoRA.Targets {
			d := dims[t]
			trainable += r * (d[0] + d[1])
			loraPerTok += r
			if cfg.LoRA.Dropout > 0 {
				loraPerTok += d[1]
			}
		}
		trainable *= L
		e.Optimizer = trainable * 4 * 4
	}
	perTokLayer := 5*D + 2*qd + 2*kd + 4*I + 2 + nh + loraPerTok
	if c.ModelType == "qwen3" {
		perTokLayer += qd + kd + nh + nkv
	}
	e.Activations = 4 * N * (L*perTokLayer + 3*D)
	back := D + max(D, I) + qd + 2*kd + max(qd, D) + 2*I + int64(cfg.LoRA.Rank) + max(D, I, qd)
	workers := int64(runtime.GOMAXPROCS(0))
	e.Scratch = 4*N*back + 4*int64(nn.XentRows(c.VocabSize))*int64(c.VocabSize) + workers*4*3*int64(nn.AttnBlock)*int64(cfg.MaxSeqLen)
	if cfg.BF16 {
		// bf16 attention: packed bf16 copies of q, k, v and dO, and each
		// worker's bf16 P and dS blocks.
		e.Scratch += 2*N*(2*qd+2*kd) + workers*2*2*int64(nn.AttnBlock)*int64(cfg.MaxSeqLen)
	}
	e.GCHeadroom = 3*(e.Weights+e.Optimizer)/4 + (e.Activations+e.Scratch)/3
	e.Native = (workers + 1) * 2 << 20
	e.Total = e.Weights + e.Optimizer + e.Activations + e.Scratch + e.GCHeadroom + e.Native
	return e
}

// availableMemory reads MemAvailable from /proc/meminfo (0 if unknown).
func availableMemory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 2 && fs[0] == "MemAvailable:" {
			kb, _ := strconv.ParseInt(fs[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}
