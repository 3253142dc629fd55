package agentproc_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agentproc"
)

// The test binary is its own agent process: with AGENTPROC_TEST_CHILD set it
// serves one run of the test agents below, as `whet agent-exec` does.
func TestMain(m *testing.M) {
	if os.Getenv("AGENTPROC_TEST_CHILD") == "1" {
		var reg agent.Registry
		for _, a := range testAgents {
			reg.Register(a)
		}
		if err := agentproc.Serve(context.Background(), &reg, os.Stdin, os.NewFile(3, "agentproc")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fn is an agent made of a function.
type fn struct {
	name string
	run  func(ctx context.Context, env *agent.Env) ([]agent.Artifact, error)
}

func (f fn) Spec() agent.Spec {
	return agent.Spec{Name: f.name, Outputs: []agent.Port{{Type: agent.Dataset, Name: "out"}}}
}
func (f fn) Run(ctx context.Context, env *agent.Env) ([]agent.Artifact, error) {
	return f.run(ctx, env)
}

// est is an agent that estimates: its estimate names the process that made
// it, so a test can tell the child did.
type est struct{ fn }

func (e est) Estimate(ctx context.Context, env *agent.Env) (*agent.Estimate, error) {
	if env.Params.Int("x") < 0 {
		return nil, agent.Permanent(errors.New("x: must be ≥ 0"))
	}
	env.Logger.Info("estimating", "x", env.Params.Int("x"))
	return &agent.Estimate{Device: "cpu", MemoryBytes: int64(env.Params.Int("x")), Steps: os.Getpid(), Fits: true, Basis: "test"}, nil
}

var testAgents = map[string]agent.Agent{
	"estimator": est{fn{"estimator", func(context.Context, *agent.Env) ([]agent.Artifact, error) { return nil, nil }}},
	"echo": fn{"echo", func(ctx context.Context, env *agent.Env) ([]agent.Artifact, error) {
		env.Emit.Log(slog.LevelWarn, "hello", slog.Int("n", 3), slog.Float64("f", 0.5), slog.Bool("b", true),
			slog.String("s", "x"), slog.Duration("d", 2*time.Second), slog.Group("g", slog.Int("in", 1)))
		env.Emit.Progress(0.5, 3*time.Second, "half")
		env.Emit.Metrics(1, map[string]float64{"loss": math.NaN(), "lr": 0.001, "inf": math.Inf(1)})
		env.Logger.With("run", 1).WithGroup("eng").Info("via logger", "k", 7)
		env.Logger.Debug("forwarded as the parent logs debug")
		src, err := env.ResolveSource(ctx, "ds_1", "dataset")
		if err != nil {
			return nil, err
		}
		if err := env.Checkpoints.Save(ctx, 3, filepath.Join(env.OutDir, "ck")); err != nil {
			return nil, err
		}
		step, err := env.Checkpoints.Restore(ctx, env.OutDir)
		if err != nil {
			return nil, err
		}
		if _, err := env.ResolveSource(ctx, "missing", "dataset"); !agent.IsPermanent(err) {
			return nil, fmt.Errorf("resolve missing: %v, want a permanent error", err)
		}
		text := fmt.Sprintf("%s %s %d x=%v attempt=%d http=%v", env.JobID, src, step, env.Params.Int("x"), env.Attempt, env.HTTP != nil)
		if err := os.WriteFile(filepath.Join(env.OutDir, "out.txt"), []byte(text), 0o644); err != nil {
			return nil, err
		}
		return []agent.Artifact{{Type: agent.Dataset, Name: "out", Path: "out.txt", Meta: map[string]any{"rows": 3}}}, nil
	}},
	"permanent": fn{"permanent", func(context.Context, *agent.Env) ([]agent.Artifact, error) {
		return nil, agent.Permanent(errors.New("line 3: bad input"))
	}},
	"transient": fn{"transient", func(context.Context, *agent.Env) ([]agent.Artifact, error) {
		return nil, errors.New("network down")
	}},
	"panic": fn{"panic", func(context.Context, *agent.Env) ([]agent.Artifact, error) {
		panic("index out of range in the agent")
	}},
	"goroutine-panic": fn{"goroutine-panic", func(context.Context, *agent.Env) ([]agent.Artifact, error) {
		go func() { panic("unrecoverable in a goroutine") }()
		time.Sleep(time.Minute)
		return nil, nil
	}},
	"exit": fn{"exit", func(context.Context, *agent.Env) ([]agent.Artifact, error) {
		fmt.Fprintln(os.Stderr, "loading\ndisk on fire")
		os.Exit(3)
		return nil, nil
	}},
	"selfkill": fn{"selfkill", func(context.Context, *agent.Env) ([]agent.Artifact, error) {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Minute)
		return nil, nil
	}},
	"hog": fn{"hog", func(ctx context.Context, env *agent.Env) ([]agent.Artifact, error) {
		var keep [][]byte
		for ctx.Err() == nil {
			b := make([]byte, 16<<20)
			for i := range b {
				b[i] = byte(i)
			}
			keep = append(keep, b)
			time.Sleep(5 * time.Millisecond)
		}
		return nil, fmt.Errorf("hog kept %d chunks: %w", len(keep), ctx.Err())
	}},
	"huge": fn{"huge", func(context.Context, *agent.Env) ([]agent.Artifact, error) {
		b := make([]float32, 1<<42) // 16 TiB: the Go runtime cannot map it
		b[len(b)-1] = 1
		return nil, nil
	}},
	"wait": fn{"wait", func(ctx context.Context, env *agent.Env) ([]agent.Artifact, error) {
		env.Emit.Progress(0, 0, "waiting")
		<-ctx.Done()
		return nil, ctx.Err()
	}},
	"stubborn": fn{"stubborn", func(ctx context.Context, env *agent.Env) ([]agent.Artifact, error) {
		env.Emit.Progress(0, 0, "ignoring cancellation")
		time.Sleep(time.Minute)
		return nil, nil
	}},
}

func wrap(t *testing.T, name string, limit int64) agent.Agent {
	t.Helper()
	return agentproc.Wrap(testAgents[name], agentproc.Config{Path: os.Args[0], Env: []string{"AGENTPROC_TEST_CHILD=1"},
		MemoryLimit: limit, Grace: 300 * time.Millisecond})
}

// recorder is an Emitter that keeps what it gets.
type recorder struct {
	mu       sync.Mutex
	logs     []string
	progress []string
	metrics  []map[string]float64
}

func (r *recorder) Log(level slog.Level, msg string, attrs ...slog.Attr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := level.String() + " " + msg
	for _, a := range attrs {
		s += fmt.Sprintf(" %s=%v(%v)", a.Key, a.Value, a.Value.Kind())
	}
	r.logs = append(r.logs, s)
}

func (r *recorder) Progress(f float64, eta time.Duration, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.progress = append(r.progress, fmt.Sprintf("%v %v %s", f, eta, msg))
}

func (r *recorder) Metrics(step int, v map[string]float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.metrics = append(r.metrics, v)
}

type fakeCheckpoints struct{ saved string }

func (f *fakeCheckpoints) Save(_ context.Context, step int, dir string) error {
	f.saved = fmt.Sprintf("%d %s", step, dir)
	return nil
}

func (f *fakeCheckpoints) Restore(_ context.Context, parent string) (int, error) {
	return 3, os.MkdirAll(filepath.Join(parent, "checkpoint-3"), 0o755)
}

// logLines is a slog handler collecting "LEVEL msg k=v" lines.
type logLines struct {
	mu    *sync.Mutex
	lines *[]string
	attrs []slog.Attr
}

func (h logLines) Enabled(context.Context, slog.Level) bool { return true }
func (h logLines) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := r.Level.String() + " " + r.Message
	for _, a := range h.attrs {
		s += " " + a.String()
	}
	r.Attrs(func(a slog.Attr) bool { s += " " + a.String(); return true })
	*h.lines = append(*h.lines, s)
	return nil
}
func (h logLines) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return h
}
func (h logLines) WithGroup(string) slog.Handler { return h }

