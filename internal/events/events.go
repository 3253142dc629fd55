// Package events stores and fans out job events. Publishing writes the event
// to the store (which assigns its per-job sequence number atomically, so the
// order per job is total) and then wakes the in-process subscribers without
// blocking. Subscribers read from the store, after the last sequence number
// they saw: a slow or dead subscriber only delays itself, a reconnecting one
// replays from Last-Event-ID, and polling the store at PollInterval brings in
// events written by other processes (a separate `whet worker`).
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/store"
)

// The event types.
const (
	Log      = "log"
	Progress = "progress"
	Metric   = "metric"
	Node     = "node"
	Status   = "status"
)

// LogData is a log event's data.
type LogData struct {
	Level string         `json:"level"`
	Msg   string         `json:"msg"`
	Attrs map[string]any `json:"attrs,omitempty"`
}

// ProgressData is a progress event's data.
type ProgressData struct {
	Fraction float64 `json:"fraction"`
	ETASec   float64 `json:"eta_s"`
	Message  string  `json:"message,omitempty"`
}

// MetricData is a metric event's data.
type MetricData struct {
	Step int `json:"step"`
	// Values are numbers, or null for NaN and infinities (JSON has none).
	Values map[string]any `json:"values"`
}

// NodeData is a node event's data: a node changed status.
type NodeData struct {
	Status  store.Status     `json:"status"`
	Attempt int              `json:"attempt,omitempty"`
	Error   string           `json:"error,omitempty"`
	Cached  bool             `json:"cached,omitempty"`
	Outputs []agent.Artifact `json:"outputs,omitempty"`
	RetryIn float64          `json:"retry_in_s,omitempty"`
}

// StatusData is a status event's data: the job changed status.
type StatusData struct {
	Status store.Status `json:"status"`
	Error  string       `json:"error,omitempty"`
}

// New returns an event of type typ for job and node with data encoded.
func New(jobID, node, typ string, data any) *store.Event {
	b, err := json.Marshal(data)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": fmt.Sprintf("unencodable event data: %v", err)})
	}
	return &store.Event{JobID: jobID, Node: node, Type: typ, Time: time.Now().UTC(), Data: b}
}

// Fanout carries stored events between processes: the wake-up path beside
// the store (which stays the source of truth). The Redis Streams backend
// (package redisevents) implements it; without one, subscribers poll the
// store for other processes' events.
type Fanout interface {
	// Publish announces events of jobID that were stored (in seq order)
	// to every process; no events is a bare wake-up (events were stored
	// some other way: read the store). An error loses no event (the store
	// has them), but subscribers in other processes cannot tell that an
	// announcement failed: the implementation must send jobID a wake-up
	// once it can publish again, or they wait for SafetyPoll.
	Publish(ctx context.Context, jobID string, evs []store.Event) error
	// Watch calls fn with the events of jobID that any process publishes
	// from now on (when Watch returns) until ctx ends. fn(nil) means some
	// may have been missed (a reconnect): read the store.
	Watch(ctx context.Context, jobID string, fn func([]store.Event)) error
	// Healthy reports whether the last publish and watch worked.
	Healthy() bool
}

// SafetyPoll is how often a subscriber reads the store when a healthy
// Fanout wakes it: only a guard against a lost wake-up.
const SafetyPoll = 10 * time.Second

// Bus publishes and fans out events.
type Bus struct {
	st     store.Store
	poll   time.Duration
	log    *slog.Logger
	fanout Fanout
	// watches are the per-job Fanout watchers of this process.
	watches map[string]*watch

	mu   sync.Mutex
	subs map[string]map[*Subscription]struct{}
	// tails hold the latest contiguous events published in this process
	// for jobs with subscribers, so a fan-out to many subscribers reads
	// memory instead of the store.
	tails map[string][]store.Event
}

// watch is one job's Fanout watcher.
type watch struct {
	cancel context.CancelFunc
	// ready is closed once Fanout.Watch returned: from then on every
	// event published anywhere wakes the job's subscribers.
	ready chan struct{}
}

// tailLen bounds each job's in-memory tail.
const tailLen = 512

// NewBus returns a bus over st. Subscribers poll st every poll (default
// 500ms) for events from other processes.
func NewBus(st store.Store, poll time.Duration, log *slog.Logger) *Bus {
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Bus{st: st, poll: poll, log: log, subs: map[string]map[*Subscription]struct{}{}, tails: map[string][]store.Event{},
		watches: map[string]*watch{}}
}

