package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/store"
	"github.com/whetstone/whetstone/internal/store/sqlitestore"
)

func setup(t *testing.T) (*Bus, *sqlitestore.DB, string) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "whet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	j := &store.Job{ID: store.NewID("job"), Name: "p", Status: store.Running, Spec: []byte(`{}`), CreatedAt: time.Now()}
	if err := st.InTx(ctx, func(tx store.Tx) error { return tx.CreateJob(ctx, j) }); err != nil {
		t.Fatal(err)
	}
	return NewBus(st, 50*time.Millisecond, nil), st, j.ID
}

func TestOrderUnderConcurrentPublishers(t *testing.T) {
	t.Parallel()
	bus, _, job := setup(t)
	ctx := context.Background()
	sub := bus.Subscribe(job, 0)
	defer sub.Close()
	// A subscriber that never reads must not slow publishing.
	dead := bus.Subscribe(job, 0)
	defer dead.Close()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				e := New(job, fmt.Sprint("n", w), Log, LogData{Level: "INFO", Msg: fmt.Sprint(i)})
				if err := bus.Publish(ctx, e); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("publishing 200 events with a dead subscriber took over 10s")
	}
	var got []store.Event
	perNode := map[string]int{}
	for len(got) < 200 {
		evs, err := sub.Next(ctx, time.Second)
		if err != nil || len(evs) == 0 {
			t.Fatalf("Next after %d events: %v", len(got), err)
		}
		got = append(got, evs...)
	}
	for i, e := range got {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
		var d LogData
		json.Unmarshal(e.Data, &d)
		if d.Msg != fmt.Sprint(perNode[e.Node]) {
			t.Fatalf("node %s: message %s out of order (want %d)", e.Node, d.Msg, perNode[e.Node])
		}
		perNode[e.Node]++
	}
}

// Events stored by another process (no Notify here) reach subscribers by
// polling; Next returns empty at maxWait for heartbeats.
func TestPollPicksUpOtherWriters(t *testing.T) {
	t.Parallel()
	bus, st, job := setup(t)
	ctx := context.Background()
	sub := bus.Subscribe(job, 0)
	defer sub.Close()
	t0 := time.Now()
	evs, err := sub.Next(ctx, 100*time.Millisecond)
	if err != nil || len(evs) != 0 || time.Since(t0) < 100*time.Millisecond {
		t.Fatalf("Next on no events = %v, %v after %s", evs, err, time.Since(t0))
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		st.InTx(ctx, func(tx store.Tx) error {
			return tx.AppendEvent(ctx, New(job, "", Status, StatusData{Status: store.Succeeded}))
		})
	}()
	evs, err = sub.Next(ctx, 5*time.Second)
	if err != nil || len(evs) != 1 || !IsFinal(evs[0]) {
		t.Fatalf("Next = %+v, %v", evs, err)
	}
}

func TestEmitterEncodesAndStopsAfterJobEnds(t *testing.T) {
	t.Parallel()
	bus, st, job := setup(t)
	ctx := context.Background()
	em := NewEmitter(ctx, bus, job, "n")
	em.Metrics(3, map[string]float64{"loss": 0.5, "bad": math.NaN()})
	em.Log(0, "hi")
	em.Close()
	em.Progress(1, 0, "after close")
	em = NewEmitter(ctx, bus, job, "n")
	defer em.Close()
	st.InTx(ctx, func(tx store.Tx) error {
		tx.SetJobStatus(ctx, job, store.Cancelled, "", time.Now())
		return tx.AppendEvent(ctx, New(job, "", Status, StatusData{Status: store.Cancelled}))
	})
	em.Progress(1, 0, "late")
	em.Close()
	evs, _ := st.ListEvents(ctx, job, 0, 0)
	if len(evs) != 3 || evs[0].Type != Metric || string(evs[0].Data) != `{"step":3,"values":{"bad":null,"loss":0.5}}` || !IsFinal(evs[2]) {
		t.Errorf("events = %+v", evs)
	}
}

// Events stored outside Publish leave a gap in the tail; subscribers must
// still see every event once, in order.
func TestTailWithGaps(t *testing.T) {
	t.Parallel()
	bus, st, job := setup(t)
	ctx := context.Background()
	sub := bus.Subscribe(job, 0)
	defer sub.Close()
	for i := range 30 {
		e := New(job, "n", Log, LogData{Msg: fmt.Sprint(i)})
		if i%7 == 3 {
			st.InTx(ctx, func(tx store.Tx) error { return tx.AppendEvent(ctx, e) })
			bus.Notify(job)
		} else if err := bus.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			continue // let events pile up between reads
		}
	}
	var got []store.Event
	for len(got) < 30 {
		evs, err := sub.Next(ctx, time.Second)
		if err != nil || len(evs) == 0 {
			t.Fatalf("after %d events: %v", len(got), err)
		}
		got = append(got, evs...)
	}
	for i, e := range got {
		var d LogData
		json.Unmarshal(e.Data, &d)
		if e.Seq != int64(i+1) || d.Msg != fmt.Sprint(i) {
			t.Fatalf("event %d: seq %d msg %s", i, e.Seq, d.Msg)
		}
	}
}

