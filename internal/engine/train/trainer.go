package train

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"time"

	"github.com/whetstone/whetstone/internal/engine/cuda"
	"github.com/whetstone/whetstone/internal/engine/device"
	"github.com/whetstone/whetstone/internal/engine/gpu"
	"github.com/whetstone/whetstone/internal/engine/model"
	"github.com/whetstone/whetstone/internal/engine/nn"
)

// Config configures a run. Zero values take the documented defaults.
type Config struct {
	// Method is "lora" (default), "qlora" (LoRA on a base whose projection
	// weights are stored in 4-bit NF4, Model.QuantizeNF4) or "full".
	Method string
	// LoRA configures the adapters when Method is lora.
	LoRA model.LoRAConfig
	// Epochs over the training set. Defaults to 1.
	Epochs int
	// MaxSteps, when positive, stops after that many optimiser steps.
	MaxSteps int
	// BatchSize is the number of sequences per micro-batch. Defaults to 4.
	BatchSize int
	// GradAccum micro-batches make one optimiser step. Defaults to 1.
	GradAccum int
	// LearningRate defaults to 2e-4.
	LearningRate float64
	// Schedule is constant, linear or cosine (default).
	Schedule    string
	WarmupSteps int
	// WeightDecay is AdamW's decoupled decay. Defaults to 0 (use a negative
	// value for 0 explicitly is not needed; 0 means none).
	WeightDecay float64
	// MaxGradNorm clips the global gradient norm. Defaults to 1; negative
	// disables clipping.
	MaxGradNorm float64
	// MaxSeqLen truncates (and, with Packing, fills) sequences. Defaults to 512.
	MaxSeqLen int
	// Packing concatenates several examples per sequence; attention never
	// crosses examples and positions restart at each.
	Packing bool
	// Seed drives data order, LoRA init and dropout. Defaults to 0.
	Seed uint64
	// EvalEvery runs validation every that many steps (and at the end).
	// 0 means only at the end.
	EvalEvery int
	// CheckpointEvery writes a checkpoint every that many steps into
	// CheckpointDir (0: only on cancel and at the end, if CheckpointDir is set).
	CheckpointEvery int
	CheckpointDir   string
	// MemoryLimit in bytes; 0 means MemAvailable from /proc/meminfo.
	MemoryLimit int64
	// BF16 runs the products with frozen weights in bfloat16 with float32
	// accumulation (Model.UseBF16); trainable weights stay float32.
	BF16 bool
	// DoubleQuant (qlora only) also quantizes the NF4 absmax scales to 8
	// bits, as bitsandbytes' bnb_4bit_use_double_quant.
	DoubleQuant bool
	// Objective is "sft" (default: next-token loss on the trained tokens)
	// or "dpo" (direct preference optimisation on Pairs; see DPOGrad). DPO
	// with LoRA uses the base with the adapters off as its reference, full
	// DPO a frozen copy of the initial weights.
	Objective string
	// Beta is DPO's β. Defaults to 0.1.
	Beta float64
	// Device is where the run trains: auto (the default: a usable GPU, else
	// the CPU), cpu, cuda or cuda:N (package device). DPO runs train on
	// the CPU.
	Device string
	// GradientCheckpointing recomputes each layer's activations during the
	// backward pass instead of keeping them (GPU runs).
	GradientCheckpointing bool
}

// IsDPO reports whether the run optimises the DPO objective.
func (c *Config) IsDPO() bool { return c.Objective == "dpo" }

// IsLoRA reports whether the run trains LoRA adapters (lora or qlora).
func (c *Config) IsLoRA() bool { return c.Method == "lora" || c.Method == "qlora" }

