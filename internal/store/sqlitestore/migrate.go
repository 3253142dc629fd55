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
	CREATE TABLE cache_teams (
		team_id TEXT NOT NULL,
		key TEXT NOT NULL,
		outputs TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		PRIMARY KEY (team_id, key)
	);
	INSERT INTO cache_teams (team_id, key, outputs, created_at) SELECT 'default', key, outputs, created_at FROM cache;
	DROP TABLE cache;
	ALTER TABLE cache_teams RENAME TO cache;
	CREATE TABLE api_keys (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		team_id TEXT NOT NULL,
		role TEXT NOT NULL,
		hash TEXT NOT NULL UNIQUE,
		created_at INTEGER NOT NULL,
		expires_at INTEGER,
		revoked_at INTEGER,
		last_used_at INTEGER
	);
	CREATE TABLE audit (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		time INTEGER NOT NULL,
		actor TEXT NOT NULL,
		team_id TEXT NOT NULL,
		action TEXT NOT NULL,
		resource TEXT NOT NULL,
		status INTEGER NOT NULL,
		client TEXT NOT NULL,
		request_id TEXT NOT NULL
	);
	CREATE INDEX audit_team ON audit (team_id, id DESC);
	CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
	CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;`,
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
