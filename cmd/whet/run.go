package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/config"
	"github.com/whetstone/whetstone/internal/events"
	"github.com/whetstone/whetstone/internal/orchestrate"
	"github.com/whetstone/whetstone/internal/pipeline"
	"github.com/whetstone/whetstone/internal/platform"
	"github.com/whetstone/whetstone/internal/store"
)

// Exit codes of `whet run`.
const (
	exitJobFailed   = 1 // the job failed or was cancelled; a dry run timed out or was interrupted
	exitInvalidSpec = 3 // the spec did not parse or validate
)

func init() {
	register(&command{name: "run", summary: "run a pipeline locally, with progress; exit 0 only on success", run: runCmd})
}

func runCmd(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	out := fs.String("out", "", "copy every node's outputs into this folder (as OUT/NODE/FILE)")
	quiet := fs.Bool("quiet", false, "print only the final job JSON")
	dryRun := fs.Bool("dry-run", false, "plan without running: print the nodes in execution order, which come from the cache (with --data-dir) and what each train node will need (POST /api/v1/jobs?dry_run=true's JSON)")
	fs.Usage = func() {
		fmt.Fprintln(io.err, `Usage: whet run PIPELINE.yaml [--out DIR] [flags]

Runs the pipeline through the same orchestrator and queue as the server, on
a temporary data folder (or --data-dir, which keeps the output cache between
runs). Progress goes to stderr, the final job JSON to stdout. Relative paths
in params resolve against the current folder.

A dry run (--dry-run) is stopped after --dry-run-timeout (default 5m),
like the server's, or at Ctrl-C.

Exit codes: 0 succeeded, 1 failed or cancelled (a dry run: timed out or
interrupted), 2 usage, 3 invalid spec.

Flags:`)
		fs.PrintDefaults()
	}
	// Allow flags after the file name: parse, take a positional, repeat.
	var files []string
	rest := args
	fs.SetOutput(io.err)
	l := config.Bind(fs)
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(files) != 1 {
		return fmt.Errorf("%w: run needs exactly one pipeline file (see whet run -h)", errUsage)
	}
	setFlags := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { setFlags[f.Name] = true })
	if !setFlags["data-dir"] && os.Getenv("WHET_DATA_DIR") == "" && !setFlags["config"] && os.Getenv("WHET_CONFIG") == "" {
		tmp, err := os.MkdirTemp("", "whet-run-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		fs.Set("data-dir", tmp)
	}
	cfg, err := l.Load(os.Getenv)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	reg, err := newRegistry()
	if err != nil {
		return err
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	spec, err := pipeline.Parse(b)
	if err == nil {
		_, err = pipeline.Validate(spec, reg)
	}
	if err != nil {
		printSpecError(stdio{out: io.err}, files[0], err)
		return &exitError{code: exitInvalidSpec, err: errors.New("invalid pipeline spec")}
	}

	logLevel := cfg.LogLevel
	if logLevel == "info" {
		logLevel = "warn" // the progress display shows what info logs would
	}
	log := newLogger(io.err, logLevel, cfg.LogFormat)
	p, err := platform.Open(ctx, cfg, reg, platform.Options{Work: true, Logger: log})
	if err != nil {
		return err
	}
	runCtx := context.WithoutCancel(ctx)
	if err := p.Start(runCtx); err != nil {
		p.Stop(runCtx)
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Stop(sctx)
	}()
	if *dryRun {
		// Under ctx, not runCtx: Ctrl-C stops the dry run's agents.
		plan, err := p.Orch.PlanWithin(ctx, spec, cfg.WorkDir, cfg.DryRunTimeout)
		switch {
		case errors.Is(err, orchestrate.ErrDryRunTimeout):
			return &exitError{code: exitJobFailed, err: err}
		case err != nil && ctx.Err() != nil:
			return &exitError{code: exitJobFailed, err: errors.New("dry run interrupted: its data agents and training warm-up were stopped")}
		case err != nil:
			return err
		}
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		return enc.Encode(plan)
	}
	job, err := p.Orch.Submit(runCtx, spec, cfg.WorkDir)
	if err != nil {
		return err
	}
	var disp display = plainDisplay{w: io.err}
	if *quiet {
		disp = plainDisplay{w: discardWriter{}}
	} else if f, ok := io.err.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		disp = newBarDisplay(f, len(spec.Nodes))
	}
	if err := follow(ctx, p, job.ID, disp); err != nil {
		return err
	}
	// A cancelled or failed job's running nodes record their end a moment
	// after the job's final event.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if job, err = p.Store.GetJob(runCtx, job.ID); err != nil {
			return err
		}
		if !anyRunning(job) || time.Now().After(deadline) {
			break
		}
	}
	enc := json.NewEncoder(io.out)
	enc.SetIndent("", "  ")
	enc.Encode(job)
	if *out != "" {
		if err := copyOutputs(runCtx, p.Blobs, job, *out); err != nil {
			return fmt.Errorf("copy outputs: %w", err)
		}
		if !*quiet {
			fmt.Fprintf(io.err, "outputs copied to %s\n", *out)
		}
	}
	if job.Status != store.Succeeded {
		return &exitError{code: exitJobFailed, err: fmt.Errorf("job %s %s: %s", job.ID, job.Status, job.Error)}
	}
	return nil
}

