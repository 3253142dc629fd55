// Package eventstest is the contract every event path must pass: two
// events.Bus values over one store stand for two processes (a worker that
// publishes, an API process that serves SSE), with or without a Fanout.
package eventstest

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/events"
	"github.com/whetstone/whetstone/internal/store"
	"github.com/whetstone/whetstone/internal/store/sqlitestore"
)

// Open returns two buses over one store, as two processes have them, and the
// id of a fresh running job in it.
type Open func(t *testing.T) (a, b *events.Bus, st store.Store, jobID string)

// wait is how long a subscriber may take to see an event: generous, since
// the check is that events arrive, not how fast.
const wait = 20 * time.Second

// Run checks what every event path must do.
func Run(t *testing.T, open Open) {
	t.Run("OtherProcessSeesAllInOrder", func(t *testing.T) {
		t.Parallel()
		a, b, st, job := open(t)
		ctx := context.Background()
		sub := b.Subscribe(job, 0)
		defer sub.Close()
		// Publishers on both processes at once, single events and batches.
		var wg sync.WaitGroup
		const perWorker = 60
		for w := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWorker {
					e := events.New(job, fmt.Sprint("n", w), events.Log, events.LogData{Level: "INFO", Msg: fmt.Sprint(i)})
					if err := a.Publish(ctx, e); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i += 4 {
				var batch []*store.Event
				for k := range 4 {
					batch = append(batch, events.New(job, "nb", events.Metric, events.MetricData{Step: i + k}))
				}
				if err := b.PublishActive(ctx, batch...); err != nil {
					t.Error(err)
				}
			}
		}()
		total := 4 * perWorker
		got := collect(t, sub, total)
		wg.Wait()
		checkSeqs(t, got, 1, total)
		stored, err := st.ListEvents(ctx, job, 0, total+1)
		if err != nil {
			t.Fatal(err)
		}
		for i := range stored {
			if stored[i].Seq != got[i].Seq || stored[i].Node != got[i].Node || string(stored[i].Data) != string(got[i].Data) {
				t.Fatalf("event %d differs from the store: got %+v, stored %+v", i, got[i], stored[i])
			}
		}
	})
	t.Run("ReplayAfterLastEventID", func(t *testing.T) {
		t.Parallel()
		a, b, _, job := open(t)
		ctx := context.Background()
		for i := range 30 {
			if err := a.Publish(ctx, events.New(job, "n", events.Progress, events.ProgressData{Fraction: float64(i) / 30})); err != nil {
				t.Fatal(err)
			}
		}
		// A client that saw 1..12 on one process reconnects to the other.
		sub := b.Subscribe(job, 12)
		defer sub.Close()
		go func() {
			for range 10 {
				a.Publish(ctx, events.New(job, "n", events.Log, events.LogData{Msg: "more"}))
			}
		}()
		checkSeqs(t, collect(t, sub, 28), 13, 40)
	})
	t.Run("NotifyAfterTransactionWakesOtherProcess", func(t *testing.T) {
		t.Parallel()
		a, b, st, job := open(t)
		ctx := context.Background()
		sub := b.Subscribe(job, 0)
		defer sub.Close()
		// Let the subscriber reach its wait first.
		first := make(chan []store.Event, 1)
		go func() {
			evs, _ := sub.Next(ctx, wait)
			first <- evs
		}()
		time.Sleep(100 * time.Millisecond)
		if err := st.InTx(ctx, func(tx store.Tx) error {
			return tx.AppendEvent(ctx, events.New(job, "n", events.Node, events.NodeData{Status: store.Running}))
		}); err != nil {
			t.Fatal(err)
		}
		a.Notify(job)
		evs := <-first
		if len(evs) != 1 || evs[0].Seq != 1 || evs[0].Type != events.Node {
			t.Fatalf("after Notify on the other process: %+v", evs)
		}
	})
	t.Run("ManySubscribersOneProcess", func(t *testing.T) {
		t.Parallel()
		a, b, _, job := open(t)
		ctx := context.Background()
		const subs, n = 20, 50
		var wg sync.WaitGroup
		results := make([][]store.Event, subs)
		for i := range subs {
			s := b.Subscribe(job, 0)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer s.Close()
				results[i] = collect(t, s, n)
			}()
		}
		for i := range n {
			if err := a.Publish(ctx, events.New(job, "n", events.Metric, events.MetricData{Step: i})); err != nil {
				t.Fatal(err)
			}
		}
		wg.Wait()
		for i := range subs {
			checkSeqs(t, results[i], 1, n)
		}
	})
}

// collect reads n events from sub, failing when they do not come in time.
func collect(t *testing.T, sub *events.Subscription, n int) []store.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var got []store.Event
	for len(got) < n {
		evs, err := sub.Next(ctx, time.Second)
		if err != nil {
			t.Fatalf("after %d of %d events: %v", len(got), n, err)
		}
		got = append(got, evs...)
	}
	return got
}

// checkSeqs asserts got is exactly from..to, each once, in order.
func checkSeqs(t *testing.T, got []store.Event, from, to int) {
	t.Helper()
	if len(got) != to-from+1 {
		t.Fatalf("got %d events, want %d (seq %d..%d)", len(got), to-from+1, from, to)
	}
	for i, e := range got {
		if e.Seq != int64(from+i) {
			t.Fatalf("event %d has seq %d, want %d: a gap, a duplicate or out of order", i, e.Seq, from+i)
		}
	}
}

// Pair is a store with a running job and two buses over it (two
// processes); fanout, when not nil, gives each bus its own fan-out.
func Pair(t *testing.T, poll time.Duration, fanout func(t *testing.T) events.Fanout) (a, b *events.Bus, st store.Store, jobID string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "whet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	j := &store.Job{ID: store.NewID("job"), Name: "p", Status: store.Running, Spec: []byte(`{}`), CreatedAt: time.Now()}
	if err := db.InTx(ctx, func(tx store.Tx) error { return tx.CreateJob(ctx, j) }); err != nil {
		t.Fatal(err)
	}
	a, b = events.NewBus(db, poll, nil), events.NewBus(db, poll, nil)
	if fanout != nil {
		a.SetFanout(fanout(t))
		b.SetFanout(fanout(t))
	}
	return a, b, db, j.ID
}
