// Package pgtest gives tests a fresh, empty PostgreSQL schema on the server
// that scripts/services.sh starts (127.0.0.1:5432, trust auth, user
// postgres) or on WHET_TEST_POSTGRES. When the server does not answer the
// test is skipped, or fails when WHET_REQUIRE_SERVICES=1 (scripts/test.sh
// sets it, so CI never skips).
package pgtest

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the server scripts/services.sh starts.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Server returns the admin URL of the test server.
func Server() string { return cmp.Or(os.Getenv("WHET_TEST_POSTGRES"), DefaultURL) }

// NewSchema creates a schema with a fresh name and returns a database URL
// whose search_path is that schema; the schema is dropped when t ends.
func NewSchema(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin := Server()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		msg := "PostgreSQL at " + redact(admin) + " is not running (scripts/services.sh starts it): " + err.Error()
		if os.Getenv("WHET_REQUIRE_SERVICES") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg + " (WHET_REQUIRE_SERVICES=1 makes this a failure)")
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "whet_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, admin); err == nil {
			conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`)
			conn.Close(ctx)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Redacted()
}
