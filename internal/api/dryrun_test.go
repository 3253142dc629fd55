package api_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agentproc"
	"github.com/whetstone/whetstone/internal/api"
)

// childEnv marks the test binary started as an agent process.
const childEnv = "API_TEST_AGENT_CHILD=1"

// TestMain lets the test binary be its own agent process (agentproc.Serve),
// as `whet serve` runs each agent in `whet agent-exec`.
func TestMain(m *testing.M) {
	if os.Getenv("API_TEST_AGENT_CHILD") == "1" {
		var reg agent.Registry
		reg.Register(stuckEstimator{})
		if err := agentproc.Serve(context.Background(), &reg, os.Stdin, os.NewFile(3, "agentproc")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// stuckEstimator estimates like train but never returns, and ignores its
// context (a warm-up stuck in one long step): only killing its process
// ends it. It first writes its process id to the file param pid_file.
type stuckEstimator struct{}

func (stuckEstimator) Spec() agent.Spec {
	return agent.Spec{Name: "stuck", Category: "training",
		Params:  []agent.Param{{Name: "pid_file", Type: agent.String, Required: true}},
		Outputs: []agent.Port{{Type: agent.Model, Name: "model"}}}
}

func (stuckEstimator) Run(context.Context, *agent.Env) ([]agent.Artifact, error) {
	return nil, errors.New("stuck: not meant to run")
}

func (stuckEstimator) Estimate(ctx context.Context, env *agent.Env) (*agent.Estimate, error) {
	if err := os.WriteFile(env.Params.String("pid_file"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	time.Sleep(time.Hour)
	return nil, errors.New("stuck: woke up")
}

// isolatedStuck is a registry whose stuck agent runs in a child process
// (this test binary) with a short grace before it is killed.
func isolatedStuck() *agent.Registry {
	var reg agent.Registry
	reg.Register(agentproc.Wrap(stuckEstimator{}, agentproc.Config{Path: os.Args[0], Env: []string{childEnv}, Grace: 300 * time.Millisecond}))
	return &reg
}

// waitPID waits for the stuck estimator's process id in file.
func waitPID(t *testing.T, file string, within time.Duration) int {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(file)
		if err != nil || len(b) == 0 {
			continue
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil {
			t.Fatalf("pid file %s: %q", file, b)
		}
		return pid
	}
	t.Fatalf("the dry run never started the estimator's process (no %s after %s)", file, within)
	return 0
}

// waitGone waits until process pid no longer exists (killed and reaped).
func waitGone(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
	}
	syscall.Kill(pid, syscall.SIGKILL) // leave nothing behind
	t.Errorf("the estimator's process %d still runs %s after the dry run ended", pid, within)
}

// noPlanScratch checks the dry run's scratch folders were removed.
func noPlanScratch(t *testing.T, e *env) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(e.p.Config.DataDir, "tmp", "plan-*"))
	if len(left) > 0 {
		t.Errorf("dry run scratch folders left: %v", left)
	}
}

func stuckSpec(pidFile string) string {
	return fmt.Sprintf("name: stuck\nnodes:\n  - {id: tune, agent: stuck, params: {pid_file: %q}}\n", pidFile)
}

// TestDryRunClientGone: a client that disconnects from a dry run stops it:
// the estimator's agent process is killed (here it ignores its context, so
// only the kill ends it), and the scratch folder is removed.
func TestDryRunClientGone(t *testing.T) {
	t.Parallel()
	e := setupWith(t, isolatedStuck(), false)
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", e.url+"/jobs?dry_run=true", strings.NewReader(stuckSpec(pidFile)))
	req.Header.Set("Content-Type", "application/yaml")
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			err = fmt.Errorf("the dry run answered %s %s before the client went away", resp.Status, b)
		}
		done <- err
	}()
	pid := waitPID(t, pidFile, 30*time.Second)
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("estimator process %d: %v", pid, err)
	}
	cancel() // the client goes away
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	waitGone(t, pid, 10*time.Second)
	// The handler has returned once its child is gone; give it a moment to
	// remove the scratch folder.
	time.Sleep(200 * time.Millisecond)
	noPlanScratch(t, e)
}

// TestDryRunTimeout: a dry run past Server.DryRunTimeout is stopped (its
// agent process killed) and answers 504 naming the dry run and its limit.
func TestDryRunTimeout(t *testing.T) {
	t.Parallel()
	e := setupWith(t, isolatedStuck(), false)
	srv := &api.Server{Store: e.p.Store, Blobs: e.p.Blobs, Bus: e.p.Bus, Orch: e.p.Orch, Agents: isolatedStuck(), DryRunTimeout: time.Second}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	pidFile := filepath.Join(t.TempDir(), "pid")
	c := &http.Client{Timeout: 30 * time.Second}
	start := time.Now()
	resp, err := c.Post(ts.URL+"/api/v1/jobs?dry_run=true", "application/yaml", strings.NewReader(stuckSpec(pidFile)))
	if err != nil {
		t.Fatalf("dry run past its timeout: %v (after %s)", err, time.Since(start).Round(time.Millisecond))
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(b), "dry run") || !strings.Contains(string(b), "limit of 1s (--dry-run-timeout)") {
		t.Errorf("dry run past its timeout = %s %s; want 504 naming the dry run and its limit", resp.Status, b)
	}
	waitGone(t, waitPID(t, pidFile, time.Second), 10*time.Second)
	noPlanScratch(t, e)
}

// TestDryRunsTakeTurns: at most Server.MaxDryRuns dry runs work at once
// (each runs agent processes; unbounded, a few callers could start enough
// to exhaust the machine's memory). With one allowed, a second dry run
// starts no agent process while the first works, and the turn is free
// again once the first ended.
func TestDryRunsTakeTurns(t *testing.T) {
	t.Parallel()
	e := setupWith(t, isolatedStuck(), false)
	srv := &api.Server{Store: e.p.Store, Blobs: e.p.Blobs, Bus: e.p.Bus, Orch: e.p.Orch, Agents: isolatedStuck(), DryRunTimeout: 3 * time.Second, MaxDryRuns: 1}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	post := func(ctx context.Context, pidFile string, out chan<- int) {
		req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/api/v1/jobs?dry_run=true", strings.NewReader(stuckSpec(pidFile)))
		req.Header.Set("Content-Type", "application/yaml")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			out <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out <- resp.StatusCode
	}
	first, second, third := make(chan int, 1), make(chan int, 1), make(chan int, 1)
	go post(context.Background(), filepath.Join(dir, "first"), first)
	pid := waitPID(t, filepath.Join(dir, "first"), 30*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	go post(ctx, filepath.Join(dir, "second"), second)
	for range 50 { // the first works for 3 s
		if _, err := os.Stat(filepath.Join(dir, "second")); err == nil {
			t.Errorf("the second dry run started its agent while the first worked (at most 1 at once)")
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel() // the second's client gives up waiting
	<-second
	if st := <-first; st != http.StatusGatewayTimeout {
		t.Errorf("first dry run = %d; want 504", st)
	}
	waitGone(t, pid, 10*time.Second)
	go post(context.Background(), filepath.Join(dir, "third"), third)
	waitGone(t, waitPID(t, filepath.Join(dir, "third"), 30*time.Second), 10*time.Second)
	<-third
	noPlanScratch(t, e)
}
