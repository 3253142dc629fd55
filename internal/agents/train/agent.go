package train

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/engine/device"
	"github.com/whetstone/whetstone/internal/engine/model"
	trainer "github.com/whetstone/whetstone/internal/engine/train"
	"github.com/whetstone/whetstone/internal/gpus"
)

// Agent fine-tunes a base model on a processed dataset.
type Agent struct{}

var _ agent.Agent = Agent{}

// New returns the train agent.
func New() agent.Agent { return Agent{} }

func intP(name, desc string, def, lo, hi float64) agent.Param {
	return agent.Param{Name: name, Type: agent.Integer, Description: desc, Default: def, Min: agent.F64(lo), Max: agent.F64(hi)}
}

// Spec declares the agent's params (the contract of
// shared/examples/stories-lora.yaml) and ports.
func (Agent) Spec() agent.Spec {
	return agent.Spec{
		Name:        "train",
		Category:    "training",
		Description: "Fine-tune a Llama-family model (LoRA or full) on a processed dataset with Whetstone's Go engine; outputs a PEFT adapter (or a full model) with its loss curve.",
		Params: []agent.Param{
			{Name: "base_model", Type: agent.String, Kind: "model", Description: "Hugging Face model folder (config.json, safetensors, tokenizer). Optional when a model artifact is an input."},
			{Name: "method", Type: agent.String, Default: "lora", Enum: []string{"lora", "qlora", "full", "dpo"}, Description: "lora (frozen float32 base, trained adapters), qlora (the same adapters on a base whose projections are held in 4-bit NF4), full (all weights), dpo (direct preference optimisation on chosen/rejected pairs; see dpo_weights and beta)."},
			{Name: "beta", Type: agent.Number, Default: 0.1, Min: agent.F64(0), Max: agent.F64(100), Description: "dpo only: β of the DPO loss (how far the policy may move from the reference)"},
			{Name: "dpo_weights", Type: agent.String, Default: "lora", Enum: []string{"lora", "full"}, Description: "dpo only: train LoRA adapters (reference = the base with the adapter disabled) or all weights (reference = a frozen copy)"},
			{Name: "double_quant", Type: agent.Boolean, Default: false, Description: "qlora only: also quantize the 4-bit base's absmax scales to 8 bits (bitsandbytes double quantization, 4.127 instead of 4.5 bits per weight)"},
			{Name: "lora", Type: agent.Object, Description: "LoRA adapter settings.", Fields: []agent.Param{
				{Name: "rank", Type: agent.Integer, Default: 8.0, Min: agent.F64(1), Max: agent.F64(4096), Description: "adapter rank r"},
				{Name: "alpha", Type: agent.Number, Default: 16.0, Min: agent.F64(0), Max: agent.F64(1e6), Description: "scaling numerator: scale = alpha/r (alpha/√r with rslora)"},
				{Name: "dropout", Type: agent.Number, Default: 0.0, Min: agent.F64(0), Max: agent.F64(0.99), Description: "dropout on the adapter input"},
				{Name: "targets", Type: agent.String, Default: "all-linear", Description: "all-linear, or a comma-separated subset of q,k,v,o,gate,up,down"},
				{Name: "rslora", Type: agent.Boolean, Default: false, Description: "rank-stabilised scaling alpha/√r"},
			}},
			intP("epochs", "passes over the training set", 1, 1, 10_000),
			intP("batch_size", "sequences per micro-batch", 4, 1, 4096),
			intP("grad_accum", "micro-batches per optimiser step", 1, 1, 4096),
			{Name: "learning_rate", Type: agent.Number, Default: 2e-4, Min: agent.F64(0), Max: agent.F64(10), Description: "peak AdamW learning rate"},
			{Name: "schedule", Type: agent.String, Default: "cosine", Enum: trainer.Schedules, Description: "learning-rate schedule after warmup"},
			intP("warmup_steps", "linear warmup steps", 0, 0, 1e8),
			intP("max_seq_len", "tokens per sequence (longer examples are truncated)", 512, 8, 1<<17),
			intP("max_steps", "stop after this many optimiser steps (0: run all epochs)", 0, 0, 1e8),
			{Name: "weight_decay", Type: agent.Number, Default: 0.0, Min: agent.F64(0), Max: agent.F64(10), Description: "AdamW decoupled weight decay"},
			{Name: "max_grad_norm", Type: agent.Number, Default: 1.0, Min: agent.F64(-1), Max: agent.F64(1e6), Description: "clip the global gradient norm (≤0: no clipping)"},
			intP("eval_every", "validation every N steps (0: at the end only)", 0, 0, 1e8),
			intP("checkpoint_every", "checkpoint every N steps (0: only on cancel); a retried run resumes from the latest", 0, 0, 1e8),
			{Name: "packing", Type: agent.Boolean, Default: false, Description: "pack several examples per sequence (attention never crosses examples)"},
			intP("seed", "seed for data order, adapter init and dropout", 0, 0, 1<<53),
			{Name: "bf16", Type: agent.Boolean, Default: false, Description: "bfloat16 products with the frozen base weights (faster on CPUs with AVX512-BF16; adapters stay float32)"},
			{Name: "device", Type: agent.String, Default: "auto", Check: device.Check, Description: "where to train: auto (a usable GPU, else the CPU), cpu, cuda or cuda:N"},
			{Name: "gradient_checkpointing", Type: agent.Boolean, Default: false, Description: "recompute activations in the backward pass instead of keeping them (GPU: less memory, ~1/3 more compute)"},
		},
		Inputs: []agent.Port{
			{Type: agent.Dataset, Name: "dataset", Required: true, Description: "a folder with train.jsonl (and validation.jsonl), or one JSONL file; rows have text (+ prompt) or messages"},
			{Type: agent.Model, Name: "base", Description: "base model folder (instead of base_model)"},
		},
		Outputs: []agent.Port{{Type: agent.Model, Name: "model", Description: "PEFT LoRA adapter (or full model) with history.json"}},
	}
}

