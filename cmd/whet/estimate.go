package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/whetstone/whetstone/internal/engine/cuda"
	"github.com/whetstone/whetstone/internal/engine/gpu"
	"github.com/whetstone/whetstone/internal/engine/model"
	trainer "github.com/whetstone/whetstone/internal/engine/train"
)

func init() {
	register(&command{name: "estimate", summary: "predicts a training run's GPU (or CPU) memory from the model's config.json alone, no weights", run: runEstimate})
}

// estimateReport is `whet estimate --json`.
type estimateReport struct {
	Model                 string   `json:"model"` // the config.json read
	Device                string   `json:"device"`
	Method                string   `json:"method"`
	Rank                  int      `json:"rank,omitempty"`
	Targets               []string `json:"targets,omitempty"`
	Dropout               float64  `json:"dropout,omitempty"`
	DoubleQuant           bool     `json:"double_quant,omitempty"`
	BF16                  bool     `json:"bf16"`
	GradientCheckpointing bool     `json:"gradient_checkpointing"`
	Batch                 int      `json:"batch"`
	Seq                   int      `json:"seq"`
	Params                int64    `json:"params"`
	TrainableParams       int64    `json:"trainable_params"`
	// GPU is package gpu's estimate (--device cuda), CPU package train's
	// (--device cpu); the other is absent.
	GPU *gpu.Estimate     `json:"gpu,omitempty"`
	CPU *trainer.Estimate `json:"cpu,omitempty"`
	// Note says what the estimate leaves out or warns about.
	Note string `json:"note,omitempty"`
}

func runEstimate(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("estimate", flag.ContinueOnError)
	fs.SetOutput(io.err)
	path := fs.String("model", "", "model folder or its config.json (only config.json is read)")
	method := fs.String("method", "lora", "lora, qlora (4-bit NF4 base) or full")
	seq := fs.Int("seq", 512, "tokens per sequence (max_seq_len)")
	batch := fs.Int("batch", 4, "sequences per step (batch_size)")
	rank := fs.Int("rank", 8, "LoRA rank")
	targets := fs.String("targets", "all-linear", "LoRA targets: all-linear or some of q,k,v,o,gate,up,down")
	dropout := fs.Float64("dropout", 0, "LoRA dropout (a non-zero dropout keeps each adapter's input mask)")
	dq := fs.Bool("double-quant", false, "qlora: 8-bit absmax scales")
	bf16 := fs.Bool("bf16", false, "bfloat16 products with the frozen base weights")
	ckpt := fs.Bool("gradient-checkpointing", false, "recompute activations in the backward pass (cuda)")
	devName := fs.String("device", "cuda", "cuda (device memory) or cpu (this machine's process memory)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: usage: whet estimate --model DIR|config.json [--method lora|qlora|full] [--seq N] [--batch N] [--rank R] [--bf16] [--gradient-checkpointing] [--device cuda|cpu] [--json]", errUsage)
	}
	if *seq <= 0 || *batch <= 0 {
		return fmt.Errorf("%w: --seq and --batch must be positive, got %d and %d", errUsage, *seq, *batch)
	}
	// The train agent's limits (batch_size, lora.rank: 1..4096).
	if *batch > 4096 || *rank < 1 || *rank > 4096 {
		return fmt.Errorf("%w: --batch must be at most 4096 and --rank between 1 and 4096 (the train agent's limits), got %d and %d", errUsage, *batch, *rank)
	}
	if *devName != "cuda" && *devName != "cpu" {
		return fmt.Errorf("%w: --device %q: want cuda or cpu", errUsage, *devName)
	}
	if *devName == "cpu" && *ckpt {
		return fmt.Errorf("%w: --gradient-checkpointing applies to --device cuda only (the CPU engine keeps every layer's activations)", errUsage)
	}
	file := *path
	if st, err := os.Stat(file); err == nil && st.IsDir() {
		file = filepath.Join(file, "config.json")
	}
	cfg, err := model.ReadConfigFile(file)
	if err != nil {
		return err
	}
	if *seq > cfg.MaxPositionEmbeddings {
		return fmt.Errorf("%w: --seq %d exceeds max_position_embeddings %d of %s", errUsage, *seq, cfg.MaxPositionEmbeddings, file)
	}
	l := model.LoRAConfig{Rank: *rank, Dropout: *dropout, Targets: strings.Split(*targets, ",")}
	s, err := model.NewShape(*cfg, *method, l, *dq)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	r := estimateReport{Model: file, Device: *devName, Method: *method, DoubleQuant: s.DoubleQuant, BF16: *bf16,
		GradientCheckpointing: *ckpt, Batch: *batch, Seq: *seq, Params: s.NumParams(), TrainableParams: s.TrainableParams()}
	if s.LoRA.Rank > 0 {
		r.Rank, r.Targets, r.Dropout = s.LoRA.Rank, s.LoRA.Targets, *dropout
	}
	if *devName == "cuda" {
		e := gpu.EstimateShape(s, *batch, *seq, gpu.Options{BF16: *bf16, Checkpointing: *ckpt})
		r.GPU = &e
		if !cuda.SupportsHeadDim(cfg.HeadDim) {
			r.Note = fmt.Sprintf("head dim %d is not supported by the GPU attention kernels (have %v): this model trains on the CPU only", cfg.HeadDim, cuda.AttnHeadDims)
		}
	} else {
		e, err := trainer.EstimateShape(s, trainer.Config{Method: *method, LoRA: l, DoubleQuant: *dq, BF16: *bf16, BatchSize: *batch, MaxSeqLen: *seq})
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		r.CPU = &e
	}
	if *asJSON {
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return writeEstimate(io, r)
}

func writeEstimate(io stdio, r estimateReport) error {
	run := r.Method
	if r.Rank > 0 {
		run += fmt.Sprintf(" r%d (%s)", r.Rank, strings.Join(r.Targets, ","))
		if r.Dropout > 0 {
			run += fmt.Sprintf(" dropout %g", r.Dropout)
		}
	}
	if r.DoubleQuant {
		run += ", double quant"
	}
	if r.BF16 {
		run += ", bf16"
	}
	if r.GradientCheckpointing {
		run += ", gradient checkpointing"
	}
	fmt.Fprintf(io.out, "%s: %s, batch %d × seq %d on %s\n", r.Model, run, r.Batch, r.Seq, r.Device)
	fmt.Fprintf(io.out, "parameters %d, trainable %d\n\n", r.Params, r.TrainableParams)
	fmt.Fprintf(io.out, "%-20s %9s %15s\n", "", "GiB", "bytes")
	row := func(name string, b int64) { fmt.Fprintf(io.out, "%-20s %9.2f %15d\n", name, float64(b)/(1<<30), b) }
	if e := r.GPU; e != nil {
		row("weights", e.Weights)
		row("trainable state", e.Trainable)
		row("activations", e.Activations)
		row("scratch", e.Scratch)
		row("runtime", e.Runtime)
		row("total", e.Total)
	}
	if e := r.CPU; e != nil {
		row("weights", e.Weights)
		row("gradients+optimizer", e.Optimizer)
		row("activations", e.Activations)
		row("scratch", e.Scratch)
		row("gc headroom", e.GCHeadroom)
		row("native", e.Native)
		row("total", e.Total)
	}
	if r.Note != "" {
		fmt.Fprintf(io.out, "\nnote: %s\n", r.Note)
	}
	fmt.Fprintln(io.out, "\nAn estimate, not a measurement (docs/gpu.md#memory-estimate).")
	return nil
}
