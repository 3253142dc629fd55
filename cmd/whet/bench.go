package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/whetstone/whetstone/internal/engine/blas"
	"github.com/whetstone/whetstone/internal/engine/device"
	"github.com/whetstone/whetstone/internal/engine/model"
	trainer "github.com/whetstone/whetstone/internal/engine/train"
)

func init() {
	register(&command{name: "bench", summary: "benchmarks: `bench train` (training tokens/s), `bench data` (data agents MB/s and RSS)", run: runBench})
}

func runBench(ctx context.Context, args []string, io stdio) error {
	if len(args) > 0 && args[0] == "data" {
		return runBenchData(ctx, args[1:], io)
	}
	if len(args) == 0 || args[0] != "train" {
		return fmt.Errorf("%w: usage: whet bench train --model DIR --method lora|full --seq N --batch N --steps N, or whet bench data [--size 200MB]", errUsage)
	}
	fs := flag.NewFlagSet("bench train", flag.ContinueOnError)
	fs.SetOutput(io.err)
	dir := fs.String("model", "", "model folder")
	var c trainer.BenchConfig
	fs.StringVar(&c.Method, "method", "lora", "lora, qlora (4-bit NF4 base) or full")
	fs.IntVar(&c.Seq, "seq", 256, "sequence length")
	fs.IntVar(&c.Batch, "batch", 4, "sequences per step")
	fs.IntVar(&c.Steps, "steps", 5, "steps (the first is an untimed warm-up)")
	fs.IntVar(&c.LoRA.Rank, "rank", 8, "LoRA rank")
	fs.Float64Var(&c.LoRA.Alpha, "alpha", 16, "LoRA alpha")
	targets := fs.String("targets", "all-linear", "LoRA targets")
	fs.Float64Var(&c.LR, "lr", 1e-4, "learning rate")
	fs.BoolVar(&c.DoubleQuant, "double-quant", false, "qlora: also quantize the NF4 absmax scales to 8 bits")
	fs.BoolVar(&c.BF16, "bf16", false, "bfloat16 products with the frozen base weights (oneDNN)")
	peak := fs.Bool("peak", true, "also measure the machine's matmul peak (f32 on the CPU, bf16 on a GPU)")
	devName := fs.String("device", "auto", "auto, cpu, cuda or cuda:N")
	fs.BoolVar(&c.Checkpointing, "gradient-checkpointing", false, "recompute activations in the backward pass (GPU)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	c.LoRA.Targets = strings.Split(*targets, ",")
	dev, err := device.Select(*devName, slog.New(slog.NewTextHandler(io.err, nil)))
	if err != nil {
		return err
	}
	c.Device = dev
	load := model.Load
	if c.Method == "qlora" {
		load = func(dir string) (*model.Model, error) { return model.LoadNF4(dir, c.DoubleQuant) }
	}
	m, err := load(*dir)
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
	if dev != nil {
		fmt.Fprintf(io.out, "RESULT device=cuda:%d s_per_step=%.4f loss_first=%.6f loss_last=%.6f matmul_tflops=%.1f gpu_peak_alloc_mib=%.0f gpu_used_mib=%.0f gpu_estimate_mib=%.0f peak_rss_mib=%.0f\n",
			dev.Info.Index, r.SecPerStep, r.LossFirst, r.LossLast, r.MatmulGFLOPs/1e3, float64(r.GPUPeakAlloc)/(1<<20), float64(r.GPUUsed)/(1<<20),
			float64(r.GPUEstimate)/(1<<20), float64(r.PeakRSS)/(1<<20))
		if *peak {
			p, err := dev.MeasureMatmul(8192, 20, true)
			if err != nil {
				return err
			}
			fmt.Fprintf(io.out, "bf16_matmul_peak_tflops=%.1f share_of_peak=%.3f (cuBLASLt 8192³, median of 20)\n", p, r.MatmulGFLOPs/1e3/p)
		}
		fmt.Fprintf(io.out, "tokens_per_s=%.2f\n", r.TokensPerS)
		return nil
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
