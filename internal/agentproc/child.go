package agentproc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/outbound"
)

// Serve is the child's side (`whet agent-exec`): it reads the start message
// from in (its stdin), runs the agent named there from reg, streams the
// run's events to out (file descriptor 3) and writes the result. It returns
// once the result is written. A closed in cancels the run: the parent
// closes it to cancel, and it closes when the parent dies.
//
// Serve makes this process the one the kernel's out-of-memory killer takes
// first, and sets the Go runtime's soft memory limit just below the limit
// the parent enforces, so the collector works harder before the parent
// kills the process.
func Serve(ctx context.Context, reg *agent.Registry, in io.Reader, out io.Writer) error {
	os.WriteFile("/proc/self/oom_score_adj", []byte("1000"), 0) // best effort: Linux only
	c := &conn{enc: json.NewEncoder(out), pending: map[int64]chan msg{}}
	dec := json.NewDecoder(bufio.NewReader(in))
	var start msg
	if err := dec.Decode(&start); err != nil {
		return fmt.Errorf("agent-exec: read start message: %w", err)
	}
	if start.Type != tStart || start.Env == nil {
		return fmt.Errorf("agent-exec: first message is %q, want %q", start.Type, tStart)
	}
	if start.MemoryLimit > 0 {
		debug.SetMemoryLimit(start.MemoryLimit / 10 * 9)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.cancel = cancel
	go c.readReplies(dec)

	ag, ok := reg.Lookup(start.Agent)
	if !ok {
		return c.send(msg{Type: tResult, Error: fmt.Sprintf("agent %q is not available in the agent process", start.Agent), Permanent: true})
	}
	e := start.Env
	env := &agent.Env{
		JobID: e.JobID, NodeID: e.NodeID, Attempt: e.Attempt,
		Params: agent.Params(e.Params), Inputs: e.Inputs, OutDir: e.OutDir, WorkDir: e.WorkDir,
		Emit:   emitter{c},
		Logger: slog.New(&handler{c: c, debug: e.Debug}),
	}
	if env.Params == nil {
		env.Params = agent.Params{}
	}
	if e.Resolve {
		env.ResolveSource = func(ctx context.Context, ref, kind string) (string, error) {
			r, err := c.call(ctx, msg{Type: tResolve, Ref: ref, Kind: kind})
			return r.Path, err
		}
	}
	if e.Checkpoints {
		env.Checkpoints = checkpoints{c}
	}
	if e.HTTP {
		p, err := outbound.New(e.AllowURL)
		if err != nil {
			return c.send(msg{Type: tResult, Error: err.Error(), Permanent: true})
		}
		env.HTTP = p.Client(0)
	}
	var res msg
	var err error
	switch start.Mode {
	case modeRun:
		var outs []agent.Artifact
		outs, err = safeRun(ctx, ag, env)
		res = msg{Type: tResult, Outputs: outs}
	case modeEstimate:
		var est *agent.Estimate
		est, err = safeEstimate(ctx, ag, env)
		res = msg{Type: tResult, Estimate: est}
	default:
		err = agent.Permanent(fmt.Errorf("agent-exec: unknown mode %q", start.Mode))
	}
	if err != nil {
		res = msg{Type: tResult, Error: err.Error(), Permanent: agent.IsPermanent(err)}
	}
	if err := c.send(res); err != nil {
		// An output's meta that JSON cannot carry: say so rather than vanish.
		res = msg{Type: tResult, Error: fmt.Sprintf("agent %s: encode result: %v", start.Agent, err), Permanent: true}
		return c.send(res)
	}
	return nil
}

// safeRun runs the agent, turning a panic into a permanent error as the
// in-process orchestrator does.
func safeRun(ctx context.Context, ag agent.Agent, env *agent.Env) (outs []agent.Artifact, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = agent.Permanent(fmt.Errorf("agent %s panicked: %v\n%s", ag.Spec().Name, r, debug.Stack()))
		}
	}()
	return ag.Run(ctx, env)
}

// safeEstimate asks the agent for an estimate, turning a panic into an error.
func safeEstimate(ctx context.Context, ag agent.Agent, env *agent.Env) (est *agent.Estimate, err error) {
	e, ok := ag.(agent.Estimator)
	if !ok {
		return nil, agent.Permanent(fmt.Errorf("agent %s does not estimate", ag.Spec().Name))
	}
	defer func() {
		if r := recover(); r != nil {
			err = agent.Permanent(fmt.Errorf("agent %s panicked while estimating: %v\n%s", ag.Spec().Name, r, debug.Stack()))
		}
	}()
	return e.Estimate(ctx, env)
}

