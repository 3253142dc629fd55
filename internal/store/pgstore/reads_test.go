package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/whetstone/whetstone/internal/store"
	"github.com/whetstone/whetstone/internal/store/pgstore"
	"github.com/whetstone/whetstone/internal/store/pgstore/pgtest"
)

// After every backend of the pool was terminated (pg_terminate_backend, as
// a server restart or a failover would), the pool still holds the dead
// connections, and pgxpool hands out one idle under a second without a
// check. Each read must still answer: it runs again on another connection
// instead of failing with the FATAL the dead backend left behind (which
// was a 500, or a live SSE stream cut off).
func TestReadsOutliveTerminatedConnections(t *testing.T) {
	const conns = 4
	ctx := context.Background()
	schema := pgtest.NewSchema(t)
	db, err := pgstore.Open(ctx, schema)
	if err != nil {
		t.Fatal(err)
	}
	j := &store.Job{ID: "job_1", Name: "p", Status: store.Running, Spec: []byte(`{}`), CreatedAt: time.Now()}
	err = db.InTx(ctx, func(tx store.Tx) error {
		if err := tx.CreateJob(ctx, j); err != nil {
			return err
		}
		return tx.AppendEvent(ctx, &store.Event{JobID: j.ID, Type: "log", Time: time.Now(), Data: []byte(`{}`)})
	})
	if err == nil {
		err = db.CreateKey(ctx, &store.Key{ID: "key_1", Name: "k", Team: "default", Role: "admin", Hash: "h1", CreatedAt: time.Now()})
	}
	if err == nil {
		err = db.AppendAudit(ctx, &store.AuditEntry{Actor: "key_1", Team: "default", Action: "job.create", Resource: j.ID, Status: 201})
	}
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, pgtest.Server())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	reads := []struct {
		name string
		read func(db *pgstore.DB) error
	}{
		{"GetJob", func(db *pgstore.DB) error { _, err := db.GetJob(ctx, j.ID); return err }},
		{"GetJob missing", func(db *pgstore.DB) error {
			if _, err := db.GetJob(ctx, "job_2"); !errors.Is(err, store.ErrNotFound) {
				return err
			}
			return nil
		}},
		{"ListEvents", func(db *pgstore.DB) error {
			evs, err := db.ListEvents(ctx, j.ID, 0, 10)
			if err == nil && len(evs) != 1 {
				return errors.New("want 1 event")
			}
			return err
		}},
		{"ListJobs", func(db *pgstore.DB) error { _, _, err := db.ListJobs(ctx, store.ListParams{}); return err }},
		{"ForTeam GetJob", func(db *pgstore.DB) error { _, err := db.ForTeam("").GetJob(ctx, j.ID); return err }},
		{"KeyByHash", func(db *pgstore.DB) error { _, err := db.KeyByHash(ctx, "h1"); return err }},
		{"ListKeys", func(db *pgstore.DB) error {
			ks, n, err := db.ListKeys(ctx, "default", store.ListParams{})
			if err == nil && (n != 1 || len(ks) != 1) {
				return fmt.Errorf("%d keys of %d, want 1 of 1", len(ks), n)
			}
			return err
		}},
		{"ListAudit", func(db *pgstore.DB) error {
			es, n, err := db.ListAudit(ctx, "", store.ListParams{})
			if err == nil && (n != 1 || len(es) != 1) {
				return fmt.Errorf("%d audit entries of %d, want 1 of 1", len(es), n)
			}
			return err
		}},
		{"ExpiredJobs", func(db *pgstore.DB) error { _, err := db.ExpiredJobs(ctx, time.Now()); return err }},
		{"PruneEvents dry run", func(db *pgstore.DB) error { _, err := db.PruneEvents(ctx, time.Now(), true); return err }},
		{"PruneCache dry run", func(db *pgstore.DB) error { _, err := db.PruneCache(ctx, time.Now(), true); return err }},
		{"BlobOwners", func(db *pgstore.DB) error {
			jobs, _, err := db.BlobOwners(ctx)
			if err == nil && !jobs[j.ID] {
				return fmt.Errorf("owners %v lack %s", jobs, j.ID)
			}
			return err
		}},
	}
	for _, r := range reads {
		t.Run(r.name, func(t *testing.T) {
			b := make([]byte, 4)
			rand.Read(b)
			app := "whet_reads_" + hex.EncodeToString(b)
			db, err := pgstore.Open(ctx, schema+"&pool_max_conns=4&application_name="+app)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			// Fill the pool: conns connections, all idle now.
			var wg sync.WaitGroup
			for range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := db.Pool().Acquire(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					time.Sleep(20 * time.Millisecond)
					c.Release()
				}()
			}
			wg.Wait()
			var n int
			if err := admin.QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) k`, app).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != conns {
				t.Fatalf("terminated %d backends, want the pool's %d", n, conns)
			}
			// Wait until they are gone, so their FATAL is in each socket.
			for deadline := time.Now().Add(5 * time.Second); ; {
				if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d backends still there 5 s after pg_terminate_backend", n)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := r.read(db); err != nil {
				t.Fatalf("%s after its connections were terminated: %v", r.name, err)
			}
		})
	}
}
