// Package train is the pipeline agent that fine-tunes a model (LoRA or full)
// on a processed dataset with the Go engine, and the job runner the `whet
// train` command shares with it.
package train

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/engine/cuda"
	"github.com/whetstone/whetstone/internal/engine/device"
	"github.com/whetstone/whetstone/internal/engine/gpu"
	"github.com/whetstone/whetstone/internal/engine/model"
	trainer "github.com/whetstone/whetstone/internal/engine/train"
	"github.com/whetstone/whetstone/internal/gpus"
	"github.com/whetstone/whetstone/internal/safetensors"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

// Job is one fine-tuning run.
type Job struct {
	// BaseModel is a Hugging Face model folder (config.json, safetensors,
	// tokenizer files).
	BaseModel string
	// BaseModelName is how the files written to OutDir (adapter_config.json's
	// base_model_name_or_path, result.json's meta) name the base model: the
	// pipeline's base_model param as written, or the model folder's name, so
	// a model downloaded from a server does not carry the server's folders.
	// Empty: BaseModel.
	BaseModelName string
	// BaseModelRef is how the model artifact's meta base_model names the
	// base model for the nodes after this one when the platform stores it
	// (a produced model's id, a blob reference: agent.IsRef): a reference
	// any worker resolves, not the folder this worker read it from, which
	// may be a scratch copy removed after the node. Empty: BaseModel,
	// absolute (a folder the pipeline named).
	BaseModelRef string
	// Data is a JSONL file, or a folder with train.jsonl and optionally
	// validation.jsonl (the preprocess agent's output).
	Data string
	// OutDir receives the adapter (or full model), history.json and
	// result.json. Checkpoints go to OutDir/checkpoints and a run restarted on
	// the same OutDir resumes from the latest one.
	OutDir string
	Config trainer.Config
	Logger *slog.Logger
	// OnStep, if set, sees every optimiser step.
	OnStep func(trainer.Progress)
	// OnStart, if set, is called once the run is planned.
	OnStart func(total int, est trainer.Estimate, trainable int)
	// Checkpoints, if set, keeps checkpoints away from this machine: each
	// one written is uploaded, and a run with none in OutDir restores the
	// latest first.
	Checkpoints agent.Checkpoints
	// OnResume, if set, is called after resuming from the checkpoint at
	// step, with the history up to it.
	OnResume func(step int, history []trainer.Record)
	// GPUs, when set, leases a GPU for runs that may use one (device auto
	// or cuda): the run waits in its queue while every GPU with enough
	// memory is leased. NodeID names the run there.
	GPUs   *gpus.Manager
	NodeID string
	// OnGPUWait sees the run's queue position while it waits; OnGPU the
	// GPU it got.
	OnGPUWait func(position int)
	OnGPU     func(gpus.GPU)
}

// ErrBadInput marks errors caused by the job's inputs (not worth retrying).
var ErrBadInput = errors.New("bad input")

func bad(err error) error { return fmt.Errorf("%w: %w", ErrBadInput, err) }

// Output describes a finished run.
type Output struct {
	Result *trainer.Result
	// Meta is what the model artifact carries: base_model (BaseModelRef,
	// else absolute), method, losses, steps.
	Meta map[string]any
}

// DataFiles resolves a dataset path to its train and (optional) validation
// JSONL files.
func DataFiles(path string) (trainFile, valFile string, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", "", bad(fmt.Errorf("dataset: %w", err))
	}
	if !st.IsDir() {
		return path, "", nil
	}
	trainFile = filepath.Join(path, "train.jsonl")
	if _, err := os.Stat(trainFile); err != nil {
		return "", "", bad(fmt.Errorf("dataset folder %s has no train.jsonl", path))
	}
	for _, n := range []string{"validation.jsonl", "val.jsonl", "valid.jsonl"} {
		if _, err := os.Stat(filepath.Join(path, n)); err == nil {
			return trainFile, filepath.Join(path, n), nil
		}
	}
	return trainFile, "", nil
}

// loaded is a job's model and data, read and checked.
type loaded struct {
	m                    *model.Model
	base                 string
	trainSet, valSet     []trainer.Example
	trainPairs, valPairs []trainer.Pair
}