func (c *Config) defaults() error {
	if c.Method == "" {
		c.Method = "lora"
	}
	if c.Method != "lora" && c.Method != "qlora" && c.Method != "full" {
		return fmt.Errorf("method %q: want lora, qlora or full", c.Method)
	}
	if c.Epochs <= 0 {
		c.Epochs = 1
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 4
	}
	if c.GradAccum <= 0 {
		c.GradAccum = 1
	}
	if c.LearningRate == 0 {
		c.LearningRate = 2e-4
	}
	if c.LearningRate < 0 || math.IsNaN(c.LearningRate) {
		return fmt.Errorf("learning_rate must be positive, got %g", c.LearningRate)
	}
	if c.Schedule == "" {
		c.Schedule = "cosine"
	}
	if _, err := LR(c.Schedule, 1, 0, 0, 1); err != nil {
		return err
	}
	if c.MaxGradNorm == 0 {
		c.MaxGradNorm = 1
	}
	if c.MaxSeqLen <= 0 {
		c.MaxSeqLen = 512
	}
	if c.Objective == "" {
		c.Objective = "sft"
	}
	if c.Objective != "sft" && c.Objective != "dpo" {
		return fmt.Errorf("objective %q: want sft or dpo", c.Objective)
	}
	if c.Beta == 0 {
		c.Beta = 0.1
	}
	if c.Beta < 0 || math.IsNaN(c.Beta) {
		return fmt.Errorf("beta must be positive, got %g", c.Beta)
	}
	if c.IsDPO() && c.Packing {
		return fmt.Errorf("packing does not apply to dpo")
	}
	if c.DoubleQuant && c.Method != "qlora" {
		return fmt.Errorf("double_quant applies to method qlora only, not %s", c.Method)
	}
	if c.IsLoRA() {
		if c.LoRA.Rank == 0 {
			c.LoRA.Rank = 8
		}
		if c.LoRA.Alpha == 0 {
			c.LoRA.Alpha = 2 * float64(c.LoRA.Rank)
		}
		if len(c.LoRA.Targets) == 0 {
			c.LoRA.Targets = []string{"all-linear"}
		}
		t, err := model.ParseTargets(c.LoRA.Targets)
		if err != nil {
			return err
		}
		c.LoRA.Targets = t
	}
	return nil
}

// Record is one optimiser step of the loss curve.
type Record struct {
	Step         int      `json:"step"`
	Epoch        float64  `json:"epoch"`
	Loss         float64  `json:"loss"`
	LearningRate float64  `json:"learning_rate"`
	GradNorm     float64  `json:"grad_norm"`
	Tokens       int      `json:"tokens"`
	TokensPerS   float64  `json:"tokens_per_s"`
	ValLoss      *float64 `json:"val_loss,omitempty"`
	// DPO runs: the step's reward accuracy and margin, and on validation
	// steps the held-out reward accuracy.
	RewardAccuracy    *float64 `json:"reward_accuracy,omitempty"`
	RewardMargin      *float64 `json:"reward_margin,omitempty"`
	ValRewardAccuracy *float64 `json:"val_reward_accuracy,omitempty"`
}

// Progress is reported after every optimiser step.
type Progress struct {
	Record
	TotalSteps int
	ETA        time.Duration
}

// Result summarises a finished run.
type Result struct {
	Steps           int      `json:"steps"`
	TotalSteps      int      `json:"total_steps"`
	FinalLoss       float64  `json:"final_loss"`
	InitialValLoss  *float64 `json:"initial_val_loss,omitempty"`
	FinalValLoss    *float64 `json:"final_val_loss,omitempty"`
	History         []Record `json:"history"`
	TrainableParams int      `json:"trainable_params"`
	Estimate        Estimate `json:"memory_estimate"`
	// DPO runs: held-out DPO statistics before and after training.
	InitialValDPO *DPOStats `json:"initial_val_dpo,omitempty"`
	FinalValDPO   *DPOStats `json:"final_val_dpo,omitempty"`
}

// ErrNonFinite is returned when the loss or gradient norm becomes NaN or Inf.
var ErrNonFinite = errors.New("non-finite loss or gradient")

