package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/compare"
	"github.com/whetstone/whetstone/internal/agents/evaluate"
	"github.com/whetstone/whetstone/internal/engine/device"
	"github.com/whetstone/whetstone/internal/eval"
)

func init() {
	register(&command{name: "evaluate", summary: "evaluate a model on a validation split, and compare it with its base model", run: runEvaluate})
}

// runEvaluate runs the evaluate agent (and with --compare the compare
// agent) outside a pipeline.
func runEvaluate(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("evaluate", flag.ContinueOnError)
	fs.SetOutput(io.err)
	modelDir := fs.String("model", "", "model folder, or PEFT adapter folder")
	base := fs.String("base", "", "base model folder (default: the adapter's base_model_name_or_path)")
	data := fs.String("data", "", "folder with validation.jsonl, or a JSONL file; rows: {text, prompt}")
	out := fs.String("out", "", "output folder for evaluation.json (and comparison.json, comparison.html)")
	metrics := fs.String("metrics", "loss,perplexity,rouge_l", "comma-separated: "+strings.Join(eval.AllMetrics, ", "))
	samples := fs.Int("samples", 50, "validation rows to generate on")
	maxNew := fs.Int("max-new-tokens", 64, "most new tokens per sample")
	temp := fs.Float64("temperature", 0, "sampling temperature (0: greedy)")
	seed := fs.Int("seed", 42, "seed for sample choice, sampling and the bootstrap")
	judgeURL := fs.String("judge-url", "", "OpenAI-compatible API base URL for the judge metric")
	judgeKey := fs.String("judge-key", "", "API key for --judge-url")
	judgeModel := fs.String("judge-model", "", "judge model name")
	doCompare := fs.Bool("compare", false, "also evaluate the base model on the same samples and write the comparison")
	resamples := fs.Int("bootstrap", 1000, "bootstrap resamples for --compare")
	confidence := fs.Float64("confidence", 0.95, "confidence level for --compare")
	devName := fs.String("device", "auto", "where the models run: auto (a usable GPU, else the CPU), cpu, cuda or cuda:N")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *modelDir == "" || *data == "" || *out == "" {
		return fmt.Errorf("%w: --model, --data and --out are required", errUsage)
	}
	if err := device.Check(*devName); err != nil {
		return fmt.Errorf("%w: --device: %w", errUsage, err)
	}
	var ms []any
	for m := range strings.SplitSeq(*metrics, ",") {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		if !slices.Contains(eval.AllMetrics, m) {
			return fmt.Errorf("%w: --metrics: unknown metric %q (known: %s)", errUsage, m, strings.Join(eval.AllMetrics, ", "))
		}
		ms = append(ms, m)
	}
	abs := func(p string) (string, error) {
		if p == "" {
			return "", nil
		}
		return filepath.Abs(p)
	}
	var err error
	if *modelDir, err = abs(*modelDir); err != nil {
		return err
	}
	if *base, err = abs(*base); err != nil {
		return err
	}
	if *data, err = abs(*data); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	// Warnings, and which device runs and why.
	logger := slog.New(deviceLogHandler{slog.NewTextHandler(io.err, nil)})
	em := &cliEmitter{w: io, logger: logger}
	modelArt := agent.Artifact{Type: agent.Model, Name: "model", Path: *modelDir}
	if *base != "" {
		modelArt.Meta = map[string]any{"base_model": *base}
	}
	params := agent.Params{"metrics": ms, "samples": *samples, "max_new_tokens": *maxNew, "temperature": *temp,
		"seed": *seed, "judge_url": *judgeURL, "judge_key": *judgeKey, "judge_model": *judgeModel, "device": *devName}
	em.label = "evaluate"
	arts, err := evaluate.New(nil).Run(ctx, &agent.Env{Params: params, OutDir: *out, Emit: em, Logger: logger,
		Inputs: []agent.Artifact{modelArt, {Type: agent.Dataset, Name: "dataset", Path: *data}}})
	em.finish()
	if err != nil {
		return err
	}
	report := filepath.Join(*out, arts[0].Path)
	e, err := eval.ReadEvaluation(report)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.out, "evaluated %s on %d rows, %d samples (%s) → %s\n", e.Model.Path, e.Dataset.Rows, len(e.Samples), e.Device, report)
	for _, m := range e.Metrics {
		if v, ok := e.Results[m]; ok {
			fmt.Fprintf(io.out, "  %-12s %.4f\n", m, v)
		}
	}
	if !*doCompare {
		return nil
	}
	cmpDir := filepath.Join(*out, "compare")
	if err := os.MkdirAll(cmpDir, 0o755); err != nil {
		return err
	}
	em.label = "compare"
	_, err = compare.New(nil).Run(ctx, &agent.Env{OutDir: cmpDir, Emit: em, Logger: logger,
		Params: agent.Params{"report_html": true, "bootstrap": *resamples, "confidence": *confidence, "seed": *seed, "judge_key": *judgeKey,
			"device": *devName},
		Inputs: []agent.Artifact{{Type: agent.Report, Name: eval.KindEvaluation, Path: report}}})
	em.finish()
	if err != nil {
		return err
	}
	for _, name := range []string{compare.ReportFile, compare.HTMLFile} {
		if err := os.Rename(filepath.Join(cmpDir, name), filepath.Join(*out, name)); err != nil {
			return err
		}
	}
	os.Remove(cmpDir)
	fmt.Fprintf(io.out, "compared with the base model → %s, %s\n", filepath.Join(*out, compare.ReportFile), filepath.Join(*out, compare.HTMLFile))
	fmt.Fprintf(io.out, "  %-12s %10s %10s %10s  %-24s %s\n", "metric", "base", "tuned", "delta", "CI", "win/tie/loss")
	c, err := readComparison(filepath.Join(*out, compare.ReportFile))
	if err != nil {
		return err
	}
	for _, m := range c.Metrics {
		fmt.Fprintf(io.out, "  %-12s %10.4f %10.4f %+10.4f  [%+.4f, %+.4f]  %d/%d/%d\n", m.Name, m.Base.Estimate, m.Tuned.Estimate,
			m.Delta.Estimate, m.Delta.Lo, m.Delta.Hi, m.Wins, m.Ties, m.Losses)
	}
	return nil
}

func readComparison(path string) (*eval.Comparison, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c eval.Comparison
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// cliEmitter prints an agent's progress on one status line of stderr.
type cliEmitter struct {
	w      stdio
	logger *slog.Logger
	label  string
	last   time.Time
	shown  bool
}

func (e *cliEmitter) Log(level slog.Level, msg string, attrs ...slog.Attr) {
	e.logger.LogAttrs(context.Background(), level, msg, attrs...)
}

func (e *cliEmitter) Progress(f float64, eta time.Duration, msg string) {
	if time.Since(e.last) < 200*time.Millisecond && f < 1 {
		return
	}
	e.last = time.Now()
	s := fmt.Sprintf("\r%s %5.1f%% %s", e.label, 100*f, msg)
	if eta > 0 {
		s += fmt.Sprintf(" (ETA %s)", eta.Round(time.Second))
	}
	fmt.Fprintf(e.w.err, "%-78s", s)
	e.shown = true
}

func (e *cliEmitter) Metrics(int, map[string]float64) {}

func (e *cliEmitter) finish() {
	if e.shown {
		fmt.Fprintln(e.w.err)
		e.shown = false
	}
}
