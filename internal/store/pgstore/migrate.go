package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations are applied in order, each in its own transaction; never edit
// one that has shipped, add one. Times are Unix nanoseconds (BIGINT) and JSON
// is kept as the exact text written (TEXT), as in sqlitestore, so both
// backends return the same bytes.
var migrations = []string{
	`CREATE TABLE jobs (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		status TEXT NOT NULL,
		spec TEXT NOT NULL,
		work_dir TEXT NOT NULL DEFAULT '',
		error TEXT NOT NULL DEFAULT '',
		created_at BIGINT NOT NULL,
		started_at BIGINT,
		finished_at BIGINT,
		last_seq BIGINT NOT NULL DEFAULT 0
	);
	CREATE INDEX jobs_created ON jobs (created_at DESC, id DESC);
	CREATE INDEX jobs_status ON jobs (status, created_at DESC);
	CREATE TABLE nodes (
		job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
		id TEXT NOT NULL,
		idx INTEGER NOT NULL,
		agent TEXT NOT NULL,
		params TEXT NOT NULL,
		preds TEXT NOT NULL,
		status TEXT NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0,
		max_attempts INTEGER NOT NULL,
		cache BOOLEAN NOT NULL DEFAULT TRUE,
		queued BOOLEAN NOT NULL DEFAULT FALSE,
		lease_owner TEXT NOT NULL DEFAULT '',
		lease_until BIGINT NOT NULL DEFAULT 0,
		started_at BIGINT,
		finished_at BIGINT,
		outputs TEXT NOT NULL DEFAULT '[]',
		error TEXT NOT NULL DEFAULT '',
		cache_key TEXT NOT NULL DEFAULT '',
		cached BOOLEAN NOT NULL DEFAULT FALSE,
		PRIMARY KEY (job_id, id)
	);
	CREATE INDEX nodes_running ON nodes (status, lease_until);
	CREATE TABLE events (
		job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
		seq BIGINT NOT NULL,
		type TEXT NOT NULL,
		node TEXT NOT NULL DEFAULT '',
		time BIGINT NOT NULL,
		data TEXT NOT NULL,
		PRIMARY KEY (job_id, seq)
	);
	CREATE TABLE datasets (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		size BIGINT NOT NULL,
		sha256 TEXT NOT NULL,
		format TEXT NOT NULL,
		blob_key TEXT NOT NULL,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE models (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		job_id TEXT NOT NULL,
		node_id TEXT NOT NULL,
		output TEXT NOT NULL,
		uri TEXT NOT NULL,
		size BIGINT NOT NULL,
		files TEXT NOT NULL,
		meta TEXT NOT NULL,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE cache (
		key TEXT PRIMARY KEY,
		outputs TEXT NOT NULL,
		created_at BIGINT NOT NULL
	);`,
	// Teams: every job, event, dataset, model and cache entry belongs to one;
	// API keys (hashes only) and the append-only audit log.
	`ALTER TABLE jobs ADD COLUMN team_id TEXT NOT NULL DEFAULT 'default';
	CREATE INDEX jobs_team ON jobs (team_id, created_at DESC, id DESC);
	CREATE INDEX jobs_team_status ON jobs (team_id, status);
	ALTER TABLE events ADD COLUMN team_id TEXT NOT NULL DEFAULT 'default';
	ALTER TABLE datasets ADD COLUMN team_id TEXT NOT NULL DEFAULT 'default';
	CREATE INDEX datasets_team ON datasets (team_id, created_at DESC, id DESC);
	ALTER TABLE models ADD COLUMN team_id TEXT NOT NULL DEFAULT 'default';
	CREATE INDEX models_team ON models (team_id, created_at DESC, id DESC);
	ALTER TABLE cache ADD COLUMN team_id TEXT NOT NULL DEFAULT 'default';
	ALTER TABLE cache DROP CONSTRAINT cache_pkey;
	ALTER TABLE cache ADD PRIMARY KEY (team_id, key);
	CREATE TABLE api_keys (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		team_id TEXT NOT NULL,
		role TEXT NOT NULL,
		hash TEXT NOT NULL UNIQUE,
		created_at BIGINT NOT NULL,
		expires_at BIGINT,
		revoked_at BIGINT,
		last_used_at BIGINT
	);
	CREATE TABLE audit (
		id BIGSERIAL PRIMARY KEY,
		time BIGINT NOT NULL,
		actor TEXT NOT NULL,
		team_id TEXT NOT NULL,
		action TEXT NOT NULL,
		resource TEXT NOT NULL,
		status INTEGER NOT NULL,
		client TEXT NOT NULL,
		request_id TEXT NOT NULL
	);
	CREATE INDEX audit_team ON audit (team_id, id DESC);
	CREATE FUNCTION whet_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN RAISE EXCEPTION 'audit log is append-only'; END $$;
	CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION whet_audit_append_only();`,
	`ALTER TABLE nodes ADD COLUMN deaths INTEGER NOT NULL DEFAULT 0`,
	// Dataset versions and lineage: an upload's version, profile and sample;
	// the dataset versions a job read; where a model came from.
	`ALTER TABLE datasets ADD COLUMN version TEXT NOT NULL DEFAULT '';
	UPDATE datasets SET version = 'sha256:' || sha256 WHERE sha256 <> '';
	ALTER TABLE datasets ADD COLUMN profile TEXT NOT NULL DEFAULT '';
	ALTER TABLE datasets ADD COLUMN sample TEXT NOT NULL DEFAULT '';
	ALTER TABLE jobs ADD COLUMN datasets TEXT NOT NULL DEFAULT '[]';
	ALTER TABLE models ADD COLUMN lineage TEXT NOT NULL DEFAULT ''`,
	// An upload of bytes the team already has under the same name returns
	// that dataset (FindDataset).
	`CREATE INDEX datasets_team_sha256 ON datasets (team_id, sha256)`,
}

// migrateLock serialises migrations of processes starting at once
// (pg_advisory_xact_lock key; any constant unique to Whetstone).
const migrateLock = 0x77686574 // "whet"

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS whet_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		// Two processes creating the table at once: one loses the race on
		// the catalog; the table is there either way.
		if _, err2 := pool.Exec(ctx, `SELECT 1 FROM whet_migrations LIMIT 1`); err2 != nil {
			return fmt.Errorf("pgstore migrate: %w", err)
		}
	}
	for i, m := range migrations {
		v := i + 1
		tx, err := pool.Begin(ctx)
		if err != nil {
			return fmt.Errorf("pgstore migrate: %w", err)
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
			tx.Rollback(ctx)
			return fmt.Errorf("pgstore migrate: %w", err)
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM whet_migrations WHERE version = $1`, v).Scan(&n); err != nil {
			tx.Rollback(ctx)
			return fmt.Errorf("pgstore migrate: %w", err)
		}
		if n > 0 {
			tx.Rollback(ctx)
			continue
		}
		if _, err := tx.Exec(ctx, m); err != nil {
			tx.Rollback(ctx)
			return fmt.Errorf("pgstore migration %d: %w", v, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO whet_migrations (version) VALUES ($1)`, v); err != nil {
			tx.Rollback(ctx)
			return fmt.Errorf("pgstore migration %d: %w", v, err)
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("pgstore migration %d: %w", v, err)
		}
	}
	return nil
}
