// Package agentproc runs an agent in a child process, so that an agent that
// allocates without bound, or crashes, costs one attempt of one node instead
// of the worker (and the API server sharing its process).
//
// Wrap returns an agent.Agent whose Run starts a child (`whet agent-exec`,
// which calls Serve), hands it the run's Env as JSON, and relays what the
// child sends back: events (logs, progress, metrics), requests the parent
// serves (ResolveSource, checkpoint Save and Restore, which need the store
// and blob store) and the outputs. The child writes its outputs to
// Env.OutDir, which both processes see.
//
// The parent enforces a memory limit: it reads the child's anonymous RSS
// every Poll and kills it past Config.MemoryLimit. The child itself sets the
// Go runtime's soft limit just below, and offers itself to the kernel's
// out-of-memory killer first (oom_score_adj 1000). A child that dies, by
// the limit, a signal or a fatal runtime error, is an error of this attempt
// with the reason ("agent process killed by signal 9 (out of memory?) after
// 812 MB"); the orchestrator retries it like any failed attempt until the
// node's attempts are spent, then fails the node with it.
//
// Cancelling Run's context closes the child's stdin, which cancels the
// agent's context there; a child still running Grace later is killed. The
// child runs in its own process group and is killed if the parent dies.
package agentproc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
)

// Config says how to start and bound agent processes.
type Config struct {
	// Path and Args start a child that calls Serve: the whet binary and
	// "agent-exec". Required.
	Path string
	Args []string
	// Env is added to the child's environment.
	Env []string
	// MemoryLimit is the most anonymous memory (RssAnon) a child may use,
	// in bytes; past it the child is killed. 0: no limit.
	MemoryLimit int64
	// Grace is how long a cancelled child has to return before it is
	// killed. Defaults to 10 seconds.
	Grace time.Duration
	// Poll is how often the child's memory is read. Defaults to 50ms.
	Poll time.Duration
	// AllowURL is the outbound policy (--allow-url) the child's HTTP client
	// enforces when the parent's Env carries a client.
	AllowURL []string
	// Logger is the server's log: a child that dies without a result is
	// logged there with the end of its output (a Go crash's stack). Nil:
	// not logged.
	Logger *slog.Logger
}

// Wrap returns an agent with a's Spec that runs a in a child process.
func Wrap(a agent.Agent, cfg Config) agent.Agent {
	if cfg.Grace <= 0 {
		cfg.Grace = 10 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 50 * time.Millisecond
	}
	p := &isolated{a: a, cfg: cfg}
	if _, ok := a.(agent.Estimator); ok {
		return &isolatedEstimator{p}
	}
	return p
}

type isolated struct {
	a   agent.Agent
	cfg Config
}

// isolatedEstimator is an isolated agent that estimates (agent.Estimator),
// in a child process too: a dry run's warm-up loads the model and runs
// training steps, which must not cost the API server its memory.
type isolatedEstimator struct{ *isolated }

func (p *isolated) Spec() agent.Spec { return p.a.Spec() }

// Run runs the agent in a child process; see the package comment.
func (p *isolated) Run(ctx context.Context, env *agent.Env) ([]agent.Artifact, error) {
	res, err := p.exec(ctx, env, modeRun)
	if err != nil {
		return nil, err
	}
	return res.Outputs, nil
}

// Estimate asks the agent's Estimate in a child process, under the same
// memory limit and cancellation as Run.
func (p *isolatedEstimator) Estimate(ctx context.Context, env *agent.Env) (*agent.Estimate, error) {
	res, err := p.exec(ctx, env, modeEstimate)
	if err != nil {
		return nil, err
	}
	if res.Estimate == nil {
		return nil, fmt.Errorf("agent process for %s: no estimate in its result", p.a.Spec().Name)
	}
	return res.Estimate, nil
}

