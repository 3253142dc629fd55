package sqlitestore

import (
	"context"
	"fmt"
	"time"
)

// ExpiredJobs returns ended jobs that finished before t and produced no
// registered model (retention keeps exported models and their jobs).
func (db *DB) ExpiredJobs(ctx context.Context, before time.Time) ([]string, error) {
	rows, err := db.w.QueryContext(ctx, `SELECT id FROM jobs
		WHERE status IN ('succeeded','failed','cancelled') AND COALESCE(finished_at, created_at) < ?
		AND NOT EXISTS (SELECT 1 FROM models m WHERE m.job_id = jobs.id) ORDER BY created_at`, nanos(before))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore expired jobs: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// DeleteJob removes a job with its nodes and events.
func (db *DB) DeleteJob(ctx context.Context, id string) error {
	if _, err := db.w.ExecContext(ctx, `DELETE FROM jobs WHERE id = ?`, id); err != nil {
		return fmt.Errorf("sqlitestore delete job %s: %w", id, err)
	}
	if _, err := db.w.ExecContext(ctx, `DELETE FROM events WHERE job_id = ?`, id); err != nil {
		return fmt.Errorf("sqlitestore delete job %s: %w", id, err)
	}
	return nil
}

// PruneEvents counts (dry run) or deletes the events of ended jobs that
// finished before t; the jobs stay.
func (db *DB) PruneEvents(ctx context.Context, before time.Time, dryRun bool) (int64, error) {
	where := `job_id IN (SELECT id FROM jobs WHERE status IN ('succeeded','failed','cancelled') AND COALESCE(finished_at, created_at) < ?)`
	if dryRun {
		var n int64
		err := db.w.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE `+where, nanos(before)).Scan(&n)
		return n, err
	}
	res, err := db.w.ExecContext(ctx, `DELETE FROM events WHERE `+where, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("sqlitestore prune events: %w", err)
	}
	return res.RowsAffected()
}

// PruneCache counts (dry run) or deletes output-cache entries created
// before t.
func (db *DB) PruneCache(ctx context.Context, before time.Time, dryRun bool) (int64, error) {
	if dryRun {
		var n int64
		err := db.w.QueryRowContext(ctx, `SELECT count(*) FROM cache WHERE created_at < ?`, nanos(before)).Scan(&n)
		return n, err
	}
	res, err := db.w.ExecContext(ctx, `DELETE FROM cache WHERE created_at < ?`, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("sqlitestore prune cache: %w", err)
	}
	return res.RowsAffected()
}

// BlobOwners returns the ids of every job and uploaded dataset: blobs under
// jobs/ID/ and datasets/ID/ of any other id are orphans unless a record
// names them (BlobRefs).
func (db *DB) BlobOwners(ctx context.Context) (jobs, datasets map[string]bool, err error) {
	jobs, datasets = map[string]bool{}, map[string]bool{}
	for q, m := range map[string]map[string]bool{`SELECT id FROM jobs`: jobs, `SELECT id FROM datasets`: datasets} {
		rows, err := db.w.QueryContext(ctx, q)
		if err != nil {
			return nil, nil, fmt.Errorf("sqlitestore blob owners: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, nil, err
			}
			m[id] = true
		}
		rows.Close()
	}
	return jobs, datasets, nil
}

// BlobRefs returns the blob keys the records name: every dataset's blob key
// and every model's URI (a key ending in "/" names the folder). Retention
// keeps them wherever they lie, whatever their folder is called.
func (db *DB) BlobRefs(ctx context.Context) ([]string, error) {
	rows, err := db.w.QueryContext(ctx, `SELECT blob_key FROM datasets UNION SELECT uri FROM models`)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore blob refs: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("sqlitestore blob refs: %w", err)
		}
		if k != "" {
			out = append(out, k)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore blob refs: %w", err)
	}
	return out, nil
}