// load reads job's model, tokenizer and data as Run trains on them.
func load(job Job) (*loaded, error) {
	cfg := job.Config
	base, err := filepath.Abs(job.BaseModel)
	if err != nil {
		return nil, err
	}
	ld := &loaded{base: base}
	load := model.Load
	if cfg.Method == "qlora" { // the float32 projections never all coexist
		load = func(dir string) (*model.Model, error) { return model.LoadNF4(dir, cfg.DoubleQuant) }
	}
	if ld.m, err = load(base); err != nil {
		return nil, bad(err)
	}
	m := ld.m
	tok, err := tokenizer.Load(base)
	if err != nil {
		return nil, bad(fmt.Errorf("load tokenizer: %w", err))
	}
	trainFile, valFile, err := DataFiles(job.Data)
	if err != nil {
		return nil, err
	}
	ct := chatTokenizer{tok}
	if cfg.IsDPO() {
		if ld.trainPairs, err = trainer.LoadPairsJSONL(trainFile, ct, true); err != nil {
			return nil, bad(err)
		}
		if valFile != "" {
			if ld.valPairs, err = trainer.LoadPairsJSONL(valFile, ct, true); err != nil && !errors.Is(err, trainer.ErrNoData) {
				return nil, bad(err)
			}
		}
	} else {
		if ld.trainSet, err = trainer.LoadJSONL(trainFile, ct, true); err != nil {
			return nil, bad(err)
		}
		if valFile != "" {
			if ld.valSet, err = trainer.LoadJSONL(valFile, ct, true); err != nil && !errors.Is(err, trainer.ErrNoData) {
				return nil, bad(err)
			}
		}
	}
	check := [][]trainer.Example{ld.trainSet, ld.valSet}
	for _, p := range append(ld.trainPairs, ld.valPairs...) {
		check = append(check, []trainer.Example{p.Chosen, p.Rejected})
	}
	for _, set := range check {
		for _, ex := range set {
			for _, id := range ex.IDs {
				if int(id) >= m.Cfg.VocabSize {
					return nil, bad(fmt.Errorf("tokenizer id %d outside the model's vocabulary of %d", id, m.Cfg.VocabSize))
				}
			}
		}
	}
	return ld, nil
}

// newTrainer prepares the run of ld with cfg.
func (ld *loaded) newTrainer(cfg trainer.Config, log *slog.Logger) (*trainer.Trainer, error) {
	if cfg.IsDPO() {
		return trainer.NewDPO(ld.m, cfg, ld.trainPairs, ld.valPairs, log)
	}
	return trainer.New(ld.m, cfg, ld.trainSet, ld.valSet, log)
}

// WarmupSteps is how many optimiser steps Plan runs to time the machine
// (the first is not timed).
const WarmupSteps = 3

// Plan predicts job's run without training it: the memory estimate, steps,
// tokens and the duration extrapolated from WarmupSteps real steps on the
// run's own first batches (the model is loaded for them and thrown away).
// A run that will not fit is no error: the estimate says so.
func Plan(ctx context.Context, job Job) (*agent.Estimate, error) {
	ld, err := load(job)
	if err != nil {
		return nil, err
	}
	tr, err := ld.newTrainer(job.Config, job.Logger)
	var ee *trainer.EstimateError
	var ge *gpu.EstimateError
	switch {
	case errors.As(err, &ee):
		return &agent.Estimate{Device: "cpu", MemoryBytes: ee.Estimate.Total, AvailableBytes: ee.Limit, Warning: ee.Error(),
			Basis: "memory estimate only: the run does not fit, so no warm-up was run"}, nil
	case errors.As(err, &ge):
		return &agent.Estimate{Device: ge.Device, MemoryBytes: ge.Estimate.Total, AvailableBytes: ge.Free, Warning: ge.Error(),
			Basis: "memory estimate only: the run does not fit, so no warm-up was run"}, nil
	case errors.Is(err, cuda.ErrUnavailable) && !job.Config.IsDPO():
		// Planned where no GPU is usable (a CPU-only API server in front
		// of GPU workers, or a dry run on a laptop): the device memory from
		// the model's shapes, as the GPU queue will ask for it; no warm-up,
		// so no steps or time.
		ge, gerr := trainer.EstimateDevice(ld.m, job.Config)
		if gerr != nil {
			return nil, bad(gerr)
		}
		if job.Logger != nil {
			job.Logger.InfoContext(ctx, "plan: no usable GPU here, GPU memory from the model's shapes", slog.Any("error", err))
		}
		return &agent.Estimate{Device: job.Config.Device, MemoryBytes: ge.Total, Fits: true,
			Warning: "no usable GPU on the machine that planned this run (`whet gpus` there lists what it sees): the run needs a worker with one",
			Basis:   "GPU memory estimated from the model's shapes (as `whet estimate`); no warm-up ran, so no steps or time"}, nil
	case err != nil:
		return nil, bad(err)
	}
	defer tr.Close()
	p, err := tr.Plan(ctx, WarmupSteps)
	if err != nil {
		return nil, err
	}
	e := &agent.Estimate{Device: p.Device, MemoryBytes: p.MemoryBytes, Tokens: p.Tokens, Steps: p.Steps, Seconds: p.Seconds, CPUSeconds: p.CPUSeconds,
		AvailableBytes: p.AvailableBytes, Fits: p.AvailableBytes == 0 || p.MemoryBytes <= p.AvailableBytes,
		Basis: fmt.Sprintf("%d warm-up steps of this run's first batches on this machine: %.3f s per step", p.WarmupSteps, p.SecondsPerStep)}
	if !e.Fits {
		e.Warning = fmt.Sprintf("the run needs about %.2f GiB on %s but %.2f GiB is free", float64(p.MemoryBytes)/(1<<30), p.Device, float64(p.AvailableBytes)/(1<<30))
	}
	return e, nil
}

