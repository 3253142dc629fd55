package pgstore

import (
	"context"
	"fmt"
	"time"
)

// ExpiredJobs returns ended jobs that finished before t and produced no
// registered model (retention keeps exported models and their jobs).
func (db *DB) ExpiredJobs(ctx context.Context, before time.Time) ([]string, error) {
	rows, err := db.reads.Query(ctx, `SELECT id FROM jobs
		WHERE status IN ('succeeded','failed','cancelled') AND COALESCE(finished_at, created_at) < $1
		AND NOT EXISTS (SELECT 1 FROM models m WHERE m.job_id = jobs.id) ORDER BY created_at, id`, nanos(before))
	if err != nil {
		return nil, fmt.Errorf("pgstore expired jobs: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("pgstore expired jobs: %w", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore expired jobs: %w", err)
	}
	return out, nil
}

// DeleteJob removes a job with its nodes and events (ON DELETE CASCADE).
func (db *DB) DeleteJob(ctx context.Context, id string) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM jobs WHERE id = $1`, id); err != nil {
		return fmt.Errorf("pgstore delete job %s: %w", id, err)
	}
	return nil
}

// PruneEvents counts (dry run) or deletes the events of ended jobs that
// finished before t; the jobs stay.
func (db *DB) PruneEvents(ctx context.Context, before time.Time, dryRun bool) (int64, error) {
	where := `job_id IN (SELECT id FROM jobs WHERE status IN ('succeeded','failed','cancelled') AND COALESCE(finished_at, created_at) < $1)`
	if dryRun {
		var n int64
		if err := db.reads.QueryRow(ctx, `SELECT count(*) FROM events WHERE `+where, nanos(before)).Scan(&n); err != nil {
			return 0, fmt.Errorf("pgstore prune events: %w", err)
		}
		return n, nil
	}
	tag, err := db.pool.Exec(ctx, `DELETE FROM events WHERE `+where, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("pgstore prune events: %w", err)
	}
	return tag.RowsAffected(), nil
}

// PruneCache counts (dry run) or deletes output-cache entries created
// before t.
func (db *DB) PruneCache(ctx context.Context, before time.Time, dryRun bool) (int64, error) {
	if dryRun {
		var n int64
		if err := db.reads.QueryRow(ctx, `SELECT count(*) FROM cache WHERE created_at < $1`, nanos(before)).Scan(&n); err != nil {
			return 0, fmt.Errorf("pgstore prune cache: %w", err)
		}
		return n, nil
	}
	tag, err := db.pool.Exec(ctx, `DELETE FROM cache WHERE created_at < $1`, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("pgstore prune cache: %w", err)
	}
	return tag.RowsAffected(), nil
}

// BlobOwners returns the ids of every job and uploaded dataset: blobs under
// jobs/ID/ and datasets/ID/ of any other id are orphans unless a record
// names them (BlobRefs).
func (db *DB) BlobOwners(ctx context.Context) (jobs, datasets map[string]bool, err error) {
	jobs, datasets = map[string]bool{}, map[string]bool{}
	for _, q := range []struct {
		sql string
		m   map[string]bool
	}{{`SELECT id FROM jobs`, jobs}, {`SELECT id FROM datasets`, datasets}} {
		rows, err := db.reads.Query(ctx, q.sql)
		if err != nil {
			return nil, nil, fmt.Errorf("pgstore blob owners: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("pgstore blob owners: %w", err)
			}
			q.m[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, fmt.Errorf("pgstore blob owners: %w", err)
		}
	}
	return jobs, datasets, nil
}

// BlobRefs returns the blob keys the records name: every dataset's blob key
// and every model's URI (a key ending in "/" names the folder). Retention
// keeps them wherever they lie, whatever their folder is called.
func (db *DB) BlobRefs(ctx context.Context) ([]string, error) {
	rows, err := db.reads.Query(ctx, `SELECT blob_key FROM datasets UNION SELECT uri FROM models`)
	if err != nil {
		return nil, fmt.Errorf("pgstore blob refs: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("pgstore blob refs: %w", err)
		}
		if k != "" {
			out = append(out, k)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore blob refs: %w", err)
	}
	return out, nil
}
