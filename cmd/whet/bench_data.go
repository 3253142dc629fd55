package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/whetstone/whetstone/internal/agents/ingest"
	"github.com/whetstone/whetstone/internal/data/check"
	"github.com/whetstone/whetstone/internal/data/clean"
	"github.com/whetstone/whetstone/internal/data/dataset"
	"github.com/whetstone/whetstone/internal/data/prep"
	"github.com/whetstone/whetstone/internal/data/record"
	"github.com/whetstone/whetstone/internal/data/synth"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

func init() {
	register(&command{name: "bench-data", summary: "measure dataset, validate and preprocess throughput (MB/s) and peak RSS on a generated JSONL file", run: runBenchData})
}

// benchResult is one phase's measurement.
type benchResult struct {
	Phase      string  `json:"phase"`
	Bytes      int64   `json:"bytes"`
	Rows       int     `json:"rows"`
	Workers    int     `json:"workers"`
	Seconds    float64 `json:"seconds"`
	MBps       float64 `json:"mb_per_s"`
	CPUSeconds float64 `json:"cpu_seconds,omitempty"`
	MBpsCore   float64 `json:"mb_per_cpu_s,omitempty"`
	PeakRSSMB  float64 `json:"peak_rss_mb,omitempty"`
}

func runBenchData(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("bench-data", flag.ContinueOnError)
	fs.SetOutput(io.err)
	size := fs.String("size", "200MB", "size of the generated file (KB, MB, GB)")
	dir := fs.String("dir", "", "folder for the generated file (default: a temporary folder, removed after)")
	file := fs.String("file", "", "use this canonical Alpaca JSONL file instead of generating one")
	tok := fs.String("tokenizer", "", "tokenizer folder for preprocess (default: ../shared/assets/tokenizers/smollm2-135m when present; else 4 bytes per token)")
	workers := fs.Int("workers", 0, "worker goroutines (0: one per CPU)")
	phase := fs.String("phase", "all", "all, generate, ingest, validate or preprocess (the last three run in this process)")
	seed := fs.Uint64("seed", 1, "generator seed")
	cpuProfile := fs.String("cpuprofile", "", "with --phase validate or preprocess: write a CPU profile to this file")
	budget := fs.Int("dedup-budget", 0, "validate and preprocess: MB the duplicate indexes may hold before spilling to temporary files (0: the default, 96)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tok == "" {
		if _, err := os.Stat("../shared/assets/tokenizers/smollm2-135m/tokenizer.json"); err == nil {
			*tok = "../shared/assets/tokenizers/smollm2-135m"
		}
	}
	switch *phase {
	case "ingest", "validate", "preprocess":
		if *file == "" {
			return fmt.Errorf("%w: --phase %s needs --file", errUsage, *phase)
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
		r, err := benchPhase(ctx, *phase, *file, *tok, *workers, *budget<<20)
		if err != nil {
			return err
		}
		return json.NewEncoder(io.out).Encode(r)
	case "all", "generate":
	default:
		return fmt.Errorf("%w: --phase %q", errUsage, *phase)
	}
	n, err := parseSize(*size)
	if err != nil {
		return fmt.Errorf("%w: --size: %v", errUsage, err)
	}
	path := *file
	if path == "" {
		d := *dir
		if d == "" {
			if d, err = os.MkdirTemp("", "whet-bench-data-"); err != nil {
				return err
			}
			defer os.RemoveAll(d)
		}
		path = filepath.Join(d, "bench.jsonl")
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		start := time.Now()
		c, err := synth.Write(f, synth.Options{Bytes: n, Seed: *seed})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(io.err, "generated %s: %.1f MB, %d rows (%d duplicates, %d near duplicates, %d with PII) in %.1fs\n",
			path, float64(c.Bytes)/1e6, c.Rows, c.Duplicates, c.NearDuplicates, c.PII, time.Since(start).Seconds())
	}
	if *phase == "generate" {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Fprintf(io.out, "%-10s %9s %8s %8s %9s %11s %12s\n", "phase", "MB", "rows", "seconds", "MB/s", "MB/CPU-s", "peak RSS MB")
	for _, ph := range []string{"ingest", "validate", "preprocess"} {
		// Each phase runs in a child process so that its peak RSS is its own.
		cmd := exec.CommandContext(ctx, exe, "bench-data", "--phase", ph, "--file", path, "--tokenizer", *tok, "--workers", strconv.Itoa(*workers),
			"--dedup-budget", strconv.Itoa(*budget))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, io.err
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("bench-data %s: %w", ph, err)
		}
		var r benchResult
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			return fmt.Errorf("bench-data %s: %w (%s)", ph, err, out.String())
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			r.PeakRSSMB = float64(ru.Maxrss) / 1024
			cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			r.CPUSeconds = cpu.Seconds()
			r.MBpsCore = float64(r.Bytes) / 1e6 / r.CPUSeconds
		}
		fmt.Fprintf(io.out, "%-10s %9.1f %8d %8.2f %9.1f %11.1f %12.1f\n", r.Phase, float64(r.Bytes)/1e6, r.Rows, r.Seconds, r.MBps, r.MBpsCore, r.PeakRSSMB)
	}
	fmt.Fprintf(io.out, "(%d CPUs, GOMAXPROCS %d, %s/%s, %s)\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())
	return nil
}

func benchPhase(ctx context.Context, phase, file, tokDir string, workers, dedupBudget int) (benchResult, error) {
	if phase == "ingest" {
		// The dataset agent's work: read the file as a source (generic
		// JSON decoding, format detection), normalise, profile (no
		// tokenizer) and write canonical JSONL.
		st, err := os.Stat(file)
		if err != nil {
			return benchResult{}, err
		}
		r := benchResult{Phase: phase, Bytes: st.Size(), Workers: 1}
		out, err := os.CreateTemp("", "whet-bench-ingest-*.jsonl")
		if err != nil {
			return r, err
		}
		defer os.Remove(out.Name())
		defer out.Close()
		start := time.Now()
		res, err := ingest.Ingest(ctx, file, out, ingest.Options{Format: "auto", Samples: 3})
		if err != nil {
			return r, err
		}
		r.Rows = res.Profile.Rows
		r.Seconds = time.Since(start).Seconds()
		r.MBps = float64(r.Bytes) / 1e6 / r.Seconds
		return r, nil
	}
	s, err := dataset.OpenFile(file, record.Alpaca)
	if err != nil {
		return benchResult{}, err
	}
	defer s.Close()
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	r := benchResult{Phase: phase, Bytes: s.Size(), Workers: workers}
	tmp, err := os.MkdirTemp("", "whet-bench-"+phase+"-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	switch phase {
	case "validate":
		// Every check on; token lengths estimated (4 bytes per token).
		opts := check.Defaults()
		opts.MaxTokens, opts.Workers, opts.TempDir, opts.DedupBudget = 2048, workers, tmp, dedupBudget
		rep, err := check.Run(ctx, s, opts)
		if err != nil {
			return r, err
		}
		r.Rows = rep.Rows
	case "preprocess":
		o := prep.Options{Template: "alpaca", Clean: clean.Defaults(), RedactPII: true, Dedup: "near", MaxTokens: 2048,
			ValidationSplit: 0.1, Seed: 42, AppendEOS: true, Workers: workers, DedupBudget: dedupBudget}
		if tokDir != "" {
			t, err := tokenizer.Load(tokDir)
			if err != nil {
				return r, err
			}
			o.Tokenizer = t
		}
		st, err := prep.Run(ctx, s, tmp, o)
		if err != nil {
			return r, err
		}
		r.Rows = st.RowsIn
	}
	r.Seconds = time.Since(start).Seconds()
	r.MBps = float64(r.Bytes) / 1e6 / r.Seconds
	return r, nil
}

func parseSize(s string) (int64, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.m
			break
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return int64(v * float64(mult)), nil
}