func TestRunRelaysEventsRequestsAndOutputs(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	ck := &fakeCheckpoints{}
	var mu sync.Mutex
	var lines []string
	out := t.TempDir()
	env := &agent.Env{JobID: "job_1", NodeID: "n", Attempt: 2, Params: agent.Params{"x": int64(41)}, OutDir: out,
		Emit: rec, Logger: slog.New(logLines{mu: &mu, lines: &lines}), Checkpoints: ck,
		ResolveSource: func(_ context.Context, ref, kind string) (string, error) {
			if ref == "ds_1" && kind == "dataset" { // the kind travels with the request
				return "/data/ds_1.jsonl", nil
			}
			return "", agent.Permanent(fmt.Errorf("source %q: no such dataset", ref))
		}}
	outs, err := wrap(t, "echo", 0).Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	want := []agent.Artifact{{Type: agent.Dataset, Name: "out", Path: "out.txt", Meta: map[string]any{"rows": float64(3)}}}
	if d := cmp.Diff(want, outs); d != "" {
		t.Errorf("outputs (-want +got):\n%s", d)
	}
	b, _ := os.ReadFile(filepath.Join(out, "out.txt"))
	if got, w := string(b), "job_1 /data/ds_1.jsonl 3 x=41 attempt=2 http=false"; got != w {
		t.Errorf("out.txt = %q, want %q", got, w)
	}
	if w := "3 " + filepath.Join(out, "ck"); ck.saved != w {
		t.Errorf("checkpoint saved %q, want %q", ck.saved, w)
	}
	wantLogs := []string{"WARN hello n=3(Int64) f=0.5(Float64) b=true(Bool) s=x(String) d=2s(Duration) g.in=1(Int64)"}
	if d := cmp.Diff(wantLogs, rec.logs); d != "" {
		t.Errorf("emitted logs (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"0.5 3s half"}, rec.progress); d != "" {
		t.Errorf("progress (-want +got):\n%s", d)
	}
	if len(rec.metrics) != 1 || !math.IsNaN(rec.metrics[0]["loss"]) || !math.IsInf(rec.metrics[0]["inf"], 1) || rec.metrics[0]["lr"] != 0.001 {
		t.Errorf("metrics = %v, want loss NaN, inf +Inf, lr 0.001", rec.metrics)
	}
	if d := cmp.Diff([]string{"INFO via logger run=1 eng.k=7", "DEBUG forwarded as the parent logs debug"}, lines); d != "" {
		t.Errorf("logger records (-want +got):\n%s", d)
	}
}

func TestRunFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		agent     string
		limit     int64
		want      string // in the error
		permanent bool
	}{
		{"permanent", 0, "line 3: bad input", true},
		{"transient", 0, "network down", false},
		{"panic", 0, "agent panic panicked: index out of range in the agent", true},
		{"goroutine-panic", 0, "agent process exited with status 2 and no result: panic: unrecoverable in a goroutine", false},
		{"exit", 0, "agent process exited with status 3 and no result: disk on fire", false},
		{"selfkill", 0, "agent process killed by signal 9 (out of memory?) after", false},
		{"hog", 64 << 20, "over the agent memory limit of 64 MB", false},
		{"huge", 0, "agent process ran out of memory after", false},
	}
	for _, tt := range tests {
		t.Run(tt.agent, func(t *testing.T) {
			t.Parallel()
			if tt.agent == "huge" {
				if b, _ := os.ReadFile("/proc/sys/vm/overcommit_memory"); strings.TrimSpace(string(b)) == "1" {
					t.Skip("vm.overcommit_memory=1: the kernel grants a 16 TiB mapping")
				}
			}
			start := time.Now()
			_, err := wrap(t, tt.agent, tt.limit).Run(context.Background(), &agent.Env{OutDir: t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if agent.IsPermanent(err) != tt.permanent {
				t.Errorf("permanent = %v, want %v (%v)", agent.IsPermanent(err), tt.permanent, err)
			}
			if took := time.Since(start); took > 20*time.Second {
				t.Errorf("took %s", took)
			}
		})
	}
}

func TestCancelStopsTheChild(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"wait", "stubborn"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			rec := &progressSignal{started: make(chan struct{})}
			errc := make(chan error, 1)
			go func() {
				_, err := wrap(t, name, 0).Run(ctx, &agent.Env{OutDir: t.TempDir(), Emit: rec})
				errc <- err
			}()
			select {
			case <-rec.started:
			case <-time.After(20 * time.Second):
				t.Fatal("the agent never started")
			}
			cancel()
			select {
			case err := <-errc:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("error %v, want context.Canceled", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel (the child still runs)")
			}
		})
	}
}

