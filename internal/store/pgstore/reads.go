package pgstore

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pooled is the pool as the readers (q outside a transaction) see it: a
// read that fails because the connection it drew was lost runs again on
// another one. pgxpool hands out a connection idle for under a second
// without checking it, so after the server restarts, a pg_terminate_backend,
// or a network failure, each dead connection still in the pool fails the
// next query that draws it, and that failure used to reach the caller (a
// 500, or a live SSE stream cut off). Each failed try destroys one dead
// connection, so tries is the pool's size plus one. Only reads go through
// pooled, so running one again is safe; an error while rows arrive is
// returned as it is.
type pooled struct {
	pool  *pgxpool.Pool
	tries int
}

func newPooled(pool *pgxpool.Pool) pooled {
	return pooled{pool: pool, tries: int(pool.Config().MaxConns) + 1}
}

// Exec is not run again: it may write, and a statement whose connection
// was lost may have been carried out.
func (p pooled) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return p.pool.Exec(ctx, sql, args...)
}

func (p pooled) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	for try := 1; ; try++ {
		rows, err := p.pool.Query(ctx, sql, args...)
		if err == nil {
			// A lost connection usually shows only when the first row
			// is read (the query was sent, the answer is the backend's
			// FATAL or EOF): read it here, before the caller sees any.
			more := rows.Next()
			if !more && try < p.tries && connLost(ctx, rows.Err()) {
				rows.Close()
				continue
			}
			return &peekedRows{Rows: rows, more: more}, nil
		}
		if try >= p.tries || !connLost(ctx, err) {
			return rows, err
		}
	}
}

// peekedRows are rows whose first Next was called already, returning more.
type peekedRows struct {
	pgx.Rows
	more, started bool
}

func (r *peekedRows) Next() bool {
	if !r.started {
		r.started = true
		return r.more
	}
	return r.Rows.Next()
}

func (p pooled) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return pooledRow{p: p, ctx: ctx, sql: sql, args: args}
}

// pooledRow runs its query when scanned, again while the connection is lost.
type pooledRow struct {
	p    pooled
	ctx  context.Context
	sql  string
	args []any
}

func (r pooledRow) Scan(dest ...any) error {
	for try := 1; ; try++ {
		err := r.p.pool.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
		if try >= r.p.tries || !connLost(r.ctx, err) {
			return err
		}
	}
}

// connLost reports whether err says the connection went away under the
// query (its backend terminated or crashed, the socket closed or timed
// out) rather than that the query failed, while ctx still wants an answer.
// A failure to open a new connection is not one: the server is not there
// to run the query again.
func connLost(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 08: connection exception; 57P01/57P02: the backend was
		// terminated (pg_terminate_backend, shutdown) or crashed.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02"
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err)
}
