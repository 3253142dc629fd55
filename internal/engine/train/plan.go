package train

import (
	"context"
	"fmt"
	"time"

	"github.com/whetstone/whetstone/internal/engine/gpu"
	"github.com/whetstone/whetstone/internal/engine/model"
)

// Plan is what a run will need, measured before it starts (a dry run).
type Plan struct {
	// Device is where the run trains: "cpu" or the GPU (cuda:N).
	Device string `json:"device"`
	// MemoryBytes is the run's predicted peak: process memory growth on the
	// CPU (EstimateMemory), device memory on a GPU (gpu.EstimateMemory).
	MemoryBytes int64 `json:"memory_bytes"`
	// Tokens are the tokens fed to the model over the run's optimiser
	// steps (padding included: the sum of the steps' Record.Tokens).
	Tokens int64 `json:"tokens"`
	// Steps is TotalSteps.
	Steps int `json:"steps"`
	// Seconds is the predicted time of Run: the warm-up's measured seconds
	// per FLOP times the FLOPs of every step and validation pass.
	Seconds float64 `json:"seconds"`
	// AvailableBytes is the memory the run may use where it trains
	// (Config.MemoryLimit or MemAvailable; the GPU's free memory), 0 when
	// unknown.
	AvailableBytes int64 `json:"available_bytes,omitempty"`
	// CPUSeconds is Seconds in process CPU time (all threads): on a shared
	// machine it depends less on the other processes' load.
	CPUSeconds float64 `json:"cpu_seconds"`
	// WarmupSteps were run to measure (the first is not timed) and
	// SecondsPerStep is their mean.
	WarmupSteps    int     `json:"warmup_steps"`
	SecondsPerStep float64 `json:"seconds_per_step"`
}

// stepFLOPs returns the matmul FLOPs of every optimiser step of the run
// (the micro-batches of each step, as Run forms them) and the tokens fed.
func (t *Trainer) stepFLOPs() ([]float64, int64) {
	total := t.TotalSteps()
	perEpoch := len(t.epochBatches(0))
	out := make([]float64, total)
	var tokens int64
	full := t.cfg.Method == "full"
	var cur [][]seq
	curEpoch := -1
	for s := range total {
		for k := s * t.cfg.GradAccum; k < (s+1)*t.cfg.GradAccum && k < perEpoch*t.cfg.Epochs; k++ {
			if e := k / perEpoch; e != curEpoch {
				cur, curEpoch = t.epochBatches(e), e
			}
			ss := cur[k%perEpoch]
			T := 0
			for _, q := range ss {
				T = max(T, len(q.ids))
			}
			if t.cfg.IsDPO() {
				// A pair is four forwards (policy and reference, chosen and
				// rejected) and two backwards; count it as two sequences.
				T = t.cfg.MaxSeqLen
				out[s] += 2 * MatmulFLOPs(t.m, len(ss), T, full)
				tokens += int64(2 * len(ss) * T)
				continue
			}
			out[s] += MatmulFLOPs(t.m, len(ss), T, full)
			tokens += int64(len(ss) * T)
		}
	}
	return out, tokens
}

// valFLOPs is the forward FLOPs of a validation pass over val (as
// meanLoss batches it).
func valFLOPs(m *model.Model, val []Example, batch, maxLen int) float64 {
	if len(val) == 0 {
		return 0
	}
	order := make([]int, len(val))
	for i := range order {
		order[i] = i
	}
	seqs := buildSeqs(val, order, maxLen, false)
	var f float64
	for i := 0; i < len(seqs); i += batch {
		ss := seqs[i:min(i+batch, len(seqs))]
		T := 0
		for _, q := range ss {
			T = max(T, len(q.ids))
		}
		// Forward only: a third of a LoRA step's products (see MatmulFLOPs).
		f += MatmulFLOPs(m, len(ss), T, false) / 3
	}
	return f
}