// Emitting never waits on the store, and a cancelled run's emits return at
// once even when the buffer is full and the store is blocked.
func TestEmitterDoesNotBlockTheAgent(t *testing.T) {
	t.Parallel()
	bus, st, job := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	em := NewEmitter(ctx, bus, job, "n")
	release := make(chan struct{})
	locked := make(chan struct{})
	go st.InTx(context.Background(), func(tx store.Tx) error { close(locked); <-release; return nil })
	<-locked
	t0 := time.Now()
	for i := range 1000 {
		em.Log(0, fmt.Sprint(i))
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("1000 emits with the store locked took %s", d)
	}
	cancel()
	for range emitterBuffer + 10 { // more than the buffer holds: must not block once cancelled
		em.Log(0, "x")
	}
	close(release)
	em.Close()
	evs, _ := st.ListEvents(context.Background(), job, 0, 10000)
	if len(evs) < 1000 {
		t.Errorf("%d events stored, want the 1000 emitted before cancelling", len(evs))
	}
	for i, e := range evs[:1000] {
		var d LogData
		json.Unmarshal(e.Data, &d)
		if d.Msg != fmt.Sprint(i) {
			t.Fatalf("event %d = %s", i, d.Msg)
		}
	}
}

// flakyStore fails ListEvents while fail is above zero, as a store whose
// database connection was lost does.
type flakyStore struct {
	store.Store
	fail  atomic.Int64
	reads atomic.Int64
}

func (f *flakyStore) ListEvents(ctx context.Context, jobID string, after int64, limit int) ([]store.Event, error) {
	f.reads.Add(1)
	if f.fail.Add(-1) >= 0 {
		return nil, errors.New("list events: FATAL: terminating connection due to administrator command (SQLSTATE 57P01)")
	}
	return f.Store.ListEvents(ctx, jobID, after, limit)
}

// A subscription outlives failed reads of the store: Next returns no
// error (heartbeats go on) while they fail, then the events after the last
// one it returned, none lost or repeated.
func TestSubscriptionOutlivesStoreFailures(t *testing.T) {
	t.Parallel()
	_, st, job := setup(t)
	ctx := context.Background()
	flaky := &flakyStore{Store: st}
	bus := NewBus(flaky, 20*time.Millisecond, nil)
	other := NewBus(st, 20*time.Millisecond, nil) // another process
	publish := func(n int) {
		for i := range n {
			if err := other.Publish(ctx, New(job, "", Log, LogData{Level: "INFO", Msg: fmt.Sprint(i)})); err != nil {
				t.Fatal(err)
			}
		}
	}
	sub := bus.Subscribe(job, 0)
	defer sub.Close()
	var got []int64
	next := func(maxWait time.Duration) int {
		t.Helper()
		evs, err := sub.Next(ctx, maxWait)
		if err != nil {
			t.Fatalf("Next after event %d: %v", len(got), err)
		}
		for _, e := range evs {
			got = append(got, e.Seq)
		}
		return len(evs)
	}
	publish(3)
	if n := next(time.Second); n != 3 {
		t.Fatalf("got %d events, want 3", n)
	}
	// The store fails for longer than maxWait: a heartbeat, no error.
	flaky.fail.Store(1 << 30)
	publish(2)
	t0 := time.Now()
	if n := next(150 * time.Millisecond); n != 0 {
		t.Fatalf("got %d events while the store fails", n)
	}
	if d := time.Since(t0); d < 150*time.Millisecond {
		t.Fatalf("Next returned after %s, before maxWait", d)
	}
	// A few more failures, then it works: the two events, once.
	flaky.fail.Store(3)
	reads := flaky.reads.Load()
	if n := next(5 * time.Second); n != 2 {
		t.Fatalf("got %d events once the store is back, want 2", n)
	}
	if r := flaky.reads.Load() - reads; r < 4 {
		t.Errorf("%d reads, want the 3 that failed and one that worked", r)
	}
	publish(1)
	next(time.Second)
	for i, s := range got {
		if s != int64(i+1) {
			t.Fatalf("seqs %v: want 1..%d, each once", got, len(got))
		}
	}
	if len(got) != 6 {
		t.Fatalf("got %d events, want 6", len(got))
	}
}