// exec runs one call (mode) of the agent in a child process and returns its
// result message, or the error the call or the child's death gives.
func (p *isolated) exec(ctx context.Context, env *agent.Env, mode string) (*msg, error) {
	name := p.a.Spec().Name
	emit := env.Emit
	if emit == nil {
		emit = agent.Discard
	}
	cmd := exec.Command(p.cfg.Path, p.cfg.Args...)
	cmd.Env = append(os.Environ(), p.cfg.Env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("agent process: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("agent process: %w", err)
	}
	defer r.Close()
	tail := &tailBuffer{max: 16 << 10}
	cmd.Stdout, cmd.Stderr = tail, tail
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("start agent process for %s: %w", name, err)
	}
	w.Close()
	pid := cmd.Process.Pid

	var (
		wmu      sync.Mutex
		inClosed bool
		enc      = json.NewEncoder(stdin)
	)
	send := func(m msg) error {
		wmu.Lock()
		defer wmu.Unlock()
		if inClosed {
			return os.ErrClosed
		}
		return enc.Encode(m)
	}
	closeIn := func() {
		wmu.Lock()
		defer wmu.Unlock()
		if !inClosed {
			inClosed = true
			stdin.Close()
		}
	}
	var (
		kmu        sync.Mutex
		killReason string
	)
	kill := func(reason string) {
		kmu.Lock()
		if killReason == "" {
			killReason = reason
		}
		kmu.Unlock()
		syscall.Kill(-pid, syscall.SIGKILL) // its process group
	}

	start := msg{Type: tStart, Agent: name, Mode: mode, MemoryLimit: p.cfg.MemoryLimit, Env: &startEnv{
		JobID: env.JobID, NodeID: env.NodeID, Attempt: env.Attempt, Params: env.Params, Inputs: env.Inputs,
		OutDir: env.OutDir, WorkDir: env.WorkDir,
		Resolve: env.ResolveSource != nil, Checkpoints: env.Checkpoints != nil,
		HTTP: env.HTTP != nil, AllowURL: p.cfg.AllowURL,
		Debug: env.Logger != nil && env.Logger.Enabled(ctx, slog.LevelDebug),
	}}
	if err := send(start); err != nil {
		kill("")
		cmd.Wait()
		return nil, fmt.Errorf("agent process for %s: send start: %w", name, err)
	}

	done := make(chan struct{})
	var peak int64 // the largest anonymous RSS seen
	var watchers sync.WaitGroup
	watchers.Add(2)
	go func() { // memory
		defer watchers.Done()
		t := time.NewTicker(p.cfg.Poll)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				rss, err := anonRSS(pid)
				if err != nil {
					continue
				}
				kmu.Lock()
				peak = max(peak, rss)
				kmu.Unlock()
				if p.cfg.MemoryLimit > 0 && rss > p.cfg.MemoryLimit {
					kill(fmt.Sprintf("agent process killed: it used %d MB of memory, over the agent memory limit of %d MB",
						rss>>20, p.cfg.MemoryLimit>>20))
					return
				}
			}
		}
	}()
	go func() { // cancellation
		defer watchers.Done()
		select {
		case <-done:
		case <-ctx.Done():
			closeIn()
			select {
			case <-done:
			case <-time.After(p.cfg.Grace):
				kill("cancelled")
			}
		}
	}()

	// Relay until the child closes its end (it exits).
	rpcCtx, rpcCancel := context.WithCancel(ctx)
	var rpcs sync.WaitGroup
	reply := func(id int64, m msg, err error) {
		m.Type, m.ID = tReply, id
		if err != nil {
			m.Error, m.Permanent = err.Error(), agent.IsPermanent(err)
		}
		send(m)
	}
	var result *msg
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for sc.Scan() {
		var m msg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			kill(fmt.Sprintf("agent process sent a bad message: %v", err))
			break
		}
		switch m.Type {
		case tLog:
			emit.Log(m.Level, m.Message, decodeAttrs(m.Attrs)...)
		case tSlog:
			if env.Logger != nil {
				env.Logger.LogAttrs(context.WithoutCancel(ctx), m.Level, m.Message, decodeAttrs(m.Attrs)...)
			}
		case tProgress:
			emit.Progress(float64(m.Frac), m.ETA, m.Message)
		case tMetrics:
			emit.Metrics(m.Step, fromJFloats(m.Values))
		case tResolve, tSave, tRestore:
			rpcs.Add(1)
			go func(m msg) {
				defer rpcs.Done()
				switch {
				case m.Type == tResolve && env.ResolveSource != nil:
					path, err := env.ResolveSource(rpcCtx, m.Ref, m.Kind)
					reply(m.ID, msg{Path: path}, err)
				case m.Type == tSave && env.Checkpoints != nil:
					reply(m.ID, msg{}, env.Checkpoints.Save(rpcCtx, m.Step, m.Dir))
				case m.Type == tRestore && env.Checkpoints != nil:
					step, err := env.Checkpoints.Restore(rpcCtx, m.Dir)
					reply(m.ID, msg{Step: step}, err)
				default:
					reply(m.ID, msg{}, fmt.Errorf("agent process asked for %s, which this run does not offer", m.Type))
				}
			}(m)
		case tResult:
			result = &m
		}
	}
	if err := sc.Err(); err != nil {
		kill(fmt.Sprintf("agent process: read its messages: %v", err))
	}
	waitErr := cmd.Wait()
	close(done)
	closeIn()
	rpcCancel()
	rpcs.Wait()
	watchers.Wait()

	if result != nil {
		if result.Error == "" {
			return result, nil
		}
		if err := ctx.Err(); err != nil && result.Error == err.Error() {
			return nil, err
		}
		err := errors.New(result.Error)
		if result.Permanent {
			err = agent.Permanent(err)
		}
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	kmu.Lock()
	reason, seen := killReason, peak
	kmu.Unlock()
	if reason != "" {
		return nil, errors.New(reason)
	}
	why := describeExit(cmd.ProcessState, waitErr, seen, p.cfg.MemoryLimit, tail.String())
	if p.cfg.Logger != nil {
		p.cfg.Logger.Warn("agent process died", slog.String("agent", name), slog.String("job_id", env.JobID),
			slog.String("node", env.NodeID), slog.String("reason", why), slog.String("output_tail", tail.String()))
	}
	return nil, errors.New(why)
}