// follow shows the job's events until its final status; an interrupt
// cancels the job and keeps following until it ends.
func follow(ctx context.Context, p *platform.Platform, jobID string, disp display) error {
	sub := p.Bus.Subscribe(jobID, 0)
	defer sub.Close()
	wctx := context.WithoutCancel(ctx)
	interrupted := false
	for {
		if ctx.Err() != nil && !interrupted {
			interrupted = true
			disp.line("interrupted: cancelling the job")
			if err := p.Orch.Cancel(wctx, jobID); err != nil && !errors.Is(err, store.ErrConflict) {
				return err
			}
		}
		nctx, cancel := context.WithTimeout(wctx, time.Second)
		evs, err := sub.Next(nctx, time.Second)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		for _, e := range evs {
			disp.event(e)
			if events.IsFinal(e) {
				disp.done()
				return nil
			}
		}
	}
}

type display interface {
	event(e store.Event)
	line(s string)
	done()
}

// describe renders an event as one line ("" to skip).
func describe(e store.Event) string {
	prefix := "[" + e.Node + "] "
	if e.Node == "" {
		prefix = "job "
	}
	switch e.Type {
	case events.Status:
		var d events.StatusData
		json.Unmarshal(e.Data, &d)
		return prefix + string(d.Status) + suffix(d.Error)
	case events.Node:
		var d events.NodeData
		json.Unmarshal(e.Data, &d)
		s := prefix + string(d.Status)
		if d.Status == store.Running {
			s += fmt.Sprintf(" (attempt %d)", d.Attempt)
		}
		if d.Cached {
			s += " (cached)"
		}
		if d.RetryIn > 0 {
			s += fmt.Sprintf(", retrying in %.1fs", d.RetryIn)
		}
		return s + suffix(d.Error)
	case events.Progress:
		var d events.ProgressData
		json.Unmarshal(e.Data, &d)
		s := fmt.Sprintf("%s%3.0f%% %s", prefix, d.Fraction*100, d.Message)
		if d.ETASec > 0 {
			s += fmt.Sprintf(" (eta %s)", (time.Duration(d.ETASec) * time.Second).String())
		}
		return s
	case events.Metric:
		var d events.MetricData
		json.Unmarshal(e.Data, &d)
		keys := make([]string, 0, len(d.Values))
		for k := range d.Values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := []string{fmt.Sprintf("step %d", d.Step)}
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s=%v", k, d.Values[k]))
		}
		return prefix + strings.Join(parts, " ")
	case events.Log:
		var d events.LogData
		json.Unmarshal(e.Data, &d)
		s := prefix + d.Level + " " + d.Msg
		keys := make([]string, 0, len(d.Attrs))
		for k := range d.Attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			s += fmt.Sprintf(" %s=%v", k, d.Attrs[k])
		}
		return s
	}
	return ""
}

func suffix(err string) string {
	if err == "" {
		return ""
	}
	return ": " + err
}

type plainDisplay struct{ w io.Writer }

func (d plainDisplay) event(e store.Event) {
	if s := describe(e); s != "" {
		fmt.Fprintf(d.w, "%s %s\n", e.Time.Local().Format("15:04:05"), s)
	}
}
func (d plainDisplay) line(s string) { fmt.Fprintln(d.w, s) }
func (d plainDisplay) done()         {}

// barDisplay shows one bar over all nodes, with events printed above it.
type barDisplay struct {
	w        io.Writer
	bar      *progressbar.ProgressBar
	fraction map[string]float64
}

func newBarDisplay(w io.Writer, nodes int) *barDisplay {
	bar := progressbar.NewOptions(nodes*1000, progressbar.OptionSetWriter(w), progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetWidth(30), progressbar.OptionSetPredictTime(false), progressbar.OptionClearOnFinish())
	return &barDisplay{w: w, bar: bar, fraction: map[string]float64{}}
}

func (d *barDisplay) event(e store.Event) {
	switch e.Type {
	case events.Progress:
		var p events.ProgressData
		json.Unmarshal(e.Data, &p)
		d.fraction[e.Node] = p.Fraction
		d.bar.Describe("[" + e.Node + "] " + p.Message)
	case events.Node:
		var n events.NodeData
		json.Unmarshal(e.Data, &n)
		if n.Status == store.Succeeded {
			d.fraction[e.Node] = 1
		}
		d.line(describe(e))
	case events.Metric:
		d.bar.Describe(describe(e))
	default:
		d.line(describe(e))
	}
	total := 0.0
	for _, f := range d.fraction {
		total += f
	}
	d.bar.Set(int(total * 1000))
}

func (d *barDisplay) line(s string) {
	d.bar.Clear()
	fmt.Fprintln(d.w, s)
	d.bar.RenderBlank()
}

func (d *barDisplay) done() {
	d.bar.Finish()
	fmt.Fprintln(d.w)
}

// copyOutputs copies every node's outputs to dir/NODE/PATH.
func copyOutputs(ctx context.Context, blobs blob.Store, job *store.Job, dir string) error {
	for _, n := range job.Nodes {
		for _, a := range n.Outputs {
			dst := filepath.Join(dir, n.ID, filepath.FromSlash(a.Path))
			if a.Path == "" || strings.Contains(a.Path, "..") {
				dst = filepath.Join(dir, n.ID, a.Name)
			}
			if err := copyArtifact(ctx, blobs, a, dst); err != nil {
				return err
			}
		}
	}
	return nil
}

func copyArtifact(ctx context.Context, blobs blob.Store, a agent.Artifact, dst string) error {
	if !strings.HasSuffix(a.URI, "/") {
		_, err := blob.Download(ctx, blobs, a.URI, dst)
		return err
	}
	_, err := blob.DownloadDir(ctx, blobs, a.URI, dst)
	return err
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }

func anyRunning(j *store.Job) bool {
	for _, n := range j.Nodes {
		if n.Status == store.Running {
			return true
		}
	}
	return false
}
