package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/whetstone/whetstone/internal/engine/blas"
	"github.com/whetstone/whetstone/internal/engine/model"
	trainer "github.com/whetstone/whetstone/internal/engine/train"
)

func init() {
	register(&command{name: "bench", summary: "benchmarks: `bench train` measures training tokens/s", run: runBench})
}

func runBench(ctx context.Context, args []string, io stdio) error {
	if len(args) == 0 || args[0] != "train" {
		return fmt.Errorf("%w: usage: whet bench train --model DIR --method lora|full --seq N --batch N --steps N", errUsage)
	}
	fs := flag.NewFlagSet("bench train", flag.ContinueOnError)
	fs.SetOutput(io.err)
	dir := fs.String("model", "", "model folder")
	var c trainer.BenchConfig
	fs.StringVar(&c.Method, "method", "lora", "lora or full")
	fs.IntVar(&c.Seq, "seq", 256, "sequence length")
	fs.IntVar(&c.Batch, "batch", 4, "sequences per step")
	fs.IntVar(&c.Steps, "steps", 5, "steps (the first is an untimed warm-up)")
	fs.IntVar(&c.LoRA.Rank, "rank", 8, "LoRA rank")
	fs.Float64Var(&c.LoRA.Alpha, "alpha", 16, "LoRA alpha")
	targets := fs.String("targets", "all-linear", "LoRA targets")
	fs.Float64Var(&c.LR, "lr", 1e-4, "learning rate")
	fs.BoolVar(&c.BF16, "bf16", false, "bfloat16 products with the frozen base weights (oneDNN)")
	peak := fs.Bool("peak", true, "also measure the machine's f32 matmul peak")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	c.LoRA.Targets = strings.Split(*targets, ",")
	m, err := model.Load(*dir)
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	r, err := trainer.Bench(ctx, m, c, io.out)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.out, "RESULT s_per_step=%.4f cpu_s_per_step=%.3f loss_first=%.6f loss_last=%.6f matmul_gflops=%.1f peak_rss_mib=%.0f\n",
		r.SecPerStep, r.CPUPerStep, r.LossFirst, r.LossLast, r.MatmulGFLOPs, float64(r.PeakRSS)/(1<<20))
	if *peak {
		p := blas.MeasurePeak(blas.F32, 3*time.Second)
		fmt.Fprintf(io.out, "matmul_peak_gflops=%.1f share_of_peak=%.2f (%s)\n", p, r.MatmulGFLOPs/p, blas.Name())
	}
	fmt.Fprintf(io.out, "tokens_per_s=%.2f\n", r.TokensPerS)
	return nil
}
