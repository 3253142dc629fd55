package queue_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/whetstone/whetstone/internal/queue"
	"github.com/whetstone/whetstone/internal/queue/queuetest"
	"github.com/whetstone/whetstone/internal/store"
	"github.com/whetstone/whetstone/internal/store/pgstore"
	"github.com/whetstone/whetstone/internal/store/pgstore/pgtest"
	"github.com/whetstone/whetstone/internal/store/sqlitestore"
)

func TestContractSQLite(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) (store.Store, func(queue.Handler, queue.Config) (*queue.Queue, error)) {
		st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "whet.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st, func(h queue.Handler, cfg queue.Config) (*queue.Queue, error) {
			return queue.NewSQLite(context.Background(), st.WriteDB(), h, cfg)
		}
	})
}

func TestContractPostgres(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) (store.Store, func(queue.Handler, queue.Config) (*queue.Queue, error)) {
		st, err := pgstore.Open(context.Background(), pgtest.NewSchema(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st, func(h queue.Handler, cfg queue.Config) (*queue.Queue, error) {
			return queue.NewPostgres(context.Background(), st.Pool(), h, cfg)
		}
	})
}