// SetFanout makes the bus announce events through f and wake its
// subscribers from it. Call it before use.
func (b *Bus) SetFanout(f Fanout) { b.fanout = f }

// fan publishes stored events to other processes.
func (b *Bus) fan(ctx context.Context, jobID string, evs []store.Event) {
	if b.fanout == nil {
		return
	}
	if err := b.fanout.Publish(ctx, jobID, evs); err != nil {
		b.log.Warn("events fan-out failed; subscribers poll the store until it is back", slog.String("job_id", jobID), slog.Any("error", err))
	}
}

// received handles events (nil: a possible gap) from the fan-out.
func (b *Bus) received(jobID string, evs []store.Event) {
	for _, e := range evs {
		b.remember(e)
	}
	b.wakeLocal(jobID)
}

// Subscribers reports how many subscriptions are open in this process.
func (b *Bus) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, s := range b.subs {
		n += len(s)
	}
	return n
}

// Publish stores e (assigning e.Seq) and wakes its job's subscribers.
func (b *Bus) Publish(ctx context.Context, e *store.Event) error {
	if err := b.st.InTx(ctx, func(tx store.Tx) error { return tx.AppendEvent(ctx, e) }); err != nil {
		return err
	}
	b.remember(*e)
	b.wakeLocal(e.JobID)
	b.fan(ctx, e.JobID, []store.Event{*e})
	return nil
}

// remember appends e to its job's tail when it continues it, else starts
// the tail again at e (events stored in other transactions leave gaps).
func (b *Bus) remember(e store.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.subs[e.JobID]) == 0 {
		return
	}
	t := b.tails[e.JobID]
	if len(t) > 0 && e.Seq >= t[0].Seq && e.Seq <= t[len(t)-1].Seq {
		return // already held (our own event, back from the fan-out)
	}
	if len(t) > 0 && t[len(t)-1].Seq+1 == e.Seq {
		if len(t) >= tailLen {
			t = append(t[:0:0], t[len(t)-tailLen/2:]...)
		}
		b.tails[e.JobID] = append(t, e)
		return
	}
	b.tails[e.JobID] = []store.Event{e}
}

// fromTail returns the events after seq when the tail holds all of them
// up to its end, and false when the store must be read.
func (b *Bus) fromTail(jobID string, after int64) ([]store.Event, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.tails[jobID]
	if len(t) == 0 || t[0].Seq > after+1 || t[len(t)-1].Seq <= after {
		return nil, false
	}
	i := int(after + 1 - t[0].Seq)
	return append([]store.Event(nil), t[i:]...), true
}

// PublishActive stores events of a job that has not ended, in one
// transaction; once it has, they are dropped, so the final status event
// stays last.
func (b *Bus) PublishActive(ctx context.Context, evs ...*store.Event) error {
	if len(evs) == 0 {
		return nil
	}
	stored := make([]bool, len(evs))
	err := b.st.InTx(ctx, func(tx store.Tx) error {
		for i, e := range evs {
			ok, err := tx.AppendActiveEvent(ctx, e)
			if err != nil {
				return err
			}
			stored[i] = ok
		}
		return nil
	})
	if err != nil {
		return err
	}
	var out []store.Event
	for i, e := range evs {
		if stored[i] {
			b.remember(*e)
			out = append(out, *e)
		}
	}
	b.wakeLocal(evs[0].JobID)
	b.fan(ctx, evs[0].JobID, out)
	return nil
}

// Notify wakes jobID's subscribers in every process, after events were
// stored some other way (in a transaction with other writes). It does not
// wait on subscribers.
func (b *Bus) Notify(jobID string) {
	b.wakeLocal(jobID)
	b.fan(context.Background(), jobID, nil)
}

