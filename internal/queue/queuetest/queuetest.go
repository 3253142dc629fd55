// Package queuetest is the contract every queue backend must pass: tasks
// enqueued in a committed store transaction are delivered, rolled-back ones
// never, snoozes redeliver after their delay, concurrency is bounded, an
// insert-only queue works nothing, and Stop cancels what still runs.
package queuetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/queue"
	"github.com/whetstone/whetstone/internal/store"
)

// Opener returns a fresh store and a constructor of queues on it.
type Opener func(t *testing.T) (store.Store, func(h queue.Handler, cfg queue.Config) (*queue.Queue, error))

// Run checks what every queue backend must do.
func Run(t *testing.T, open Opener) {
	ctx := context.Background()
	enqueue := func(t *testing.T, st store.Store, q *queue.Queue, commit bool, tasks ...queue.Task) {
		t.Helper()
		rollback := errors.New("rollback")
		err := st.InTx(ctx, func(tx store.Tx) error {
			if err := q.EnqueueTx(ctx, tx, tasks...); err != nil {
				return err
			}
			if !commit {
				return rollback
			}
			return nil
		})
		if commit && err != nil || !commit && !errors.Is(err, rollback) {
			t.Fatal(err)
		}
	}
	start := func(t *testing.T, q *queue.Queue) {
		t.Helper()
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			q.Stop(sctx)
		})
	}
	wait := func(t *testing.T, what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	t.Run("CommittedDeliveredRolledBackNot", func(t *testing.T) {
		st, mk := open(t)
		var mu sync.Mutex
		got := map[queue.Task]int{}
		q, err := mk(func(ctx context.Context, task queue.Task) error {
			mu.Lock()
			got[task]++
			mu.Unlock()
			return nil
		}, queue.Config{Concurrency: 4, PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		start(t, q)
		enqueue(t, st, q, false, queue.Task{JobID: "j0", NodeID: "ghost"})
		enqueue(t, st, q, true, queue.Task{JobID: "j1", NodeID: "a"}, queue.Task{JobID: "j1", NodeID: "b"})
		enqueue(t, st, q, true) // nothing to insert is fine
		wait(t, "two deliveries", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 2 })
		time.Sleep(300 * time.Millisecond) // a rolled-back or duplicate delivery would show by now
		mu.Lock()
		defer mu.Unlock()
		if got[queue.Task{JobID: "j1", NodeID: "a"}] != 1 || got[queue.Task{JobID: "j1", NodeID: "b"}] != 1 || len(got) != 2 {
			t.Errorf("deliveries = %v", got)
		}
		if err := q.Ping(ctx); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})

	t.Run("SnoozeRedeliversAfterDelay", func(t *testing.T) {
		st, mk := open(t)
		var mu sync.Mutex
		var times []time.Time
		q, err := mk(func(ctx context.Context, task queue.Task) error {
			mu.Lock()
			defer mu.Unlock()
			times = append(times, time.Now())
			if len(times) == 1 {
				return queue.Snooze(700 * time.Millisecond)
			}
			return nil
		}, queue.Config{Concurrency: 1, PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		start(t, q)
		enqueue(t, st, q, true, queue.Task{JobID: "j", NodeID: "n"})
		wait(t, "redelivery", func() bool { mu.Lock(); defer mu.Unlock(); return len(times) == 2 })
		mu.Lock()
		defer mu.Unlock()
		if d := times[1].Sub(times[0]); d < 650*time.Millisecond {
			t.Errorf("redelivered after %s, want >= 700ms", d)
		}
	})

	t.Run("ConcurrencyIsBounded", func(t *testing.T) {
		st, mk := open(t)
		var running, peak, done atomic.Int32
		q, err := mk(func(ctx context.Context, task queue.Task) error {
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(100 * time.Millisecond)
			running.Add(-1)
			done.Add(1)
			return nil
		}, queue.Config{Concurrency: 2, PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		start(t, q)
		var tasks []queue.Task
		for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
			tasks = append(tasks, queue.Task{JobID: "j", NodeID: n})
		}
		enqueue(t, st, q, true, tasks...)
		wait(t, "six deliveries", func() bool { return done.Load() == 6 })
		if p := peak.Load(); p != 2 {
			t.Errorf("peak concurrency = %d, want 2", p)
		}
	})

	t.Run("InsertOnlyWorksNothing", func(t *testing.T) {
		st, mk := open(t)
		var calls atomic.Int32
		h := func(ctx context.Context, task queue.Task) error { calls.Add(1); return nil }
		ins, err := mk(h, queue.Config{})
		if err != nil {
			t.Fatal(err)
		}
		start(t, ins)
		enqueue(t, st, ins, true, queue.Task{JobID: "j", NodeID: "n"})
		time.Sleep(300 * time.Millisecond)
		if calls.Load() != 0 {
			t.Fatal("an insert-only queue worked a task")
		}
		w, err := mk(h, queue.Config{Concurrency: 1, PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		start(t, w)
		wait(t, "the worker queue to take the task", func() bool { return calls.Load() == 1 })
	})

	t.Run("StopCancelsRunning", func(t *testing.T) {
		st, mk := open(t)
		started := make(chan struct{})
		cancelled := make(chan struct{})
		q, err := mk(func(ctx context.Context, task queue.Task) error {
			close(started)
			<-ctx.Done()
			close(cancelled)
			return ctx.Err()
		}, queue.Config{Concurrency: 1, PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		enqueue(t, st, q, true, queue.Task{JobID: "j", NodeID: "n"})
		select {
		case <-started:
		case <-time.After(15 * time.Second):
			t.Fatal("not delivered")
		}
		sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		if err := q.Stop(sctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
		select {
		case <-cancelled:
		default:
			t.Error("Stop returned while the handler still ran")
		}
	})
}