// Trainer runs one fine-tuning job.
type Trainer struct {
	cfg   Config
	m     *model.Model
	train []Example
	val   []Example
	// DPO runs train on pairs; ref gives the reference log-probabilities.
	trainPairs, valPairs []Pair
	ref                  Reference
	initialDPO, finalDPO *DPOStats
	log                  *slog.Logger
	params               []*model.Param
	mom, vel             [][]float32
	opt                  nn.AdamW

	// g is the model on the GPU when the run trains there (nil: the CPU).
	g   *gpu.Model
	dev *cuda.Device

	step       int // optimiser steps done
	history    []Record
	initialVal *float64
	est        Estimate
	gest       gpu.Estimate // device runs
	// OnStep, if set, is called after every optimiser step.
	OnStep func(Progress)
	// OnCheckpoint, if set, is called after a checkpoint is written.
	OnCheckpoint func(dir string)
}

// New prepares a run: attaches LoRA adapters (or enables full gradients),
// allocates optimiser state and checks the memory estimate. It returns an
// *EstimateError if the run will not fit.
func New(m *model.Model, cfg Config, trainSet, valSet []Example, logger *slog.Logger) (*Trainer, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if len(trainSet) == 0 {
		return nil, ErrNoData
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxSeqLen > m.Rope.MaxPos {
		return nil, fmt.Errorf("max_seq_len %d exceeds the model's max_position_embeddings %d", cfg.MaxSeqLen, m.Rope.MaxPos)
	}
	t := &Trainer{cfg: cfg, m: m, train: trainSet, val: valSet, log: logger}
	devName := cfg.Device
	if cfg.IsDPO() {
		if d, _ := device.Parse(devName); d.Kind == "cuda" {
			return nil, fmt.Errorf("device %s: dpo trains on the CPU only; use device auto or cpu", devName)
		}
		devName = "cpu" // DPOGrad runs the CPU engine
	}
	dev, err := device.Select(devName, logger)
	if err != nil {
		return nil, err
	}
	t.dev = dev
	// Size activations by the longest sequence the run will really form.
	ecfg := cfg
	if !cfg.Packing {
		longest := 0
		for _, ex := range trainSet {
			longest = max(longest, len(ex.IDs))
		}
		ecfg.MaxSeqLen = min(cfg.MaxSeqLen, longest)
	}
	t.est = EstimateMemory(m, &ecfg)
	limit := cfg.MemoryLimit
	if limit == 0 {
		limit = availableMemory()
	}
	if dev == nil && limit > 0 && t.est.Total > limit {
		return nil, &EstimateError{Estimate: t.est, Limit: limit}
	}
	if cfg.IsLoRA() {
		if len(m.LoRAParams()) == 0 {
			if err := m.AddLoRA(cfg.LoRA, cfg.Seed); err != nil {
				return nil, err
			}
		}
		m.EnableLoRAGrad()
	} else {
		m.EnableFullGrad()
	}
	if cfg.Method == "qlora" {
		n, err := m.QuantizeNF4(cfg.DoubleQuant)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			debug.FreeOSMemory() // give the float32 copies back
		}
	}
	t.params = m.Trainable()
	for _, p := range t.params {
		t.mom = append(t.mom, make([]float32, len(p.Data)))
		t.vel = append(t.vel, make([]float32, len(p.Data)))
	}
	if dev != nil {
		o := gpu.Options{BF16: cfg.BF16, Checkpointing: cfg.GradientCheckpointing}
		ge := gpu.EstimateMemory(m, cfg.BatchSize, ecfg.MaxSeqLen, o)
		t.gest = ge
		if free, _, err := dev.MemInfo(); err == nil && ge.Total > free {
			return nil, &gpu.EstimateError{Estimate: ge, Free: free, Device: dev.String()}
		}
		if t.g, err = gpu.New(dev, m, o); err != nil {
			return nil, fmt.Errorf("upload to %s: %w", dev, err)
		}
		logger.Info("training on the GPU", "device", dev.String(), "gpu_memory_estimate_gib", float64(ge.Total)/(1<<30))
	} else {
		m.UseBF16(cfg.BF16)
	}
	t.opt = nn.DefaultAdamW()
	t.opt.WeightDecay = cfg.WeightDecay
	return t, nil
}

