package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are applied in order; never edit one that has shipped, add one.
var migrations = []string{
	`CREATE TABLE jobs (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		status TEXT NOT NULL,
		spec TEXT NOT NULL,
		work_dir TEXT NOT NULL DEFAULT '',
		error TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL,
		started_at INTEGER,
		finished_at INTEGER,
		last_seq INTEGER NOT NULL DEFAULT 0
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
		cache INTEGER NOT NULL DEFAULT 1,
		queued INTEGER NOT NULL DEFAULT 0,
		lease_owner TEXT NOT NULL DEFAULT '',
		lease_until INTEGER NOT NULL DEFAULT 0,
		started_at INTEGER,
		finished_at INTEGER,
		outputs TEXT NOT NULL DEFAULT '[]',
		error TEXT NOT NULL DEFAULT '',
		cache_key TEXT NOT NULL DEFAULT '',
		cached INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (job_id, id)
	);
	CREATE INDEX nodes_running ON nodes (status, lease_until);
	CREATE TABLE events (
		job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
		seq INTEGER NOT NULL,
		type TEXT NOT NULL,
		node TEXT NOT NULL DEFAULT '',
		time INTEGER NOT NULL,
		data TEXT NOT NULL,
		PRIMARY KEY (job_id, seq)
	) WITHOUT ROWID;
	CREATE TABLE datasets (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		size INTEGER NOT NULL,
		sha256 TEXT NOT NULL,
		format TEXT NOT NULL,
		blob_key TEXT NOT NULL,
		created_at INTEGER NOT NULL
	);
	CREATE TABLE models (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		job_id TEXT NOT NULL,
		node_id TEXT NOT NULL,
		output TEXT NOT NULL,
		uri TEXT NOT NULL,
		size INTEGER NOT NULL,
		files TEXT NOT NULL,
		meta TEXT NOT NULL,
		created_at INTEGER NOT NULL
	);
	CREATE TABLE cache (
		key TEXT PRIMARY KEY,
		outputs TEXT NOT NULL,
		created_at INTEGER NOT NULL
	);`,
	`ALTER TABLE nodes ADD COLUMN deaths INTEGER NOT NULL DEFAULT 0`,
}

func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS whet_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)`); err != nil {
		return fmt.Errorf("sqlitestore migrate: %w", err)
	}
	for i, m := range migrations {
		v := i + 1
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("sqlitestore migrate: %w", err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM whet_migrations WHERE version = ?`, v).Scan(&n); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlitestore migrate: %w", err)
		}
		if n > 0 {
			tx.Rollback()
			continue
		}
		if _, err := tx.ExecContext(ctx, m); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlitestore migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO whet_migrations (version) VALUES (?)`, v); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlitestore migration %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("sqlitestore migration %d: %w", v, err)
		}
	}
	return nil
}
