package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	trainagent "github.com/whetstone/whetstone/internal/agents/train"
	"github.com/whetstone/whetstone/internal/engine/model"
	trainer "github.com/whetstone/whetstone/internal/engine/train"
)

func init() {
	register(&command{name: "train", summary: "fine-tune a model (LoRA, QLoRA or full) on a JSONL dataset", run: runTrain})
}

func runTrain(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(io.err)
	dir := fs.String("model", "", "base model folder (Hugging Face layout)")
	data := fs.String("data", "", "JSONL file, or folder with train.jsonl [+ validation.jsonl]; rows: {text, prompt?} or {messages}")
	out := fs.String("out", "", "output folder (adapter or full model, history.json); rerunning resumes from its checkpoints")
	var c trainer.Config
	fs.StringVar(&c.Method, "method", "lora", "lora, qlora (4-bit NF4 base) or full")
	fs.IntVar(&c.LoRA.Rank, "rank", 8, "LoRA rank")
	fs.Float64Var(&c.LoRA.Alpha, "alpha", 16, "LoRA alpha")
	fs.Float64Var(&c.LoRA.Dropout, "dropout", 0, "LoRA dropout")
	targets := fs.String("targets", "all-linear", "LoRA targets: all-linear or a comma-separated subset of q,k,v,o,gate,up,down")
	fs.BoolVar(&c.DoubleQuant, "double-quant", false, "qlora: also quantize the NF4 absmax scales to 8 bits (bitsandbytes double quantization)")
	fs.BoolVar(&c.LoRA.RSLoRA, "rslora", false, "rank-stabilised LoRA scaling alpha/√r")
	fs.IntVar(&c.Epochs, "epochs", 1, "epochs")
	fs.IntVar(&c.MaxSteps, "max-steps", 0, "stop after N optimiser steps (0: all epochs)")
	fs.IntVar(&c.BatchSize, "batch-size", 4, "sequences per micro-batch")
	fs.IntVar(&c.GradAccum, "grad-accum", 1, "micro-batches per optimiser step")
	fs.Float64Var(&c.LearningRate, "lr", 2e-4, "peak learning rate")
	fs.StringVar(&c.Schedule, "schedule", "cosine", "constant, linear or cosine")
	fs.IntVar(&c.WarmupSteps, "warmup-steps", 0, "linear warmup steps")
	fs.Float64Var(&c.WeightDecay, "weight-decay", 0, "AdamW weight decay")
	fs.Float64Var(&c.MaxGradNorm, "max-grad-norm", 1, "gradient clipping norm (≤0: off)")
	fs.IntVar(&c.MaxSeqLen, "max-seq-len", 512, "tokens per sequence")
	fs.BoolVar(&c.Packing, "packing", false, "pack several examples per sequence")
	fs.IntVar(&c.EvalEvery, "eval-every", 0, "validation every N steps (0: at the end)")
	fs.IntVar(&c.CheckpointEvery, "checkpoint-every", 0, "checkpoint every N steps")
	fs.Uint64Var(&c.Seed, "seed", 0, "seed")
	fs.BoolVar(&c.BF16, "bf16", false, "bfloat16 products with the frozen base weights")
	fs.StringVar(&c.Device, "device", "auto", "auto (a usable GPU, else the CPU), cpu, cuda or cuda:N")
	fs.BoolVar(&c.GradientCheckpointing, "gradient-checkpointing", false, "recompute activations in the backward pass (GPU)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *data == "" || *out == "" {
		return fmt.Errorf("%w: --model, --data and --out are required", errUsage)
	}
	if c.MaxGradNorm <= 0 {
		c.MaxGradNorm = -1
	}
	if c.IsLoRA() {
		t, err := model.ParseTargets(strings.Split(*targets, ","))
		if err != nil {
			return fmt.Errorf("%w: --targets: %w", errUsage, err)
		}
		c.LoRA.Targets = t
	}
	bar := &progressBar{w: io.err, quiet: *quiet}
	job := trainagent.Job{BaseModel: *dir, Data: *data, OutDir: *out, Config: c,
		Logger: slog.New(deviceLogHandler{slog.NewTextHandler(io.err, nil)}),
		OnStart: func(total int, est trainer.Estimate, trainable int) {
			fmt.Fprintf(io.err, "training %d steps, %d trainable parameters, memory estimate %s\n", total, trainable, est)
		},
		OnStep: bar.update}
	res, err := trainagent.Run(ctx, job)
	bar.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(io.out, "trained %d steps: final loss %.4f", res.Result.Steps, res.Result.FinalLoss)
	if v := res.Result.FinalValLoss; v != nil {
		fmt.Fprintf(io.out, ", validation loss %.4f → %.4f", *res.Result.InitialValLoss, *v)
	}
	fmt.Fprintf(io.out, "\nwrote %s\n", *out)
	return nil
}

// progressBar draws one updating line on a terminal stream.
type progressBar struct {
	w     io.Writer
	quiet bool
	drawn bool
}

func (b *progressBar) update(p trainer.Progress) {
	if b.quiet {
		return
	}
	const width = 30
	f := float64(p.Step) / float64(max(1, p.TotalSteps))
	n := int(f * width)
	bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
	val := ""
	if p.ValLoss != nil {
		val = fmt.Sprintf(" val %.4f", *p.ValLoss)
	}
	fmt.Fprintf(b.w, "\r[%s] %d/%d loss %.4f%s lr %.2e gn %.3f %.0f tok/s ETA %s   ", bar, p.Step, p.TotalSteps, p.Loss, val,
		p.LearningRate, p.GradNorm, p.TokensPerS, p.ETA.Round(time.Second))
	b.drawn = true
}

func (b *progressBar) done() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}

// deviceLogHandler passes warnings and errors, and the Info records that
// say which device runs and why (package device's "device: ..."), so
// --device auto tells where it went without the rest of the Info logs.
type deviceLogHandler struct{ slog.Handler }

func (h deviceLogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo && h.Handler.Enabled(ctx, l)
}

func (h deviceLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn && !strings.HasPrefix(r.Message, "device: ") {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h deviceLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return deviceLogHandler{h.Handler.WithAttrs(as)}
}

func (h deviceLogHandler) WithGroup(name string) slog.Handler {
	return deviceLogHandler{h.Handler.WithGroup(name)}
}