// NewDPO prepares a DPO run (cfg.Objective is set to dpo) on preference
// pairs: as New, then the reference model is fixed (the adapters off for
// LoRA, a frozen copy of the weights for full).
func NewDPO(m *model.Model, cfg Config, trainSet, valSet []Pair, logger *slog.Logger) (*Trainer, error) {
	cfg.Objective = "dpo"
	if len(trainSet) == 0 {
		return nil, ErrNoData
	}
	// The examples as New sees them (memory estimate, longest sequence).
	var flat []Example
	for _, p := range trainSet {
		flat = append(flat, p.Chosen, p.Rejected)
	}
	var ref Reference
	if cfg.Method == "full" {
		ref = frozenCopy{m.CloneFrozen(), 0} // before any weight moves
	}
	t, err := New(m, cfg, flat, nil, logger)
	if err != nil {
		return nil, err
	}
	t.train, t.trainPairs, t.valPairs = nil, fitPairs(trainSet, t.cfg.MaxSeqLen), fitPairs(valSet, t.cfg.MaxSeqLen)
	if ref == nil {
		ref = adapterOff{m, t.cfg.MaxSeqLen}
	} else {
		ref = frozenCopy{ref.(frozenCopy).m, t.cfg.MaxSeqLen}
	}
	t.ref = &cachedRef{ref: ref, memo: map[*int32]float64{}}
	return t, nil
}

// Config returns the run's configuration with defaults applied.
func (t *Trainer) Config() Config { return t.cfg }

// Estimate returns the memory estimate computed by New.
func (t *Trainer) Estimate() Estimate { return t.est }

// TrainableParams counts the trainable weights.
func (t *Trainer) TrainableParams() int {
	n := 0
	for _, p := range t.params {
		n += len(p.Data)
	}
	return n
}

// plan is the sequence of micro-batches of one epoch.
func (t *Trainer) epochBatches(epoch int) [][]seq {
	if t.cfg.IsDPO() {
		// One "seq" per pair index; stepGrads maps them back to pairs.
		order := epochOrder(len(t.trainPairs), t.cfg.Seed, epoch)
		var out [][]seq
		for i := 0; i < len(order); i += t.cfg.BatchSize {
			var b []seq
			for _, k := range order[i:min(i+t.cfg.BatchSize, len(order))] {
				b = append(b, seq{pos: []int32{int32(k)}})
			}
			out = append(out, b)
		}
		return out
	}
	seqs := buildSeqs(t.train, epochOrder(len(t.train), t.cfg.Seed, epoch), t.cfg.MaxSeqLen, t.cfg.Packing)
	var out [][]seq
	for i := 0; i < len(seqs); i += t.cfg.BatchSize {
		out = append(out, seqs[i:min(i+t.cfg.BatchSize, len(seqs))])
	}
	return out
}

func toBatch(ss []seq) *model.Batch {
	T := 0
	for _, s := range ss {
		T = max(T, len(s.ids))
	}
	b := &model.Batch{B: len(ss), T: T}
	N := b.B * T
	b.IDs, b.Labels, b.Pos, b.SegStart = make([]int32, N), make([]int32, N), make([]int32, N), make([]int32, N)
	for i, s := range ss {
		o := i * T
		copy(b.IDs[o:], s.ids)
		copy(b.Labels[o:], s.labels)
		copy(b.Pos[o:], s.pos)
		copy(b.SegStart[o:], s.seg)
		for k := len(s.ids); k < T; k++ { // padding: its own segment, no loss
			b.Labels[o+k] = nn.IgnoreIndex
			b.SegStart[o+k] = int32(len(s.ids))
			b.Pos[o+k] = int32(k - len(s.ids))
		}
	}
	return b
}