// conn is the child's end of the protocol.
type conn struct {
	mu     sync.Mutex
	enc    *json.Encoder
	dead   bool
	cancel context.CancelFunc

	next    atomic.Int64
	pmu     sync.Mutex
	pending map[int64]chan msg
	closed  bool // in reached its end: no more replies
}

var errParentGone = errors.New("agent process: the worker closed the run (cancelled, or it stopped)")

// send writes one message; a failed write (the parent is gone) cancels the
// run.
func (c *conn) send(m msg) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return errParentGone
	}
	if err := c.enc.Encode(m); err != nil {
		var je *json.UnsupportedValueError
		if errors.As(err, &je) {
			return err
		}
		c.dead = true
		if c.cancel != nil {
			c.cancel()
		}
		return err
	}
	return nil
}

// call sends a request and waits for its reply.
func (c *conn) call(ctx context.Context, m msg) (msg, error) {
	m.ID = c.next.Add(1)
	ch := make(chan msg, 1)
	c.pmu.Lock()
	if c.closed {
		c.pmu.Unlock()
		return msg{}, errParentGone
	}
	c.pending[m.ID] = ch
	c.pmu.Unlock()
	defer func() {
		c.pmu.Lock()
		delete(c.pending, m.ID)
		c.pmu.Unlock()
	}()
	if err := c.send(m); err != nil {
		return msg{}, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return msg{}, errParentGone
		}
		if r.Error != "" {
			err := errors.New(r.Error)
			if r.Permanent {
				err = agent.Permanent(err)
			}
			return r, err
		}
		return r, nil
	case <-ctx.Done():
		return msg{}, ctx.Err()
	}
}

// readReplies routes the parent's replies until in ends, then cancels.
func (c *conn) readReplies(dec *json.Decoder) {
	for {
		var m msg
		if err := dec.Decode(&m); err != nil {
			break
		}
		if m.Type != tReply {
			continue
		}
		c.pmu.Lock()
		ch := c.pending[m.ID]
		c.pmu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
	c.pmu.Lock()
	c.closed = true
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	c.pmu.Unlock()
	c.cancel()
}

// emitter forwards an agent's events to the parent.
type emitter struct{ c *conn }

func (e emitter) Log(level slog.Level, message string, attrs ...slog.Attr) {
	e.c.send(msg{Type: tLog, Level: level, Message: message, Attrs: encodeAttrs("", attrs, nil)})
}

func (e emitter) Progress(fraction float64, eta time.Duration, message string) {
	e.c.send(msg{Type: tProgress, Frac: jfloat(fraction), ETA: eta, Message: message})
}

func (e emitter) Metrics(step int, values map[string]float64) {
	e.c.send(msg{Type: tMetrics, Step: step, Values: toJFloats(values)})
}

// handler forwards Env.Logger's records (Info and above, Debug when the
// parent logs it) to the parent's Env.Logger.
type handler struct {
	c     *conn
	debug bool
	attrs []slog.Attr
	group string
}

func (h *handler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.debug
}

func (h *handler) Handle(_ context.Context, r slog.Record) error {
	as := append([]slog.Attr(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		if h.group != "" {
			a.Key = h.group + "." + a.Key
		}
		as = append(as, a)
		return true
	})
	return h.c.send(msg{Type: tSlog, Level: r.Level, Message: r.Message, Attrs: encodeAttrs("", as, nil)})
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	for _, a := range as {
		if h.group != "" {
			a.Key = h.group + "." + a.Key
		}
		c.attrs = append(append([]slog.Attr(nil), c.attrs...), a)
	}
	return &c
}

func (h *handler) WithGroup(name string) slog.Handler {
	c := *h
	if c.group != "" {
		name = c.group + "." + name
	}
	c.group = name
	return &c
}

// checkpoints asks the parent to save and restore checkpoint folders: both
// processes see the same scratch folder.
type checkpoints struct{ c *conn }

func (k checkpoints) Save(ctx context.Context, step int, dir string) error {
	_, err := k.c.call(ctx, msg{Type: tSave, Step: step, Dir: dir})
	return err
}

func (k checkpoints) Restore(ctx context.Context, parent string) (int, error) {
	r, err := k.c.call(ctx, msg{Type: tRestore, Dir: parent})
	return r.Step, err
}