// Run executes job.
func Run(ctx context.Context, job Job) (*Output, error) {
	log := job.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := job.Config
	ld, err := load(job)
	if err != nil {
		return nil, err
	}
	m, base, trainSet, valSet := ld.m, ld.base, ld.trainSet, ld.valSet
	if err := os.MkdirAll(job.OutDir, 0o755); err != nil {
		return nil, err
	}
	if job.GPUs != nil {
		lease, err := leaseGPU(ctx, job, m, &cfg)
		if err != nil {
			return nil, err
		}
		if lease != nil {
			defer lease.Release()
			cfg.Device = lease.Device()
			log.InfoContext(ctx, "gpu leased", slog.String("device", cfg.Device), slog.String("gpu", lease.GPU.Name), slog.String("uuid", lease.GPU.UUID))
			if job.OnGPU != nil {
				job.OnGPU(lease.GPU)
			}
		}
	}
	ckDir := filepath.Join(job.OutDir, "checkpoints")
	cfg.CheckpointDir = ckDir
	tr, err := ld.newTrainer(cfg, log)
	if err != nil {
		var ee *trainer.EstimateError
		if errors.As(err, &ee) {
			return nil, bad(err)
		}
		return nil, bad(err)
	}
	defer tr.Close()
	cfg = tr.Config()
	if job.Checkpoints != nil && trainer.LatestCheckpoint(ckDir) == "" {
		if _, err := job.Checkpoints.Restore(ctx, ckDir); err != nil {
			return nil, fmt.Errorf("restore checkpoint: %w", err)
		}
	}
	if cp := trainer.LatestCheckpoint(ckDir); cp != "" {
		if err := tr.Resume(cp); err != nil {
			return nil, err
		}
		step, _ := strconv.Atoi(strings.TrimPrefix(filepath.Base(cp), "checkpoint-"))
		log.InfoContext(ctx, "resumed", slog.String("checkpoint", cp), slog.Int("step", step))
		if job.OnResume != nil {
			job.OnResume(step, tr.History())
		}
	}
	if job.Checkpoints != nil {
		tr.OnCheckpoint = func(cp string) {
			step, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(cp), "checkpoint-"))
			if err != nil {
				return
			}
			// Also after a cancel: the checkpoint written on the way out
			// is the one a re-run resumes from.
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
			defer cancel()
			if err := job.Checkpoints.Save(uctx, step, cp); err != nil {
				log.WarnContext(ctx, "checkpoint not uploaded; a later attempt resumes from an older one", slog.Int("step", step), slog.Any("error", err))
			}
		}
	}
	tr.OnStep = job.OnStep
	log.InfoContext(ctx, "training", slog.String("method", cfg.Method), slog.String("objective", cfg.Objective), slog.Int("examples", len(trainSet)),
		slog.Int("validation_examples", len(valSet)), slog.Int("steps", tr.TotalSteps()),
		slog.Int("trainable_params", tr.TrainableParams()), slog.String("memory_estimate", tr.Estimate().String()), slog.String("device", tr.Device()))
	if job.OnStart != nil {
		job.OnStart(tr.TotalSteps(), tr.Estimate(), tr.TrainableParams())
	}
	start := time.Now()
	res, err := tr.Run(ctx)
	if err != nil {
		if errors.Is(err, trainer.ErrNonFinite) {
			return nil, bad(err)
		}
		return nil, err
	}
	meta := map[string]any{"base_model": cmp.Or(job.BaseModelRef, base), "method": cfg.Method, "steps": res.Steps, "final_loss": res.FinalLoss,
		"trainable_params": res.TrainableParams, "train_seconds": time.Since(start).Seconds(), "history": "history.json", "device": tr.Device()}
	if res.FinalValLoss != nil {
		meta["final_val_loss"] = *res.FinalValLoss
	}
	if res.InitialValLoss != nil {
		meta["initial_val_loss"] = *res.InitialValLoss
	}
	if cfg.IsDPO() {
		meta["objective"], meta["beta"] = "dpo", cfg.Beta
		if res.InitialValDPO != nil {
			meta["initial_val_reward_accuracy"] = res.InitialValDPO.Accuracy
		}
		if res.FinalValDPO != nil {
			meta["final_val_reward_accuracy"] = res.FinalValDPO.Accuracy
			meta["final_val_reward_margin"] = res.FinalValDPO.Margin
		}
		if res.InitialValDPO != nil && res.FinalValDPO != nil {
			// The compare agent reports these (held-out pairs, before and after).
			meta["val_dpo"] = map[string]any{"beta": cfg.Beta, "initial": res.InitialValDPO, "final": res.FinalValDPO}
		}
	}
	if cfg.IsLoRA() {
		meta["lora"] = map[string]any{"rank": cfg.LoRA.Rank, "alpha": cfg.LoRA.Alpha, "dropout": cfg.LoRA.Dropout, "targets": cfg.LoRA.Targets, "rslora": cfg.LoRA.RSLoRA}
		meta["format"] = "peft-lora"
		if err := m.SaveAdapter(job.OutDir, cfg.LoRA, cmp.Or(job.BaseModelName, base)); err != nil {
			return nil, err
		}
	} else {
		meta["format"] = "hf"
		if err := saveFull(m, base, job.OutDir); err != nil {
			return nil, err
		}
	}
	hist, _ := json.MarshalIndent(res.History, "", " ")
	if err := os.WriteFile(filepath.Join(job.OutDir, "history.json"), hist, 0o644); err != nil {
		return nil, err
	}
	fileMeta := maps.Clone(meta)
	fileMeta["base_model"] = cmp.Or(job.BaseModelName, base)
	rb, _ := json.MarshalIndent(map[string]any{"meta": fileMeta, "result": res}, "", " ")
	if err := os.WriteFile(filepath.Join(job.OutDir, "result.json"), rb, 0o644); err != nil {
		return nil, err
	}
	os.RemoveAll(ckDir)
	return &Output{Result: res, Meta: meta}, nil
}