// wakeLocal wakes this process's subscribers of jobID. It never blocks.
func (b *Bus) wakeLocal(jobID string) {
	b.mu.Lock()
	for s := range b.subs[jobID] {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	b.mu.Unlock()
}

// Subscription reads a job's events in order.
type Subscription struct {
	b     *Bus
	jobID string
	last  int64
	wake  chan struct{}
	// retry is how long to wait before reading the store again after a
	// failed read (0: the last read worked).
	retry time.Duration
}

// maxRetry bounds the wait between reads of a store that keeps failing.
const maxRetry = 5 * time.Second

// readFailed notes a failed read of the store: the subscription reads
// again after retry (at its next poll tick), which doubles from 100ms to
// maxRetry while reads fail.
func (s *Subscription) readFailed(err error) {
	if s.retry == 0 {
		s.b.log.Warn("events: reading the store failed; the subscription keeps trying", slog.String("job_id", s.jobID), slog.Int64("after", s.last), slog.Any("error", err))
	}
	s.retry = min(max(2*s.retry, 100*time.Millisecond), maxRetry)
}

// Subscribe returns a subscription to jobID's events after seq after (0 for
// all). Close it when done. With a Fanout, it returns once the job's watch
// listens (the first subscriber of a job in this process starts it, and
// later ones wait for it: a round trip to the fan-out), so whatever the
// subscription misses in its first read of the store wakes it.
func (b *Bus) Subscribe(jobID string, after int64) *Subscription {
	s := &Subscription{b: b, jobID: jobID, last: after, wake: make(chan struct{}, 1)}
	b.mu.Lock()
	if b.subs[jobID] == nil {
		b.subs[jobID] = map[*Subscription]struct{}{}
	}
	b.subs[jobID][s] = struct{}{}
	w := b.watches[jobID]
	first := b.fanout != nil && w == nil
	var wctx context.Context
	if first {
		var cancel context.CancelFunc
		wctx, cancel = context.WithCancel(context.Background())
		w = &watch{cancel: cancel, ready: make(chan struct{})}
		b.watches[jobID] = w
	}
	b.mu.Unlock()
	if first {
		if err := b.fanout.Watch(wctx, jobID, func(evs []store.Event) { b.received(jobID, evs) }); err != nil {
			b.log.Warn("events fan-out watch failed; polling the store", slog.String("job_id", jobID), slog.Any("error", err))
		}
		close(w.ready)
	} else if w != nil {
		<-w.ready
	}
	return s
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.b.mu.Lock()
	delete(s.b.subs[s.jobID], s)
	if len(s.b.subs[s.jobID]) == 0 {
		delete(s.b.subs, s.jobID)
		delete(s.b.tails, s.jobID)
		if w := s.b.watches[s.jobID]; w != nil {
			w.cancel()
			delete(s.b.watches, s.jobID)
		}
	}
	s.b.mu.Unlock()
}

// Next returns the next events in order, waiting up to maxWait for some. It
// returns no events and no error when maxWait passes (time for a heartbeat),
// and ctx's error when ctx ends; it returns no other error. A read of the
// store that fails (a lost database connection, a restart) is logged and
// tried again at the next poll, and less often while it keeps failing (up
// to every 5s), until one works: a subscription outlives the failure and then goes on after
// the last event it returned, so nothing is lost or repeated.
func (s *Subscription) Next(ctx context.Context, maxWait time.Duration) ([]store.Event, error) {
	deadline := time.NewTimer(maxWait)
	defer deadline.Stop()
	tick := time.NewTicker(s.b.poll)
	defer tick.Stop()
	for {
		evs, ok := s.b.fromTail(s.jobID, s.last)
		if !ok {
			var err error
			if evs, err = s.b.st.ListEvents(ctx, s.jobID, s.last, 500); err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				s.readFailed(err)
				evs = nil
			} else if s.retry > 0 {
				s.retry = 0
				s.b.log.Info("events: reading the store works again", slog.String("job_id", s.jobID), slog.Int64("after", s.last))
			}
		}
		if len(evs) > 0 {
			s.last = evs[len(evs)-1].Seq
			return evs, nil
		}
		lastRead := time.Now()
	wait:
		for {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-deadline.C:
				return nil, nil
			case <-s.wake:
				break wait
			case <-tick.C:
				// With a healthy fan-out the wake-ups come from it; the
				// store is read now and then only as a guard. After a
				// failed read it is read again once retry has passed.
				since := time.Since(lastRead)
				if s.retry > 0 {
					if since >= s.retry {
						break wait
					}
					continue
				}
				if f := s.b.fanout; f == nil || !f.Healthy() || since >= SafetyPoll {
					break wait
				}
			}
		}
	}
}

// IsFinal reports whether e is a status event with a terminal status: the
// last event of a job.
func IsFinal(e store.Event) bool {
	if e.Type != Status {
		return false
	}
	var d StatusData
	json.Unmarshal(e.Data, &d)
	return d.Status.Terminal()
}