// describeExit says why a child ended without a result.
func describeExit(st *os.ProcessState, waitErr error, seen, limit int64, out string) string {
	if st == nil {
		return fmt.Sprintf("agent process: %v", waitErr)
	}
	peak := seen
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		peak = max(peak, ru.Maxrss<<10) // kB on Linux
	}
	ws, _ := st.Sys().(syscall.WaitStatus)
	line := excerpt(out)
	switch {
	case ws.Signaled() && ws.Signal() == syscall.SIGKILL:
		return fmt.Sprintf("agent process killed by signal 9 (out of memory?) after %d MB", peak>>20)
	case ws.Signaled():
		s := fmt.Sprintf("agent process killed by signal %d (%v) after %d MB", int(ws.Signal()), ws.Signal(), peak>>20)
		if line != "" {
			s += ": " + line
		}
		return s
	case strings.Contains(out, "out of memory") || strings.Contains(out, "cannot allocate memory"):
		s := fmt.Sprintf("agent process ran out of memory after %d MB", peak>>20)
		if limit > 0 {
			s += fmt.Sprintf(" (limit %d MB)", limit>>20)
		}
		return s + ": " + line
	default:
		s := fmt.Sprintf("agent process exited with status %d and no result", st.ExitCode())
		if line != "" {
			s += ": " + line
		}
		return s
	}
}

// excerpt picks the line of a child's output that says what went wrong:
// a Go runtime's fatal error or panic, else the last line.
func excerpt(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	pick := ""
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "fatal error:") || strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "runtime: out of memory") {
			pick = l
			break
		}
	}
	if pick == "" && len(lines) > 0 {
		pick = strings.TrimSpace(lines[len(lines)-1])
	}
	if len(pick) > 300 {
		pick = pick[:300] + "…"
	}
	return pick
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.ToValidUTF8(t.b, nil))
}
