package pgstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/store"
	"github.com/whetstone/whetstone/internal/store/pgstore"
	"github.com/whetstone/whetstone/internal/store/pgstore/pgtest"
	"github.com/whetstone/whetstone/internal/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := pgstore.Open(context.Background(), pgtest.NewSchema(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	u := pgtest.NewSchema(t)
	db, err := pgstore.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	j := &store.Job{ID: "job_1", Name: "p", Status: store.Pending, Spec: []byte(`{}`)}
	if err := db.InTx(ctx, func(tx store.Tx) error { return tx.CreateJob(ctx, j) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = pgstore.Open(ctx, u) // migrations run again: must be idempotent
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.GetJob(ctx, "job_1"); err != nil {
		t.Fatal(err)
	}
}

// Processes starting at once migrate the same schema without failing.
func TestConcurrentMigrations(t *testing.T) {
	ctx := context.Background()
	u := pgtest.NewSchema(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			db, err := pgstore.Open(ctx, u)
			if err == nil {
				db.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// An unreachable server is a clear error at start, naming the database
// without its password, within the connect timeout.
func TestUnreachableIsClearError(t *testing.T) {
	start := time.Now()
	_, err := pgstore.Open(context.Background(), "postgres://whet:s3cret@127.0.0.1:1/whet?sslmode=disable")
	if err == nil {
		t.Fatal("Open of an unreachable server succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "cannot reach database postgres://whet:xxxxx@127.0.0.1:1/whet") || strings.Contains(msg, "s3cret") {
		t.Errorf("error = %q", msg)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("took %s", d)
	}
	if _, err := pgstore.Open(context.Background(), "postgres://%zz"); err == nil || strings.Contains(err.Error(), "%zz@") {
		t.Errorf("bad URL: %v", err)
	}
}