// progressSignal closes started on the first progress event.
type progressSignal struct {
	once    sync.Once
	started chan struct{}
}

func (p *progressSignal) Log(slog.Level, string, ...slog.Attr) {}
func (p *progressSignal) Progress(float64, time.Duration, string) {
	p.once.Do(func() { close(p.started) })
}
func (p *progressSignal) Metrics(int, map[string]float64) {}

// TestEstimateRunsInTheChild: an agent that estimates keeps that capability
// when wrapped, and its Estimate runs in the child process (a dry run's
// warm-up must not cost the server its memory); one that does not estimate
// stays without it.
func TestEstimateRunsInTheChild(t *testing.T) {
	t.Parallel()
	w := wrap(t, "estimator", 0)
	e, ok := w.(agent.Estimator)
	if !ok {
		t.Fatal("the wrapped estimator does not implement agent.Estimator")
	}
	var mu sync.Mutex
	var lines []string
	got, err := e.Estimate(context.Background(), &agent.Env{OutDir: t.TempDir(), Params: agent.Params{"x": int64(1234)},
		Logger: slog.New(logLines{mu: &mu, lines: &lines})})
	if err != nil {
		t.Fatal(err)
	}
	if got.MemoryBytes != 1234 || got.Device != "cpu" || !got.Fits || got.Basis != "test" {
		t.Errorf("estimate = %+v", got)
	}
	if got.Steps == os.Getpid() || got.Steps == 0 {
		t.Errorf("estimate made in pid %d, want a child of %d", got.Steps, os.Getpid())
	}
	if d := cmp.Diff([]string{"INFO estimating x=1234"}, lines); d != "" {
		t.Errorf("logger records (-want +got):\n%s", d)
	}
	_, err = e.Estimate(context.Background(), &agent.Env{OutDir: t.TempDir(), Params: agent.Params{"x": int64(-1)}})
	if err == nil || !strings.Contains(err.Error(), "x: must be ≥ 0") || !agent.IsPermanent(err) {
		t.Errorf("bad estimate: %v, want the agent's permanent error", err)
	}
	if _, ok := wrap(t, "echo", 0).(agent.Estimator); ok {
		t.Error("a wrapped agent that does not estimate implements agent.Estimator")
	}
}
