// Package queue runs pipeline nodes on River (github.com/riverqueue/river), a
// durable job queue in the same database as the metadata store: one River job
// per node delivery, inserted in the store's transaction (EnqueueTx), so a
// node is queued exactly when the store says it is.
//
// River delivers; the orchestrator decides. Handlers return nil when the
// delivery is done, Snooze(d) to be delivered again after d (retries with
// backoff and waiting on a live lease; snoozes do not use up River attempts,
// so node attempts are counted in the store), Discard(err) to drop the
// delivery, and other errors for infrastructure failures River retries.
//
// River's own stuck-job rescue re-runs jobs running longer than
// RescueStuckJobsAfter whether or not their worker is alive, which would
// restart long training nodes. It is set to a year here; dead workers are
// detected by the orchestrator's node leases instead, which redeliver the
// node with a new River job.
package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/whetstone/whetstone/internal/store"
)

// Task is one delivery of a node.
type Task struct {
	JobID  string `json:"job_id"`
	NodeID string `json:"node_id"`
}

// Kind implements river.JobArgs.
func (Task) Kind() string { return "whet_node" }

// Handler runs a delivered node.
type Handler func(ctx context.Context, t Task) error

// SnoozeError asks for the task to be delivered again after Delay.
type SnoozeError struct{ Delay time.Duration }

func (e *SnoozeError) Error() string { return fmt.Sprintf("snooze %s", e.Delay) }

// Snooze returns a *SnoozeError.
func Snooze(d time.Duration) error { return &SnoozeError{Delay: max(d, 0)} }

type discardError struct{ err error }

func (e *discardError) Error() string { return e.err.Error() }
func (e *discardError) Unwrap() error { return e.err }

// Discard drops the delivery for good, recording err.
func Discard(err error) error { return &discardError{err} }

// Config configures a Queue.
type Config struct {
	// Concurrency is how many tasks run at once; 0 makes an insert-only
	// queue that works nothing.
	Concurrency int
	// PollInterval is how often idle workers look for tasks. Defaults to
	// 500ms.
	PollInterval time.Duration
	Logger       *slog.Logger
}

// Queue is a River client on SQLite.
type Queue struct {
	db     *sql.DB
	client *river.Client[*sql.Tx]
	work   bool
}

type worker struct {
	river.WorkerDefaults[Task]
	h Handler
}

func (w *worker) Work(ctx context.Context, j *river.Job[Task]) error {
	err := w.h(ctx, j.Args)
	var s *SnoozeError
	var d *discardError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &s):
		return river.JobSnooze(s.Delay)
	case errors.As(err, &d):
		return river.JobCancel(d.err)
	}
	return err
}

// New migrates River's tables in db (the store's write pool) and returns a
// queue calling h for each task.
func New(ctx context.Context, db *sql.DB, h Handler, cfg Config) (*Queue, error) {
	driver := riversqlite.New(db)
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return nil, fmt.Errorf("queue migrate: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("queue migrate: %w", err)
	}
	poll := cfg.PollInterval
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	rc := &river.Config{
		Logger:               logger.WithGroup("river"),
		JobTimeout:           -1,
		RescueStuckJobsAfter: 365 * 24 * time.Hour,
		MaxAttempts:          25,
		FetchPollInterval:    poll,
		FetchCooldown:        min(poll, 50*time.Millisecond),
	}
	q := &Queue{db: db}
	if cfg.Concurrency > 0 {
		workers := river.NewWorkers()
		if err := river.AddWorkerSafely(workers, &worker{h: h}); err != nil {
			return nil, fmt.Errorf("queue: %w", err)
		}
		rc.Workers = workers
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Concurrency}}
		q.work = true
	}
	q.client, err = river.NewClient(driver, rc)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return q, nil
}

// Start starts working tasks (a no-op for an insert-only queue).
func (q *Queue) Start(ctx context.Context) error {
	if !q.work {
		return nil
	}
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("queue start: %w", err)
	}
	return nil
}

// Stop stops fetching and waits for running tasks until ctx ends, then
// cancels them. Safe to call on a queue that was not started.
func (q *Queue) Stop(ctx context.Context) error {
	if !q.work {
		return nil
	}
	err := q.client.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = q.client.StopAndCancel(sctx)
	}
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("queue stop: %w", err)
	}
	return nil
}

// EnqueueTx inserts tasks in tx (a store transaction whose Raw is *sql.Tx).
func (q *Queue) EnqueueTx(ctx context.Context, tx store.Tx, tasks ...Task) error {
	stx, ok := tx.Raw().(*sql.Tx)
	if !ok {
		return fmt.Errorf("queue enqueue: store transaction is %T, not *sql.Tx", tx.Raw())
	}
	if len(tasks) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(tasks))
	for i, t := range tasks {
		params[i] = river.InsertManyParams{Args: t}
	}
	if _, err := q.client.InsertManyTx(ctx, stx, params); err != nil {
		return fmt.Errorf("queue enqueue %s/%s (%d tasks): %w", tasks[0].JobID, tasks[0].NodeID, len(tasks), err)
	}
	return nil
}

// Ping checks River's tables answer.
func (q *Queue) Ping(ctx context.Context) error {
	var n int
	if err := q.db.QueryRowContext(ctx, `SELECT count(*) FROM river_job WHERE state = 'available'`).Scan(&n); err != nil {
		return fmt.Errorf("queue ping: %w", err)
	}
	return nil
}
