// Package queue delivers pipeline nodes on River
// (github.com/riverqueue/river), a durable job queue in the same database as
// the metadata store: one River job per node delivery, inserted in the
// store's transaction (EnqueueTx), so a node is queued exactly when the
// store says it is. Two backends, one behaviour (the queuetest suite):
// NewSQLite (riversqlite on sqlitestore's write connection) and NewPostgres
// (riverpgxv5 on pgstore's pool, LISTEN/NOTIFY for prompt pick-up).
//
// River is the doorbell, the store is the state machine: a delivery says
// "look at node X now (or after d)". Attempts, backoff, leases and
// redelivery of a dead worker's node are decided by the orchestrator in the
// store (docs/delivery.md). Handlers return nil when the delivery is done,
// Snooze(d) to be delivered again after d (snoozes do not use up River
// attempts), Discard(err) to drop it, and other errors for infrastructure
// failures (database away), which River retries with its own backoff
// without touching the node's attempts.
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

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
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

// Queue is a River client on SQLite or PostgreSQL.
type Queue struct {
	client riverClient
	ping   func(ctx context.Context) error
	work   bool
}

// riverClient is what Queue needs of a river.Client[TTx], whatever TTx.
type riverClient interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	insert(ctx context.Context, raw any, params []river.InsertManyParams) error
}

type client[TTx any] struct{ *river.Client[TTx] }

func (c client[TTx]) insert(ctx context.Context, raw any, params []river.InsertManyParams) error {
	tx, ok := raw.(TTx)
	if !ok {
		var want TTx
		return fmt.Errorf("store transaction is %T, not %T", raw, want)
	}
	_, err := c.InsertManyTx(ctx, tx, params)
	return err
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

// NewSQLite migrates River's tables in db (sqlitestore's write pool) and
// returns a queue calling h for each task; the store's Tx.Raw is a *sql.Tx.
func NewSQLite(ctx context.Context, db *sql.DB, h Handler, cfg Config) (*Queue, error) {
	c, work, err := newClient(ctx, riversqlite.New(db), h, cfg)
	if err != nil {
		return nil, err
	}
	return &Queue{client: client[*sql.Tx]{c}, work: work, ping: func(ctx context.Context) error {
		var n int
		return db.QueryRowContext(ctx, `SELECT count(*) FROM river_job WHERE state = 'available'`).Scan(&n)
	}}, nil
}

// NewPostgres migrates River's tables in pool's database (pgstore's pool;
// the search_path schema) and returns a queue calling h for each task; the
// store's Tx.Raw is a pgx.Tx.
func NewPostgres(ctx context.Context, pool *pgxpool.Pool, h Handler, cfg Config) (*Queue, error) {
	c, work, err := newClient(ctx, riverpgxv5.New(pool), h, cfg)
	if err != nil {
		return nil, err
	}
	return &Queue{client: client[pgx.Tx]{c}, work: work, ping: func(ctx context.Context) error {
		var n int
		return pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state = 'available'`).Scan(&n)
	}}, nil
}

func newClient[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], h Handler, cfg Config) (*river.Client[TTx], bool, error) {
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return nil, false, fmt.Errorf("queue migrate: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, false, fmt.Errorf("queue migrate: %w", err)
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
	work := false
	if cfg.Concurrency > 0 {
		workers := river.NewWorkers()
		if err := river.AddWorkerSafely(workers, &worker{h: h}); err != nil {
			return nil, false, fmt.Errorf("queue: %w", err)
		}
		rc.Workers = workers
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Concurrency}}
		work = true
	}
	c, err := river.NewClient(driver, rc)
	if err != nil {
		return nil, false, fmt.Errorf("queue: %w", err)
	}
	return c, work, nil
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

// EnqueueTx inserts tasks in tx, a transaction of the store the queue was
// made on.
func (q *Queue) EnqueueTx(ctx context.Context, tx store.Tx, tasks ...Task) error {
	if len(tasks) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(tasks))
	for i, t := range tasks {
		params[i] = river.InsertManyParams{Args: t}
	}
	if err := q.client.insert(ctx, tx.Raw(), params); err != nil {
		return fmt.Errorf("queue enqueue %s/%s (%d tasks): %w", tasks[0].JobID, tasks[0].NodeID, len(tasks), err)
	}
	return nil
}

// Ping checks River's tables answer.
func (q *Queue) Ping(ctx context.Context) error {
	if err := q.ping(ctx); err != nil {
		return fmt.Errorf("queue ping: %w", err)
	}
	return nil
}
