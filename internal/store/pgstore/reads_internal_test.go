package pgstore

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestConnLost(t *testing.T) {
	t.Parallel()
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded} // "i/o timeout"
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"no error", context.Background(), nil, false},
		{"no rows", context.Background(), fmt.Errorf("get job: %w", pgx.ErrNoRows), false},
		{"unique violation", context.Background(), &pgconn.PgError{Code: "23505"}, false},
		{"query cancelled", context.Background(), &pgconn.PgError{Code: "57014"}, false},
		{"backend terminated", context.Background(), fmt.Errorf("list events: %w", &pgconn.PgError{Severity: "FATAL", Code: "57P01"}), true},
		{"backend crashed", context.Background(), &pgconn.PgError{Code: "57P02"}, true},
		{"connection failure", context.Background(), &pgconn.PgError{Code: "08006"}, true},
		{"read timeout", context.Background(), fmt.Errorf("get job: %w", timeout), true},
		{"unexpected EOF", context.Background(), io.ErrUnexpectedEOF, true},
		{"caller gone", cancelled, timeout, false},
		{"cannot connect", context.Background(), &pgconn.ConnectError{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := connLost(tt.ctx, tt.err); got != tt.want {
				t.Errorf("connLost(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