func countLabels(b *model.Batch) int {
	n := 0
	for _, l := range b.Labels {
		if l != nn.IgnoreIndex {
			n++
		}
	}
	return n
}

// TotalSteps is the number of optimiser steps the run will take.
func (t *Trainer) TotalSteps() int {
	micro := len(t.epochBatches(0)) * t.cfg.Epochs
	steps := (micro + t.cfg.GradAccum - 1) / t.cfg.GradAccum
	if t.cfg.MaxSteps > 0 {
		steps = min(steps, t.cfg.MaxSteps)
	}
	return steps
}

// Run trains until the planned number of steps, ctx is done or the loss
// becomes non-finite. On cancellation it writes a checkpoint (when
// CheckpointDir is set) and returns ctx.Err().
func (t *Trainer) Run(ctx context.Context) (*Result, error) {
	total := t.TotalSteps()
	perEpoch := len(t.epochBatches(0))
	// Flatten the micro-batch plan lazily by epoch.
	var cur [][]seq
	curEpoch := -1
	microAt := func(k int) []seq {
		e := k / perEpoch
		if e != curEpoch {
			cur, curEpoch = t.epochBatches(e), e
		}
		return cur[k%perEpoch]
	}
	if t.cfg.IsDPO() && t.initialDPO == nil && len(t.valPairs) > 0 && t.step == 0 {
		st, err := t.ValidateDPO()
		if err != nil {
			return nil, err
		}
		t.initialDPO = &st
		t.initialVal = &st.Loss
		t.log.InfoContext(ctx, "initial validation", slog.Float64("val_loss", st.Loss), slog.Float64("val_reward_accuracy", st.Accuracy))
	}
	if t.initialVal == nil && len(t.val) > 0 && t.step == 0 {
		v, err := t.Validate()
		if err != nil {
			return nil, err
		}
		t.initialVal = &v
		t.log.InfoContext(ctx, "initial validation", slog.Float64("val_loss", v))
	}
	start := time.Now()
	startStep := t.step
	for t.step < total {
		if err := ctx.Err(); err != nil {
			if t.cfg.CheckpointDir != "" {
				if _, cerr := t.SaveCheckpoint(t.cfg.CheckpointDir); cerr != nil {
					return nil, errors.Join(err, cerr)
				}
			}
			return nil, err
		}
		stepStart := time.Now()
		// Micro-batches of this step.
		var bs []*model.Batch
		for k := t.step * t.cfg.GradAccum; !t.cfg.IsDPO() && k < (t.step+1)*t.cfg.GradAccum && k < perEpoch*t.cfg.Epochs; k++ {
			b := toBatch(microAt(k))
			b.Train = true
			b.DropoutSeed = t.cfg.Seed*0x9e3779b97f4a7c15 + uint64(k) + 1
			bs = append(bs, b)
		}
		var (
			loss, norm, lr float64
			tokens         int
			dpo            *DPOStats
		)
		if t.cfg.IsDPO() {
			t.m.ZeroGrad()
			var pairs []Pair
			for k := t.step * t.cfg.GradAccum; k < (t.step+1)*t.cfg.GradAccum && k < perEpoch*t.cfg.Epochs; k++ {
				for _, s := range microAt(k) {
					pairs = append(pairs, t.trainPairs[s.pos[0]])
				}
			}
			st, err := DPOGrad(t.m, t.ref, pairs, t.cfg.Beta, t.cfg.MaxSeqLen, true, true, t.cfg.Seed+uint64(t.step), 1)
			if err != nil {
				return nil, fmt.Errorf("step %d: %w", t.step+1, err)
			}
			loss, tokens, dpo = st.Loss, st.Tokens, &st
			norm, lr = t.cpuUpdate(loss, total)
		} else {
			labelled := 0
			for _, b := range bs {
				labelled += countLabels(b)
				tokens += b.B * b.T
			}
			var sum float64
			var err error
			if t.g != nil {
				sum, norm, lr, err = t.deviceStep(bs, labelled, total)
			} else {
				sum, norm, lr, err = t.cpuStep(bs, labelled, total)
			}
			if err != nil {
				return nil, err
			}
			loss = sum / float64(max(1, labelled))
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) || math.IsNaN(norm) || math.IsInf(norm, 0) {
			return nil, fmt.Errorf("training stopped at step %d: loss %g, grad norm %g: %w", t.step+1, loss, norm, ErrNonFinite)
		}
		t.step++
		dt := time.Since(stepStart)
		rec := Record{Step: t.step, Epoch: float64(t.step*t.cfg.GradAccum) / float64(perEpoch), Loss: loss, LearningRate: lr,
			GradNorm: norm, Tokens: tokens, TokensPerS: float64(tokens) / dt.Seconds()}
		if dpo != nil {
			rec.RewardAccuracy, rec.RewardMargin = &dpo.Accuracy, &dpo.Margin
		}
		if len(t.val)+len(t.valPairs) > 0 && ((t.cfg.EvalEvery > 0 && t.step%t.cfg.EvalEvery == 0) || t.step == total) {
			if t.cfg.IsDPO() {
				st, err := t.ValidateDPO()
				if err != nil {
					return nil, err
				}
				rec.ValLoss, rec.ValRewardAccuracy = &st.Loss, &st.Accuracy
				t.finalDPO = &st
			} else {
				v, err := t.Validate()
				if err != nil {
					return nil, err
				}
				rec.ValLoss = &v
			}
		}
		t.history = append(t.history, rec)
		if t.OnStep != nil {
			el := time.Since(start)
			eta := time.Duration(float64(el) / float64(t.step-startStep) * float64(total-t.step))
			t.OnStep(Progress{Record: rec, TotalSteps: total, ETA: eta})
		}
		if t.cfg.CheckpointDir != "" && t.cfg.CheckpointEvery > 0 && t.step%t.cfg.CheckpointEvery == 0 && t.step < total {
			if _, err := t.SaveCheckpoint(t.cfg.CheckpointDir); err != nil {
				return nil, err
			}
		}
	}
	if t.g != nil {
		if err := t.g.SyncToHost(); err != nil {
			return nil, err
		}
	}
	res := &Result{Steps: t.step, TotalSteps: total, History: t.history, InitialValLoss: t.initialVal,
		TrainableParams: t.TrainableParams(), Estimate: t.est, InitialValDPO: t.initialDPO, FinalValDPO: t.finalDPO}
	if n := len(t.history); n > 0 {
		res.FinalLoss = t.history[n-1].Loss
		res.FinalValLoss = t.history[n-1].ValLoss
	}
	return res, nil
}