// Emitter is an agent.Emitter that publishes to a bus as one node of a
// job. Agents never wait on the store: events go through a buffer to a
// writer goroutine that stores them in batches (one transaction each), in
// order. Once ctx ends (the run was cancelled), events are dropped, so an
// agent is never stuck emitting and a cancelled job's history ends with its
// final status event. Close flushes.
type Emitter struct {
	bus           *Bus
	jobID, nodeID string
	ctx           context.Context

	mu     sync.RWMutex
	closed bool
	ch     chan *store.Event
	done   chan struct{}
	// skipThrough drops metric events of steps up to it (already shown by
	// an earlier attempt of the node).
	skipThrough atomic.Int64
}

// SkipMetricsThrough drops metric events with step <= step from now on: an
// attempt that resumes a node re-reports nothing an earlier one showed, so
// step numbers in a job's events never repeat.
func (e *Emitter) SkipMetricsThrough(step int) { e.skipThrough.Store(int64(step)) }

var _ agent.Emitter = (*Emitter)(nil)

// emitterBuffer is how many events may wait for the writer.
const emitterBuffer = 4096

// NewEmitter starts an emitter for node of job; ctx is the node's run.
func NewEmitter(ctx context.Context, bus *Bus, jobID, nodeID string) *Emitter {
	e := &Emitter{bus: bus, jobID: jobID, nodeID: nodeID, ctx: ctx,
		ch: make(chan *store.Event, emitterBuffer), done: make(chan struct{})}
	go e.write()
	return e
}

func (e *Emitter) write() {
	defer close(e.done)
	ctx := context.WithoutCancel(e.ctx)
	batch := make([]*store.Event, 0, 256)
	for ev := range e.ch {
		batch = append(batch[:0], ev)
	more:
		for len(batch) < cap(batch) {
			select {
			case ev, ok := <-e.ch:
				if !ok {
					break more
				}
				batch = append(batch, ev)
			default:
				break more
			}
		}
		if err := e.bus.PublishActive(ctx, batch...); err != nil {
			e.bus.log.Error("publish events", slog.String("job_id", e.jobID), slog.String("node", e.nodeID), slog.Int("events", len(batch)), slog.Any("error", err))
		}
	}
}

// Close stores the events emitted so far and stops the emitter; later
// events are dropped. Safe to call twice.
func (e *Emitter) Close() {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		close(e.ch)
	}
	e.mu.Unlock()
	<-e.done
}

func (e *Emitter) publish(typ string, data any) {
	if e.ctx.Err() != nil {
		return
	}
	ev := New(e.jobID, e.nodeID, typ, data)
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return
	}
	select {
	case e.ch <- ev:
	case <-e.ctx.Done():
	}
}

// Log implements agent.Emitter.
func (e *Emitter) Log(level slog.Level, msg string, attrs ...slog.Attr) {
	d := LogData{Level: level.String(), Msg: msg}
	if len(attrs) > 0 {
		d.Attrs = map[string]any{}
		for _, a := range attrs {
			v := a.Value.Resolve().Any()
			switch x := v.(type) {
			case error:
				v = x.Error()
			case time.Duration:
				v = x.String()
			case float64:
				if math.IsNaN(x) || math.IsInf(x, 0) {
					v = nil
				}
			}
			d.Attrs[a.Key] = v
		}
	}
	e.publish(Log, d)
}

// Progress implements agent.Emitter.
func (e *Emitter) Progress(fraction float64, eta time.Duration, message string) {
	e.publish(Progress, ProgressData{Fraction: fraction, ETASec: eta.Seconds(), Message: message})
}

// Metrics implements agent.Emitter.
func (e *Emitter) Metrics(step int, values map[string]float64) {
	if int64(step) <= e.skipThrough.Load() {
		return
	}
	vals := make(map[string]any, len(values))
	for k, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			vals[k] = nil
		} else {
			vals[k] = v
		}
	}
	e.publish(Metric, MetricData{Step: step, Values: vals})
}

// LastMetricStep returns the highest step of node's metric events stored
// for job (0 when there is none).
func LastMetricStep(ctx context.Context, st store.Store, jobID, node string) (int, error) {
	var last int
	var after int64
	for {
		evs, err := st.ListEvents(ctx, jobID, after, 1000)
		if err != nil {
			return 0, err
		}
		for _, e := range evs {
			if e.Type == Metric && e.Node == node {
				var d MetricData
				if json.Unmarshal(e.Data, &d) == nil && d.Step > last {
					last = d.Step
				}
			}
		}
		if len(evs) < 1000 {
			return last, nil
		}
		after = evs[len(evs)-1].Seq
	}
}
