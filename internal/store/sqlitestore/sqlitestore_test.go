package sqlitestore

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/whetstone/whetstone/internal/store"
	"github.com/whetstone/whetstone/internal/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := Open(context.Background(), filepath.Join(t.TempDir(), "whet.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "odd ?name#%20", "whet.db")
	db, err := Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	j := &store.Job{ID: "job_1", Name: "p", Status: store.Pending, Spec: []byte(`{}`)}
	if err := db.InTx(ctx, func(tx store.Tx) error { return tx.CreateJob(ctx, j) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(ctx, p) // migrations run again: must be idempotent
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.GetJob(ctx, "job_1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Errorf("database not at %s: %v", p, err)
	}
}

func TestAuditIsAppendOnly(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "whet.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.AppendAudit(ctx, &store.AuditEntry{Actor: "a", Team: "t", Action: "x", Status: 200}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`UPDATE audit SET status = 500`, `DELETE FROM audit`} {
		if _, err := db.w.ExecContext(ctx, q); err == nil {
			t.Errorf("%s succeeded on the append-only audit table", q)
		}
	}
	if _, n, _ := db.ListAudit(ctx, "", store.ListParams{}); n != 1 {
		t.Errorf("audit entries = %d, want 1", n)
	}
}