// saveFull writes a fully fine-tuned model as a Hugging Face folder: the
// base's config and tokenizer files (tokenizer.Files) and an F32
// model.safetensors.
func saveFull(m *model.Model, base, out string) error {
	var ts []safetensors.Tensor
	for _, p := range m.Params() {
		ts = append(ts, safetensors.F32Tensor(p.Name, p.Shape, p.Data))
	}
	f, err := os.Create(filepath.Join(out, "model.safetensors"))
	if err != nil {
		return err
	}
	if err := safetensors.Write(f, ts, map[string]string{"format": "pt"}); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, n := range append([]string{"config.json"}, tokenizer.Files...) {
		if err := copyFile(filepath.Join(base, n), filepath.Join(out, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// chatTokenizer renders chat rows with the model's chat template; only the
// assistant's tokens (through the end-of-turn token) get loss.
type chatTokenizer struct{ *tokenizer.Tokenizer }

func (c chatTokenizer) EncodeChatMask(messages []map[string]any) ([]int, []bool, error) {
	return c.Tokenizer.EncodeChatMask(messages)
}

// leaseGPU takes a GPU from job.GPUs for a run whose device is auto or
// cuda (not cpu, not an explicit cuda:N) when the machine has GPUs; nil
// when the run will not use one. The memory it asks for is the device
// estimate of the model as the run will set it up (trainer.EstimateDevice:
// adapters, or full fine-tuning's gradients and moments, counted).
func leaseGPU(ctx context.Context, job Job, m *model.Model, cfg *trainer.Config) (*gpus.Lease, error) {
	spec, err := device.Parse(cfg.Device)
	if err != nil {
		return nil, bad(err)
	}
	if spec.Kind == "cpu" || (spec.Kind == "cuda" && strings.Contains(cfg.Device, ":")) || cfg.IsDPO() {
		return nil, nil
	}
	if gs, err := job.GPUs.Inventory(); err != nil || len(gs) == 0 {
		return nil, nil // auto falls back to the CPU; cuda fails in trainer.New with the reason
	}
	est, err := trainer.EstimateDevice(m, *cfg)
	if err != nil {
		return nil, bad(err)
	}
	l, err := job.GPUs.Acquire(ctx, job.NodeID, est.Total, job.OnGPUWait)
	if errors.Is(err, gpus.ErrNoGPU) {
		return nil, bad(err)
	}
	return l, err
}