// ConfigFromParams maps the agent's params to a trainer config.
func ConfigFromParams(p agent.Params) (trainer.Config, error) {
	c := trainer.Config{
		Method: p.String("method"), Epochs: p.Int("epochs"), BatchSize: p.Int("batch_size"), GradAccum: p.Int("grad_accum"),
		LearningRate: p.Float("learning_rate"), Schedule: p.String("schedule"), WarmupSteps: p.Int("warmup_steps"),
		MaxSeqLen: p.Int("max_seq_len"), MaxSteps: p.Int("max_steps"), WeightDecay: p.Float("weight_decay"),
		MaxGradNorm: p.Float("max_grad_norm"), EvalEvery: p.Int("eval_every"), CheckpointEvery: p.Int("checkpoint_every"),
		Packing: p.Bool("packing"), Seed: uint64(p.Int("seed")), BF16: p.Bool("bf16"), DoubleQuant: p.Bool("double_quant"),
		Device: p.String("device"), GradientCheckpointing: p.Bool("gradient_checkpointing"),
	}
	if _, err := device.Parse(c.Device); err != nil {
		return c, fmt.Errorf("param device: %w", err)
	}
	if c.Method == "dpo" {
		c.Objective, c.Beta, c.Method = "dpo", p.Float("beta"), p.String("dpo_weights")
		if c.Method == "" {
			c.Method = "lora"
		}
	}
	if p.Has("max_grad_norm") && c.MaxGradNorm <= 0 {
		c.MaxGradNorm = -1
	}
	if l := p.Object("lora"); l != nil {
		c.LoRA = model.LoRAConfig{Rank: l.Int("rank"), Alpha: l.Float("alpha"), Dropout: l.Float("dropout"), RSLoRA: l.Bool("rslora")}
		targets := l.Strings("targets")
		if s := l.String("targets"); s != "" {
			targets = strings.Split(s, ",")
		}
		if len(targets) > 0 {
			t, err := model.ParseTargets(targets)
			if err != nil {
				return c, fmt.Errorf("param lora.targets: %w", err)
			}
			c.LoRA.Targets = t
		}
	}
	return c, nil
}

// Run trains and returns the model artifact.
func (Agent) Run(ctx context.Context, env *agent.Env) ([]agent.Artifact, error) {
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	emit := env.Emit
	if emit == nil {
		emit = agent.Discard
	}
	job, err := jobOf(ctx, env)
	if err != nil {
		return nil, err
	}
	cfg := job.Config
	start := time.Now()
	var leased *gpus.GPU
	job = Job{BaseModel: job.BaseModel, BaseModelName: job.BaseModelName, BaseModelRef: job.BaseModelRef, Data: job.Data, OutDir: job.OutDir, Config: cfg, Logger: log,
		GPUs: gpus.Default, NodeID: env.JobID + "/" + env.NodeID,
		OnGPUWait: func(pos int) {
			msg := fmt.Sprintf("waiting for a GPU: position %d in the queue", pos)
			emit.Progress(0, 0, msg)
			emit.Log(slog.LevelInfo, msg, slog.Int("gpu_queue_position", pos))
		},
		OnGPU: func(g gpus.GPU) {
			leased = &g
			emit.Log(slog.LevelInfo, "gpu assigned", slog.Int("index", g.Index), slog.String("name", g.Name), slog.String("uuid", g.UUID))
		},
		OnStart: func(total int, est trainer.Estimate, trainable int) {
			emit.Log(slog.LevelInfo, "training planned", slog.Int("steps", total), slog.Int("trainable_params", trainable),
				slog.String("memory_estimate", est.String()))
		},
		OnStep: func(p trainer.Progress) {
			emitStep(emit, p, func(v map[string]float64) {
				if leased != nil {
					sampleGPU(v, leased.UUID)
				}
			})
		},
		Checkpoints: env.Checkpoints,
		OnResume: func(step int, history []trainer.Record) {
			emit.Log(slog.LevelInfo, "resumed from checkpoint", slog.Int("checkpoint_step", step), slog.Int("next_step", step+1))
			// The curve up to the checkpoint, for a job that has not shown
			// it (a re-run); steps already shown are dropped by the emitter.
			for _, r := range history {
				emitStep(emit, trainer.Progress{Record: r, TotalSteps: 0}, nil)
			}
		},
	}
	out, err := Run(ctx, job)
	if err != nil {
		if errors.Is(err, ErrBadInput) {
			return nil, agent.Permanent(err)
		}
		return nil, err
	}
	log.InfoContext(ctx, "trained", slog.Int("steps", out.Result.Steps), slog.Float64("final_loss", out.Result.FinalLoss),
		slog.Duration("took", time.Since(start)))
	// The settings it was trained with, for model cards: every param that
	// is not a path or a model.
	hp := map[string]any{}
	method := env.Params.String("method")
	only := map[string]bool{ // params that apply to one method only
		"beta": method == "dpo", "dpo_weights": method == "dpo", "double_quant": method == "qlora",
		"lora": method != "full" && !(method == "dpo" && env.Params.String("dpo_weights") == "full")}
	for _, d := range (Agent{}).Spec().Params {
		if applies, ok := only[d.Name]; ok && !applies {
			continue
		}
		if v, ok := env.Params[d.Name]; ok && d.Kind == "" && d.Name != "device" {
			hp[d.Name] = v
		}
	}
	out.Meta["hyperparameters"] = hp
	return []agent.Artifact{{Type: agent.Model, Name: "model", Path: ".", Meta: out.Meta}}, nil
}