// Validate returns the mean next-token loss over the validation set (no
// dropout, no gradients).
func (t *Trainer) Validate() (float64, error) {
	if t.g != nil {
		return meanLoss(t.g, t.val, t.cfg.BatchSize, t.cfg.MaxSeqLen)
	}
	return MeanLoss(t.m, t.val, t.cfg.BatchSize, t.cfg.MaxSeqLen)
}

// ValidateDPO returns the DPO statistics of the held-out pairs (no
// dropout, no gradients).
func (t *Trainer) ValidateDPO() (DPOStats, error) {
	return DPOGrad(t.m, t.ref, t.valPairs, t.cfg.Beta, t.cfg.MaxSeqLen, false, false, 0, 0)
}

// MeanLoss is the mean next-token loss of m over exs, truncated to maxLen.
func MeanLoss(m *model.Model, exs []Example, batch, maxLen int) (float64, error) {
	return meanLoss(m, exs, batch, maxLen)
}

type forwarder interface {
	ForwardBackward(b *model.Batch, gradScale float32, backward bool) (float64, int, error)
}

func meanLoss(m forwarder, exs []Example, batch, maxLen int) (float64, error) {
	order := make([]int, len(exs))
	for i := range order {
		order[i] = i
	}
	seqs := buildSeqs(exs, order, maxLen, false)
	var sum float64
	var n int
	for i := 0; i < len(seqs); i += batch {
		s, c, err := m.ForwardBackward(toBatch(seqs[i:min(i+batch, len(seqs))]), 0, false)
		if err != nil {
			return 0, err
		}
		sum += s
		n += c
	}
	if n == 0 {
		return 0, ErrNoData
	}
	return sum / float64(n), nil
}