// Plan measures the run before it starts: it runs warm optimiser steps
// (at least 2; the first, which allocates, is not timed) on the run's own
// first micro-batches and extrapolates their seconds per FLOP to every step
// and validation pass. It trains the model: plan on a trainer made for
// planning, and train with a fresh one.
func (t *Trainer) Plan(ctx context.Context, warm int) (Plan, error) {
	p := Plan{Device: t.Device(), MemoryBytes: t.est.Total, Steps: t.TotalSteps(), AvailableBytes: t.cfg.MemoryLimit}
	if p.AvailableBytes == 0 {
		p.AvailableBytes = availableMemory()
	}
	if t.g != nil {
		p.MemoryBytes = t.gest.Total
		if free, _, err := t.dev.MemInfo(); err == nil {
			p.AvailableBytes = free + t.gest.Total // what the run holds now was free before it
		}
	}
	flops, tokens := t.stepFLOPs()
	p.Tokens = tokens
	warm = min(max(warm, 2), p.Steps)
	if warm < 2 {
		return p, nil // a one-step run: nothing to extrapolate from
	}
	saved := t.cfg
	val, valPairs, onStep, onCk := t.val, t.valPairs, t.OnStep, t.OnCheckpoint
	// Time from the end of the first step to the end of the last.
	var wall0 time.Time
	var cpu0, cpu1 time.Duration
	var wall time.Duration
	t.cfg.MaxSteps, t.cfg.CheckpointDir = warm, ""
	t.val, t.valPairs, t.OnCheckpoint = nil, nil, nil
	t.OnStep = func(pr Progress) {
		switch pr.Step {
		case 1:
			wall0, cpu0 = time.Now(), cpuTime()
		case warm:
			wall, cpu1 = time.Since(wall0), cpuTime()
		}
	}
	_, err := t.Run(ctx)
	t.cfg, t.val, t.valPairs, t.OnStep, t.OnCheckpoint = saved, val, valPairs, onStep, onCk
	if err != nil {
		return p, fmt.Errorf("warm-up: %w", err)
	}
	var fl float64
	for _, f := range flops[1:warm] {
		fl += f
	}
	p.WarmupSteps = warm
	p.SecondsPerStep = wall.Seconds() / float64(warm-1)
	perFLOP, cpuPerFLOP := wall.Seconds()/fl, (cpu1-cpu0).Seconds()/fl
	// Validation runs the forward pass only, whose speed differs: time one
	// batch of it.
	valPerFLOP, valCPUPerFLOP := perFLOP, cpuPerFLOP
	if len(t.val) > 0 {
		vb := t.val[:min(t.cfg.BatchSize, len(t.val))]
		w0, c0 := time.Now(), cpuTime()
		var err error
		if t.g != nil {
			_, err = meanLoss(t.g, vb, t.cfg.BatchSize, t.cfg.MaxSeqLen)
		} else {
			_, err = meanLoss(t.m, vb, t.cfg.BatchSize, t.cfg.MaxSeqLen)
		}
		if vf := valFLOPs(t.m, vb, t.cfg.BatchSize, t.cfg.MaxSeqLen); err == nil && vf > 0 {
			valPerFLOP, valCPUPerFLOP = time.Since(w0).Seconds()/vf, (cpuTime()-c0).Seconds()/vf
		}
	}
	var all float64
	for _, f := range flops {
		all += f
	}
	p.Seconds, p.CPUSeconds = all*perFLOP, all*cpuPerFLOP
	// Validation: once before training and at every eval_every and the end.
	if vf := valFLOPs(t.m, t.val, t.cfg.BatchSize, t.cfg.MaxSeqLen); vf > 0 {
		n := 2
		if t.cfg.EvalEvery > 0 {
			n = 1 + p.Steps/t.cfg.EvalEvery
			if p.Steps%t.cfg.EvalEvery != 0 {
				n++
			}
		}
		p.Seconds += float64(n) * vf * valPerFLOP
		p.CPUSeconds += float64(n) * vf * valCPUPerFLOP
	}
	return p, nil
}

// GPUEstimate returns the device memory estimate of a run on a GPU (zero
// on the CPU).
func (t *Trainer) GPUEstimate() gpu.Estimate { return t.gest }