// jobOf builds the node's job from its params and inputs.
func jobOf(ctx context.Context, env *agent.Env) (Job, error) {
	ds, ok := env.Input(agent.Dataset)
	if !ok {
		return Job{}, agent.Permanent(errors.New("train: no dataset input"))
	}
	base := env.Params.String("base_model")
	name := base   // as the pipeline wrote it: the user's own
	var ref string // as successors read it (Job.BaseModelRef)
	if base != "" {
		if agent.IsRef(base) {
			ref = base
		}
		r, err := env.Resolve(ctx, base, "model")
		if err != nil {
			return Job{}, agent.Permanent(fmt.Errorf("param base_model: %w", err))
		}
		base = r
	} else if mi, ok := env.Input(agent.Model); ok {
		base, name = mi.Path, filepath.Base(mi.Path)
		if r := mi.Ref(mi.Path); r != mi.Path {
			ref = r
		}
	} else {
		return Job{}, agent.Permanent(errors.New("train: param base_model is empty and no model input"))
	}
	cfg, err := ConfigFromParams(env.Params)
	if err != nil {
		return Job{}, agent.Permanent(err)
	}
	return Job{BaseModel: base, BaseModelName: name, BaseModelRef: ref, Data: ds.Path, OutDir: env.OutDir, Config: cfg, Logger: env.Logger}, nil
}

// Estimate predicts the node's run without training it (agent.Estimator):
// see Plan.
func (Agent) Estimate(ctx context.Context, env *agent.Env) (*agent.Estimate, error) {
	job, err := jobOf(ctx, env)
	if err != nil {
		return nil, err
	}
	e, err := Plan(ctx, job)
	if err != nil && errors.Is(err, ErrBadInput) {
		return nil, agent.Permanent(err)
	}
	return e, err
}

// emitStep reports one optimiser step as a metric event and progress.
func emitStep(emit agent.Emitter, p trainer.Progress, sample func(map[string]float64)) {
	v := map[string]float64{"loss": p.Loss, "learning_rate": p.LearningRate, "grad_norm": p.GradNorm,
		"tokens_per_s": p.TokensPerS, "epoch": p.Epoch, "eta_s": p.ETA.Seconds(), "tokens": float64(p.Tokens)}
	if p.ValLoss != nil {
		v["val_loss"] = *p.ValLoss
	}
	for k, x := range map[string]*float64{"reward_accuracy": p.RewardAccuracy, "reward_margin": p.RewardMargin, "val_reward_accuracy": p.ValRewardAccuracy} {
		if x != nil {
			v[k] = *x
		}
	}
	if sample != nil {
		sample(v)
	}
	emit.Metrics(p.Step, v)
	if p.TotalSteps > 0 {
		emit.Progress(float64(p.Step)/float64(p.TotalSteps), p.ETA, fmt.Sprintf("step %d/%d loss %.4f", p.Step, p.TotalSteps, p.Loss))
	}
}

// sampleGPU adds the leased GPU's utilisation and memory (NVML) to a
// step's metrics.
func sampleGPU(v map[string]float64, uuid string) {
	gs, err := gpus.Query()
	if err != nil {
		return
	}
	for _, g := range gs {
		if g.UUID == uuid {
			v["gpu_utilization_percent"] = float64(g.UtilizationGPU)
			v["gpu_memory_used_bytes"] = float64(g.MemoryUsed)
			v["gpu_memory_total_bytes"] = float64(g.MemoryTotal)
		}
	}
}