// cpuStep runs one optimiser step's micro-batches, clipping and AdamW on the
// CPU. It returns the summed loss, the gradient norm and the learning rate.
func (t *Trainer) cpuStep(bs []*model.Batch, labelled, total int) (sum, norm, lr float64, err error) {
	t.m.ZeroGrad()
	if labelled > 0 {
		for _, b := range bs {
			s, _, err := t.m.ForwardBackward(b, 1/float32(labelled), true)
			if err != nil {
				return 0, 0, 0, fmt.Errorf("step %d: %w", t.step+1, err)
			}
			sum += s
		}
	}
	norm, lr = t.cpuUpdate(sum, total)
	return sum, norm, lr, nil
}

// cpuUpdate computes the global gradient norm and, when it and the loss
// are finite, clips and applies AdamW. It returns the norm and the
// learning rate.
func (t *Trainer) cpuUpdate(loss float64, total int) (norm, lr float64) {
	var sq float64
	for _, p := range t.params {
		sq += nn.SumSquares(p.Grad)
	}
	norm = math.Sqrt(sq)
	if math.IsNaN(norm) || math.IsInf(norm, 0) || math.IsNaN(loss) || math.IsInf(loss, 0) {
		return norm, 0
	}
	if t.cfg.MaxGradNorm > 0 && norm > t.cfg.MaxGradNorm {
		c := float32(t.cfg.MaxGradNorm / (norm + 1e-6))
		for _, p := range t.params {
			nn.Scale(p.Grad, c)
		}
	}
	lr, _ = LR(t.cfg.Schedule, t.cfg.LearningRate, t.step, t.cfg.WarmupSteps, total)
	for i, p := range t.params {
		t.opt.Step(p.Data, p.Grad, t.mom[i], t.vel[i], t.step+1, lr)
	}
	return norm, lr
}

// deviceStep is cpuStep on the GPU: gradients, the global norm, the clip
// factor and AdamW stay on the device; the per-row losses and the norm are
// read back.
func (t *Trainer) deviceStep(bs []*model.Batch, labelled, total int) (sum, norm, lr float64, err error) {
	g := t.g
	if err := g.ZeroGrad(); err != nil {
		return 0, 0, 0, err
	}
	if labelled > 0 {
		for _, b := range bs {
			s, _, err := g.ForwardBackward(b, 1/float32(labelled), true)
			if err != nil {
				return 0, 0, 0, fmt.Errorf("step %d: %w", t.step+1, err)
			}
			sum += s
		}
	}
	if norm, err = g.ClipGradNorm(t.cfg.MaxGradNorm); err != nil {
		return 0, 0, 0, err
	}
	if math.IsNaN(norm) || math.IsInf(norm, 0) || math.IsNaN(sum) || math.IsInf(sum, 0) {
		return sum, norm, 0, nil
	}
	lr, _ = LR(t.cfg.Schedule, t.cfg.LearningRate, t.step, t.cfg.WarmupSteps, total)
	return sum, norm, lr, g.Step(t.opt, t.step+1, lr)
}

// Device describes where the run trains: "cpu" or the GPU.
func (t *Trainer) Device() string {
	if t.dev == nil {
		return "cpu"
	}
	return t.dev.String()
}

// Close frees the run's GPU memory (the host model keeps the trained
// weights). A no-op on the CPU.
func (t *Trainer) Close() {
	if t.g != nil {
		t.g.Close()
		t.g = nil
	}
}
