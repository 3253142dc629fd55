package orchestrate_test

import (
	"os"
	"sync"
	"testing"

	"github.com/whetstone/whetstone/internal/store/pgstore/pgtest"
)

// WHET_TEST_DATABASE=postgres runs this package's tests on PostgreSQL (a
// fresh schema per data folder, so setups sharing a folder share a
// database) instead of SQLite; scripts/test.sh runs both.
func onPostgres() bool { return os.Getenv("WHET_TEST_DATABASE") == "postgres" }

var pgSchemas sync.Map // data dir -> database URL

func pgSchemaFor(t *testing.T, dataDir string) string {
	if u, ok := pgSchemas.Load(dataDir); ok {
		return u.(string)
	}
	u, _ := pgSchemas.LoadOrStore(dataDir, pgtest.NewSchema(t))
	return u.(string)
}

func skipOnPostgres(t *testing.T, why string) {
	if onPostgres() {
		t.Skip("SQLite only: " + why)
	}
}
