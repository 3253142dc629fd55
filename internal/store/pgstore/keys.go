package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/whetstone/whetstone/internal/store"
)

func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return nanos(*t)
}

const keyCols = `id, name, team_id, role, hash, created_at, expires_at, revoked_at, last_used_at`

func scanKey(sc pgx.Row) (*store.Key, error) {
	var k store.Key
	var role string
	var created int64
	var expires, revoked, used *int64
	if err := sc.Scan(&k.ID, &k.Name, &k.Team, &role, &k.Hash, &created, &expires, &revoked, &used); err != nil {
		return nil, err
	}
	k.Role = store.Role(role)
	k.CreatedAt = time.Unix(0, created).UTC()
	k.ExpiresAt, k.RevokedAt, k.LastUsedAt = ptime(expires), ptime(revoked), ptime(used)
	return &k, nil
}

// CreateKey implements store.Keys.
func (db *DB) CreateKey(ctx context.Context, k *store.Key) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO api_keys (`+keyCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
		k.ID, k.Name, store.TeamOr(k.Team), string(k.Role), k.Hash, nanos(k.CreatedAt), nullTime(k.ExpiresAt), nullTime(k.RevokedAt), nullTime(k.LastUsedAt))
	if err != nil {
		if isUnique(err) {
			return fmt.Errorf("create key %q: %w", k.ID, store.ErrConflict)
		}
		return fmt.Errorf("create key %q: %w", k.ID, err)
	}
	return nil
}

// KeyByHash implements store.Keys.
func (db *DB) KeyByHash(ctx context.Context, hash string) (*store.Key, error) {
	k, err := scanKey(db.reads.QueryRow(ctx, `SELECT `+keyCols+` FROM api_keys WHERE hash = $1`, hash))
	if err != nil {
		return nil, notFound("key", "by hash", err)
	}
	return k, nil
}

// ListKeys implements store.Keys.
func (db *DB) ListKeys(ctx context.Context, team string, p store.ListParams) ([]*store.Key, int, error) {
	l, off := limit(p)
	where, args := "", []any{}
	if team != "" {
		where, args = " WHERE team_id = $3", []any{team}
	}
	var total int
	if err := db.reads.QueryRow(ctx, `SELECT count(*) FROM api_keys`+replaceN(where), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list keys: %w", err)
	}
	rows, err := db.reads.Query(ctx, `SELECT `+keyCols+` FROM api_keys`+where+` ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2`, append([]any{l, off}, args...)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	out := []*store.Key{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list keys: %w", err)
		}
		out = append(out, k)
	}
	return out, total, rows.Err()
}

// replaceN renumbers the one team placeholder $3 as $1 for a count query.
func replaceN(where string) string {
	if where == "" {
		return ""
	}
	return " WHERE team_id = $1"
}

// RevokeKey implements store.Keys.
func (db *DB) RevokeKey(ctx context.Context, team, id string, at time.Time) error {
	ok, err := affected(db.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2 AND ($3 = '' OR team_id = $3)`,
		nanos(at), id, team))
	if err != nil {
		return fmt.Errorf("revoke key %q: %w", id, err)
	}
	if !ok {
		return fmt.Errorf("key %q: %w", id, store.ErrNotFound)
	}
	return nil
}

// TouchKey implements store.Keys.
func (db *DB) TouchKey(ctx context.Context, id string, at time.Time) error {
	if _, err := db.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = $1 WHERE id = $2`, nanos(at), id); err != nil {
		return fmt.Errorf("touch key %q: %w", id, err)
	}
	return nil
}

// AppendAudit implements store.Audit.
func (db *DB) AppendAudit(ctx context.Context, e *store.AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	// The pool itself, not db.reads: an INSERT whose connection was lost
	// may have been carried out, so it is not run again.
	err := db.pool.QueryRow(ctx, `INSERT INTO audit (time, actor, team_id, action, resource, status, client, request_id) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING id`,
		nanos(e.Time), e.Actor, e.Team, e.Action, e.Resource, e.Status, e.Client, e.RequestID).Scan(&e.ID)
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	return nil
}

// ListAudit implements store.Audit.
func (db *DB) ListAudit(ctx context.Context, team string, p store.ListParams) ([]store.AuditEntry, int, error) {
	l, off := limit(p)
	where, args := "", []any{}
	if team != "" {
		where, args = " WHERE team_id = $3", []any{team}
	}
	var total int
	if err := db.reads.QueryRow(ctx, `SELECT count(*) FROM audit`+replaceN(where), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list audit: %w", err)
	}
	rows, err := db.reads.Query(ctx, `SELECT id, time, actor, team_id, action, resource, status, client, request_id FROM audit`+where+
		` ORDER BY id DESC LIMIT $1 OFFSET $2`, append([]any{l, off}, args...)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	out := []store.AuditEntry{}
	for rows.Next() {
		var e store.AuditEntry
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.Actor, &e.Team, &e.Action, &e.Resource, &e.Status, &e.Client, &e.RequestID); err != nil {
			return nil, 0, fmt.Errorf("list audit: %w", err)
		}
		e.Time = time.Unix(0, t).UTC()
		out = append(out, e)
	}
	return out, total, rows.Err()
}
