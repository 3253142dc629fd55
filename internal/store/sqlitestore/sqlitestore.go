// Package sqlitestore is the embedded store.Store: one SQLite file (pure-Go
// modernc.org/sqlite driver, WAL), migrated on open. Writes go through one
// connection (SQLite has one writer; busy_timeout covers other processes);
// reads use a pool of read-only connections that WAL lets run alongside.
package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // driver "sqlite"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/store"
)

// DB is a store.Store on SQLite.
type DB struct {
	w, r  *sql.DB
	stmts *stmtCache
}

var _ store.Store = (*DB)(nil)

func dsn(path string, readOnly bool) string {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "synchronous(NORMAL)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate")
	}
	// SQLite decodes %HH in URI paths; escape what would end the path.
	esc := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
	return "file:" + esc + "?" + q.Encode()
}

// Open opens (creating and migrating) the database at path.
func Open(ctx context.Context, path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	w, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	return &DB{w: w, r: r, stmts: &stmtCache{db: r, m: map[string]*sql.Stmt{}}}, nil
}

// WriteDB is the single-connection write pool, shared with the queue (River)
// so that enqueueing joins the store's transactions.
func (db *DB) WriteDB() *sql.DB { return db.w }

// Close closes both pools.
func (db *DB) Close() error {
	db.stmts.mu.Lock()
	for _, st := range db.stmts.m {
		st.Close()
	}
	db.stmts.m = map[string]*sql.Stmt{}
	db.stmts.mu.Unlock()
	return errors.Join(db.r.Close(), db.w.Close())
}

// Ping implements store.Store.
func (db *DB) Ping(ctx context.Context) error {
	var n int
	if err := db.r.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
		return fmt.Errorf("sqlitestore ping: %w", err)
	}
	return nil
}

// InTx implements store.Store.
func (db *DB) InTx(ctx context.Context, fn func(tx store.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitestore begin: %w", err)
	}
	if err := fn(&txq{q: q{db: tx}, tx: tx}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore commit: %w", err)
	}
	return nil
}

type dbtx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// q implements store.Reader over a pool or a transaction. On the read pool
// it keeps prepared statements (parsing SQL was a fifth of a GET's CPU).
type q struct {
	db    dbtx
	stmts *stmtCache
	// team, when set, limits every read to that team's rows.
	team string
}

// scope returns the condition (with its leading AND) that limits a query on
// a table with a team_id column to q's team, and its argument.
func (q q) scope(col string) (string, []any) {
	if q.team == "" {
		return "", nil
	}
	return " AND " + col + " = ?", []any{q.team}
}

// ForTeam implements store.Store.
func (db *DB) ForTeam(team string) store.Reader {
	r := db.rd()
	r.team = store.TeamOr(team)
	return r
}

type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.m[query] = st
	return st, nil
}

func (q q) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if q.stmts != nil {
		st, err := q.stmts.get(ctx, query)
		if err != nil {
			return nil, err
		}
		return st.QueryContext(ctx, args...)
	}
	return q.db.QueryContext(ctx, query, args...)
}

type rowScanner interface{ Scan(...any) error }

type errRow struct{ err error }

func (e errRow) Scan(...any) error { return e.err }

func (q q) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	if q.stmts != nil {
		st, err := q.stmts.get(ctx, query)
		if err != nil {
			return errRow{err}
		}
		return st.QueryRowContext(ctx, args...)
	}
	return q.db.QueryRowContext(ctx, query, args...)
}

type txq struct {
	q
	tx *sql.Tx
}

func (t *txq) Raw() any { return t.tx }

func (db *DB) rd() q { return q{db: db.r, stmts: db.stmts} }

// Reader methods on DB use the read pool.

func (db *DB) GetJob(ctx context.Context, id string) (*store.Job, error) {
	return db.rd().GetJob(ctx, id)
}
func (db *DB) ListJobs(ctx context.Context, p store.ListParams) ([]*store.Job, int, error) {
	return db.rd().ListJobs(ctx, p)
}
func (db *DB) GetNode(ctx context.Context, jobID, nodeID string) (*store.Node, error) {
	return db.rd().GetNode(ctx, jobID, nodeID)
}
func (db *DB) ListEvents(ctx context.Context, jobID string, after int64, limit int) ([]store.Event, error) {
	return db.rd().ListEvents(ctx, jobID, after, limit)
}
func (db *DB) GetDataset(ctx context.Context, id string) (*store.Dataset, error) {
	return db.rd().GetDataset(ctx, id)
}
func (db *DB) FindDataset(ctx context.Context, team, sha256, name string) (*store.Dataset, error) {
	return db.rd().FindDataset(ctx, team, sha256, name)
}
func (db *DB) ListDatasets(ctx context.Context, p store.ListParams) ([]*store.Dataset, int, error) {
	return db.rd().ListDatasets(ctx, p)
}
func (db *DB) GetModel(ctx context.Context, id string) (*store.Model, error) {
	return db.rd().GetModel(ctx, id)
}
func (db *DB) ListModels(ctx context.Context, p store.ListParams) ([]*store.Model, int, error) {
	return db.rd().ListModels(ctx, p)
}
func (db *DB) GetCache(ctx context.Context, team, key string) ([]agent.Artifact, bool, error) {
	return db.rd().GetCache(ctx, team, key)
}
func (db *DB) StoredBytes(ctx context.Context) (int64, error) {
	return db.rd().StoredBytes(ctx)
}
func (db *DB) ActiveJobs(ctx context.Context) ([]string, error) {
	return db.rd().ActiveJobs(ctx)
}

// Time is stored as Unix nanoseconds; NULL for none.

func nanos(t time.Time) int64 { return t.UnixNano() }

func ptime(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := time.Unix(0, n.Int64).UTC()
	return &t
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func limit(p store.ListParams) (int, int) {
	l := p.Limit
	if l <= 0 {
		l = 50
	}
	if l > 1000 {
		l = 1000
	}
	return l, max(p.Offset, 0)
}

const jobCols = `id, name, status, team_id, spec, work_dir, error, created_at, started_at, finished_at, datasets`

func scanJob(sc rowScanner) (*store.Job, error) {
	var j store.Job
	var spec, datasets string
	var created int64
	var started, finished sql.NullInt64
	if err := sc.Scan(&j.ID, &j.Name, &j.Status, &j.Team, &spec, &j.WorkDir, &j.Error, &created, &started, &finished, &datasets); err != nil {
		return nil, err
	}
	j.Datasets = []store.DatasetVersion{}
	json.Unmarshal([]byte(datasets), &j.Datasets)
	j.Spec = json.RawMessage(spec)
	j.CreatedAt = time.Unix(0, created).UTC()
	j.StartedAt, j.FinishedAt = ptime(started), ptime(finished)
	return &j, nil
}

const nodeCols = `job_id, id, agent, params, preds, status, attempts, max_attempts, cache, queued, lease_owner, lease_until, started_at, finished_at, outputs, error, cache_key, cached, deaths`

func scanNode(sc rowScanner) (*store.Node, error) {
	var n store.Node
	var params, preds, outputs string
	var leaseUntil int64
	var started, finished sql.NullInt64
	if err := sc.Scan(&n.JobID, &n.ID, &n.Agent, &params, &preds, &n.Status, &n.Attempts, &n.MaxAttempts, &n.Cache, &n.Queued,
		&n.LeaseOwner, &leaseUntil, &started, &finished, &outputs, &n.Error, &n.CacheKey, &n.Cached, &n.Deaths); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(params), &n.Params); err != nil {
		return nil, fmt.Errorf("node %s params: %w", n.ID, err)
	}
	json.Unmarshal([]byte(preds), &n.Preds)
	json.Unmarshal([]byte(outputs), &n.Outputs)
	if n.Outputs == nil {
		n.Outputs = []agent.Artifact{}
	}
	n.LeaseUntil = time.Unix(0, leaseUntil).UTC()
	n.StartedAt, n.FinishedAt = ptime(started), ptime(finished)
	return &n, nil
}

func notFound(what, id string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %q: %w", what, id, store.ErrNotFound)
	}
	return fmt.Errorf("get %s %q: %w", what, id, err)
}

func (q q) GetJob(ctx context.Context, id string) (*store.Job, error) {
	cond, args := q.scope("team_id")
	j, err := scanJob(q.queryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`+cond, append([]any{id}, args...)...))
	if err != nil {
		return nil, notFound("job", id, err)
	}
	rows, err := q.query(ctx, `SELECT `+nodeCols+` FROM nodes WHERE job_id = ? ORDER BY idx`, id)
	if err != nil {
		return nil, fmt.Errorf("get job %q nodes: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		n, err := scanNode(rows)
		if err != nil {
			return nil, fmt.Errorf("get job %q nodes: %w", id, err)
		}
		j.Nodes = append(j.Nodes, n)
	}
	return j, rows.Err()
}

func (q q) ListJobs(ctx context.Context, p store.ListParams) ([]*store.Job, int, error) {
	l, off := limit(p)
	where, args := q.scope("team_id")
	if p.Status != "" {
		where, args = where+" AND status = ?", append(args, p.Status)
	}
	where = " WHERE 1 = 1" + where
	var total int
	if err := q.queryRow(ctx, `SELECT count(*) FROM jobs`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list jobs: %w", err)
	}
	rows, err := q.query(ctx, `SELECT `+jobCols+` FROM jobs`+where+` ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`, append(args, l, off)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	out := []*store.Job{}
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list jobs: %w", err)
		}
		out = append(out, j)
	}
	return out, total, rows.Err()
}

func (q q) GetNode(ctx context.Context, jobID, nodeID string) (*store.Node, error) {
	cond, args := q.scope("team_id")
	if cond != "" {
		cond = " AND job_id IN (SELECT id FROM jobs WHERE id = ?" + cond + ")"
		args = append([]any{jobID}, args...)
	}
	n, err := scanNode(q.queryRow(ctx, `SELECT `+nodeCols+` FROM nodes WHERE job_id = ? AND id = ?`+cond, append([]any{jobID, nodeID}, args...)...))
	if err != nil {
		return nil, notFound("node", jobID+"/"+nodeID, err)
	}
	return n, nil
}

func (q q) ActiveJobs(ctx context.Context) ([]string, error) {
	cond, args := q.scope("team_id")
	rows, err := q.query(ctx, `SELECT id FROM jobs WHERE status IN ('pending','running')`+cond+` ORDER BY created_at`, args...)
	if err != nil {
		return nil, fmt.Errorf("active jobs: %w", err)
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

func (q q) ListEvents(ctx context.Context, jobID string, after int64, lim int) ([]store.Event, error) {
	if lim <= 0 || lim > 10000 {
		lim = 1000
	}
	cond, args := q.scope("team_id")
	rows, err := q.query(ctx, `SELECT seq, type, node, time, data FROM events WHERE job_id = ? AND seq > ?`+cond+` ORDER BY seq LIMIT ?`,
		append(append([]any{jobID, after}, args...), lim)...)
	if err != nil {
		return nil, fmt.Errorf("list events %s: %w", jobID, err)
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		e := store.Event{JobID: jobID}
		var t int64
		var data string
		if err := rows.Scan(&e.Seq, &e.Type, &e.Node, &t, &data); err != nil {
			return nil, fmt.Errorf("list events %s: %w", jobID, err)
		}
		e.Time = time.Unix(0, t).UTC()
		e.Data = json.RawMessage(data)
		out = append(out, e)
	}
	return out, rows.Err()
}

const datasetCols = `id, name, team_id, size, sha256, format, blob_key, created_at, version`

// datasetDetail are the columns GetDataset adds to datasetCols;
// ListDatasets adds only profile, which scanDataset turns into Summary.
const datasetDetail = `, profile, sample`

// scanDataset scans datasetCols and profile, and with detail sample: then
// it returns Profile and Sample, else Summary alone.
func scanDataset(sc rowScanner, detail bool) (*store.Dataset, error) {
	var d store.Dataset
	var created int64
	var profile, sample string
	dst := []any{&d.ID, &d.Name, &d.Team, &d.Size, &d.SHA256, &d.Format, &d.BlobKey, &created, &d.Version, &profile}
	if detail {
		dst = append(dst, &sample)
	}
	if err := sc.Scan(dst...); err != nil {
		return nil, err
	}
	d.CreatedAt = time.Unix(0, created).UTC()
	switch {
	case !detail:
		d.Summary = store.Summarize(json.RawMessage(profile))
	case profile != "":
		d.Profile = json.RawMessage(profile)
	}
	if sample != "" {
		d.Sample = json.RawMessage(sample)
	}
	return &d, nil
}

func (q q) GetDataset(ctx context.Context, id string) (*store.Dataset, error) {
	cond, args := q.scope("team_id")
	d, err := scanDataset(q.queryRow(ctx, `SELECT `+datasetCols+datasetDetail+` FROM datasets WHERE id = ?`+cond, append([]any{id}, args...)...), true)
	if err != nil {
		return nil, notFound("dataset", id, err)
	}
	return d, nil
}

func (q q) FindDataset(ctx context.Context, team, sha256, name string) (*store.Dataset, error) {
	cond, args := q.scope("team_id")
	d, err := scanDataset(q.queryRow(ctx, `SELECT `+datasetCols+datasetDetail+` FROM datasets WHERE team_id = ? AND sha256 = ? AND name = ?`+cond+` ORDER BY created_at, id LIMIT 1`,
		append([]any{store.TeamOr(team), sha256, name}, args...)...), true)
	if err != nil {
		return nil, notFound("dataset with sha256 "+sha256+" named", name, err)
	}
	return d, nil
}

// datasetFormat is store.Summarize's Format in SQL: the profile's
// source_format when a non-empty string, else its format; NULL for a
// dataset without a readable profile.
const datasetFormat = `(CASE WHEN json_valid(profile) THEN (CASE` +
	` WHEN json_type(profile, '$.source_format') = 'text' AND json_extract(profile, '$.source_format') <> '' THEN json_extract(profile, '$.source_format')` +
	` WHEN json_type(profile, '$.format') = 'text' THEN json_extract(profile, '$.format') END) END)`

func (q q) ListDatasets(ctx context.Context, p store.ListParams) ([]*store.Dataset, int, error) {
	l, off := limit(p)
	cond, args := q.scope("team_id")
	if p.Query != "" {
		// SQLite's lower folds ASCII letters only
		cond += ` AND (instr(lower(name), lower(?)) > 0 OR instr(lower(id), lower(?)) > 0)`
		args = append(args, p.Query, p.Query)
	}
	if len(p.Formats) > 0 {
		cond += ` AND ` + datasetFormat + ` IN (?` + strings.Repeat(", ?", len(p.Formats)-1) + `)`
		for _, f := range p.Formats {
			args = append(args, f)
		}
	}
	var total int
	if err := q.queryRow(ctx, `SELECT count(*) FROM datasets WHERE 1 = 1`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list datasets: %w", err)
	}
	rows, err := q.query(ctx, `SELECT `+datasetCols+`, profile FROM datasets WHERE 1 = 1`+cond+` ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`, append(args, l, off)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list datasets: %w", err)
	}
	defer rows.Close()
	out := []*store.Dataset{}
	for rows.Next() {
		d, err := scanDataset(rows, false)
		if err != nil {
			return nil, 0, fmt.Errorf("list datasets: %w", err)
		}
		out = append(out, d)
	}
	return out, total, rows.Err()
}

const modelCols = `id, name, team_id, job_id, node_id, output, uri, size, files, meta, created_at, lineage`

func scanModel(sc rowScanner) (*store.Model, error) {
	var m store.Model
	var files, meta, lineage string
	var created int64
	if err := sc.Scan(&m.ID, &m.Name, &m.Team, &m.JobID, &m.NodeID, &m.Output, &m.URI, &m.Size, &files, &meta, &created, &lineage); err != nil {
		return nil, err
	}
	if lineage != "" {
		m.Lineage = &store.Lineage{}
		json.Unmarshal([]byte(lineage), m.Lineage)
	}
	json.Unmarshal([]byte(files), &m.Files)
	json.Unmarshal([]byte(meta), &m.Meta)
	m.CreatedAt = time.Unix(0, created).UTC()
	return &m, nil
}

func (q q) GetModel(ctx context.Context, id string) (*store.Model, error) {
	cond, args := q.scope("team_id")
	m, err := scanModel(q.queryRow(ctx, `SELECT `+modelCols+` FROM models WHERE id = ?`+cond, append([]any{id}, args...)...))
	if err != nil {
		return nil, notFound("model", id, err)
	}
	return m, nil
}

func (q q) ListModels(ctx context.Context, p store.ListParams) ([]*store.Model, int, error) {
	l, off := limit(p)
	cond, args := q.scope("team_id")
	if p.Query != "" {
		cond += ` AND (instr(lower(name), lower(?)) > 0 OR instr(lower(id), lower(?)) > 0 OR instr(lower(job_id), lower(?)) > 0)`
		args = append(args, p.Query, p.Query, p.Query)
	}
	if len(p.Formats) > 0 {
		// store.Model.Format: meta's format when a non-empty string, else the output
		cond += ` AND (CASE WHEN json_type(meta, '$.format') = 'text' AND json_extract(meta, '$.format') <> '' THEN json_extract(meta, '$.format') ELSE output END)` +
			` IN (?` + strings.Repeat(", ?", len(p.Formats)-1) + `)`
		for _, f := range p.Formats {
			args = append(args, f)
		}
	}
	var total int
	if err := q.queryRow(ctx, `SELECT count(*) FROM models WHERE 1 = 1`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list models: %w", err)
	}
	if p.After != nil { // keyset: after the cursor in (created_at DESC, id DESC) order
		cond += ` AND (created_at, id) < (?, ?)`
		args = append(args, nanos(p.After.CreatedAt), p.After.ID)
	}
	rows, err := q.query(ctx, `SELECT `+modelCols+` FROM models WHERE 1 = 1`+cond+` ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`, append(args, l, off)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list models: %w", err)
	}
	defer rows.Close()
	out := []*store.Model{}
	for rows.Next() {
		m, err := scanModel(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list models: %w", err)
		}
		out = append(out, m)
	}
	return out, total, rows.Err()
}

func (q q) GetCache(ctx context.Context, team, key string) ([]agent.Artifact, bool, error) {
	cond, args := q.scope("team_id")
	var s string
	err := q.queryRow(ctx, `SELECT outputs FROM cache WHERE team_id = ? AND key = ?`+cond, append([]any{store.TeamOr(team), key}, args...)...).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get cache: %w", err)
	}
	var out []agent.Artifact
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, false, fmt.Errorf("get cache: %w", err)
	}
	return out, true, nil
}

func (q q) StoredBytes(ctx context.Context) (int64, error) {
	cond, args := q.scope("team_id")
	var n int64
	err := q.queryRow(ctx, `SELECT coalesce((SELECT sum(size) FROM datasets WHERE 1 = 1`+cond+`), 0) + coalesce((SELECT sum(size) FROM models WHERE 1 = 1`+cond+`), 0)`,
		append(append([]any{}, args...), args...)...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("stored bytes: %w", err)
	}
	return n, nil
}

// Writes.

func (t *txq) CreateJob(ctx context.Context, j *store.Job) error {
	_, err := t.db.ExecContext(ctx, `INSERT INTO jobs (id, name, status, team_id, spec, work_dir, error, created_at) VALUES (?,?,?,?,?,?,?,?)`,
		j.ID, j.Name, j.Status, store.TeamOr(j.Team), string(j.Spec), j.WorkDir, j.Error, nanos(j.CreatedAt))
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return fmt.Errorf("create job %q: %w", j.ID, store.ErrConflict)
		}
		return fmt.Errorf("create job %q: %w", j.ID, err)
	}
	for i, n := range j.Nodes {
		preds := n.Preds
		if preds == nil {
			preds = []string{}
		}
		params := n.Params
		if params == nil {
			params = map[string]any{}
		}
		_, err := t.db.ExecContext(ctx, `INSERT INTO nodes (job_id, id, idx, agent, params, preds, status, max_attempts, cache) VALUES (?,?,?,?,?,?,?,?,?)`,
			j.ID, n.ID, i, n.Agent, mustJSON(params), mustJSON(preds), cmpStatus(n.Status), n.MaxAttempts, n.Cache)
		if err != nil {
			return fmt.Errorf("create job %q node %q: %w", j.ID, n.ID, err)
		}
	}
	return nil
}

func cmpStatus(s store.Status) store.Status {
	if s == "" {
		return store.Pending
	}
	return s
}

func affected(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func (t *txq) SetJobStatus(ctx context.Context, id string, status store.Status, errMsg string, at time.Time) (bool, error) {
	var res sql.Result
	var err error
	switch {
	case status == store.Running:
		res, err = t.db.ExecContext(ctx, `UPDATE jobs SET status = 'running', started_at = coalesce(started_at, ?) WHERE id = ? AND status = 'pending'`, nanos(at), id)
	case status.Terminal():
		res, err = t.db.ExecContext(ctx, `UPDATE jobs SET status = ?, error = ?, finished_at = ?, started_at = coalesce(started_at, ?) WHERE id = ? AND status IN ('pending','running')`,
			status, errMsg, nanos(at), nanos(at), id)
	default:
		return false, fmt.Errorf("set job %q status: cannot move to %q", id, status)
	}
	ok, err := affected(res, err)
	if err != nil {
		return false, fmt.Errorf("set job %q status: %w", id, err)
	}
	if !ok {
		if _, err := t.GetJob(ctx, id); err != nil {
			return false, err
		}
	}
	return ok, nil
}

func (t *txq) ClaimNode(ctx context.Context, p *store.ClaimParams) (*store.Node, bool, error) {
	ok, err := affected(t.db.ExecContext(ctx, `UPDATE nodes SET status = 'running', attempts = attempts + 1, lease_owner = ?, lease_until = ?,
		started_at = coalesce(started_at, ?), error = error
		WHERE job_id = ? AND id = ? AND (status = 'pending' OR (status = 'running' AND lease_until < ?))`,
		p.Owner, nanos(p.LeaseUntil), nanos(p.Now), p.JobID, p.NodeID, nanos(p.Now)))
	if err != nil {
		return nil, false, fmt.Errorf("claim node %s/%s: %w", p.JobID, p.NodeID, err)
	}
	n, err := t.GetNode(ctx, p.JobID, p.NodeID)
	if err != nil {
		return nil, false, err
	}
	return n, ok, nil
}

func (t *txq) RenewLease(ctx context.Context, jobID, nodeID, owner string, until time.Time) (bool, error) {
	ok, err := affected(t.db.ExecContext(ctx, `UPDATE nodes SET lease_until = ? WHERE job_id = ? AND id = ? AND status = 'running' AND lease_owner = ?`,
		nanos(until), jobID, nodeID, owner))
	if err != nil {
		return false, fmt.Errorf("renew lease %s/%s: %w", jobID, nodeID, err)
	}
	return ok, nil
}

func (t *txq) FinishNode(ctx context.Context, p *store.FinishNodeParams) (bool, error) {
	outs := p.Outputs
	if outs == nil {
		outs = []agent.Artifact{}
	}
	ok, err := affected(t.db.ExecContext(ctx, `UPDATE nodes SET status = ?, outputs = ?, error = ?, cache_key = ?, cached = ?, finished_at = ?,
		started_at = coalesce(started_at, ?), lease_owner = '', lease_until = 0
		WHERE job_id = ? AND id = ? AND status IN ('running', 'pending') AND (? = '' OR lease_owner = ?)`,
		p.Status, mustJSON(outs), p.Error, p.CacheKey, p.Cached, nanos(p.At), nanos(p.At), p.JobID, p.NodeID, p.Owner, p.Owner))
	if err != nil {
		return false, fmt.Errorf("finish node %s/%s: %w", p.JobID, p.NodeID, err)
	}
	return ok, nil
}

func (t *txq) RetryNode(ctx context.Context, jobID, nodeID, owner, errMsg string) (bool, error) {
	ok, err := affected(t.db.ExecContext(ctx, `UPDATE nodes SET status = 'pending', error = ?, lease_owner = '', lease_until = 0
		WHERE job_id = ? AND id = ? AND status = 'running' AND lease_owner = ?`, errMsg, jobID, nodeID, owner))
	if err != nil {
		return false, fmt.Errorf("retry node %s/%s: %w", jobID, nodeID, err)
	}
	return ok, nil
}

func (t *txq) MarkQueued(ctx context.Context, jobID, nodeID string) (bool, error) {
	ok, err := affected(t.db.ExecContext(ctx, `UPDATE nodes SET queued = 1 WHERE job_id = ? AND id = ? AND queued = 0`, jobID, nodeID))
	if err != nil {
		return false, fmt.Errorf("mark node %s/%s queued: %w", jobID, nodeID, err)
	}
	return ok, nil
}

func (t *txq) CancelNodes(ctx context.Context, jobID string, at time.Time) error {
	_, err := t.db.ExecContext(ctx, `UPDATE nodes SET status = 'cancelled', finished_at = ? WHERE job_id = ? AND status = 'pending'`, nanos(at), jobID)
	if err != nil {
		return fmt.Errorf("cancel nodes of %s: %w", jobID, err)
	}
	return nil
}

func (t *txq) ReleaseDead(ctx context.Context, now time.Time, ownerPrefix string) ([]store.Released, error) {
	rows, err := t.db.QueryContext(ctx, `UPDATE nodes SET status = 'pending', lease_owner = '', lease_until = 0, deaths = deaths + 1
		WHERE status = 'running' AND (lease_until < ?1 OR (?2 != '' AND substr(lease_owner, 1, length(?2)) = ?2))
		RETURNING job_id, id, attempts, max_attempts, deaths`, nanos(now), ownerPrefix)
	if err != nil {
		return nil, fmt.Errorf("release dead leases: %w", err)
	}
	defer rows.Close()
	var out []store.Released
	for rows.Next() {
		var r store.Released
		if err := rows.Scan(&r.JobID, &r.NodeID, &r.Attempts, &r.MaxAttempts, &r.Deaths); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (t *txq) ReleaseNode(ctx context.Context, jobID, nodeID, owner string) (bool, error) {
	ok, err := affected(t.db.ExecContext(ctx, `UPDATE nodes SET status = 'pending', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
		lease_owner = '', lease_until = 0
		WHERE job_id = ? AND id = ? AND status = 'running' AND lease_owner = ?`, jobID, nodeID, owner))
	if err != nil {
		return false, fmt.Errorf("release node %s/%s: %w", jobID, nodeID, err)
	}
	return ok, nil
}

func (t *txq) AppendEvent(ctx context.Context, e *store.Event) error {
	_, err := t.appendEvent(ctx, e, false)
	return err
}

func (t *txq) AppendActiveEvent(ctx context.Context, e *store.Event) (bool, error) {
	return t.appendEvent(ctx, e, true)
}

func (t *txq) appendEvent(ctx context.Context, e *store.Event, activeOnly bool) (bool, error) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	data := string(e.Data)
	if data == "" {
		data = "{}"
	}
	cond := ""
	if activeOnly {
		cond = ` AND status IN ('pending','running')`
	}
	var team string
	err := t.db.QueryRowContext(ctx, `UPDATE jobs SET last_seq = last_seq + 1 WHERE id = ?`+cond+` RETURNING last_seq, team_id`, e.JobID).Scan(&e.Seq, &team)
	if errors.Is(err, sql.ErrNoRows) {
		if activeOnly {
			if _, err := t.GetJob(ctx, e.JobID); err != nil {
				return false, fmt.Errorf("append event: %w", err)
			}
			return false, nil
		}
		return false, fmt.Errorf("append event: job %q: %w", e.JobID, store.ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("append event to %s: %w", e.JobID, err)
	}
	_, err = t.db.ExecContext(ctx, `INSERT INTO events (job_id, seq, type, node, time, data, team_id) VALUES (?,?,?,?,?,?,?)`,
		e.JobID, e.Seq, e.Type, e.Node, nanos(e.Time), data, team)
	if err != nil {
		return false, fmt.Errorf("append event to %s: %w", e.JobID, err)
	}
	return true, nil
}

func (t *txq) PutCache(ctx context.Context, team, key string, outputs []agent.Artifact) error {
	_, err := t.db.ExecContext(ctx, `INSERT INTO cache (team_id, key, outputs, created_at) VALUES (?,?,?,?)
		ON CONFLICT (team_id, key) DO UPDATE SET outputs = excluded.outputs, created_at = excluded.created_at`,
		store.TeamOr(team), key, mustJSON(outputs), nanos(time.Now()))
	if err != nil {
		return fmt.Errorf("put cache: %w", err)
	}
	return nil
}

func (t *txq) AddJobDatasets(ctx context.Context, jobID string, ds []store.DatasetVersion) error {
	var cur string
	if err := t.db.QueryRowContext(ctx, `SELECT datasets FROM jobs WHERE id = ?`, jobID).Scan(&cur); err != nil {
		return notFound("job", jobID, err)
	}
	var have []store.DatasetVersion
	json.Unmarshal([]byte(cur), &have)
	if _, err := t.db.ExecContext(ctx, `UPDATE jobs SET datasets = ? WHERE id = ?`, mustJSON(store.MergeDatasets(have, ds)), jobID); err != nil {
		return fmt.Errorf("add job %q datasets: %w", jobID, err)
	}
	return nil
}

func (t *txq) CreateDataset(ctx context.Context, d *store.Dataset) error {
	_, err := t.db.ExecContext(ctx, `INSERT INTO datasets (`+datasetCols+datasetDetail+`) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
		d.ID, d.Name, store.TeamOr(d.Team), d.Size, d.SHA256, d.Format, d.BlobKey, nanos(d.CreatedAt), d.Version, string(d.Profile), string(d.Sample))
	if err != nil {
		return fmt.Errorf("create dataset %q: %w", d.ID, err)
	}
	return nil
}

// CreateDatasetOnce implements store.Tx. The write connection is the only
// one and its transactions are immediate, so the lookup and the insert
// cannot interleave with another's.
func (t *txq) CreateDatasetOnce(ctx context.Context, d *store.Dataset) (*store.Dataset, bool, error) {
	if d.SHA256 != "" {
		have, err := t.FindDataset(ctx, d.Team, d.SHA256, d.Name)
		if err == nil {
			return have, false, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, false, err
		}
	}
	if err := t.CreateDataset(ctx, d); err != nil {
		return nil, false, err
	}
	return d, true, nil
}

func (t *txq) CreateModel(ctx context.Context, m *store.Model) error {
	files := m.Files
	if files == nil {
		files = []string{}
	}
	lineage := ""
	if m.Lineage != nil {
		lineage = mustJSON(m.Lineage)
	}
	_, err := t.db.ExecContext(ctx, `INSERT INTO models (`+modelCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
		m.ID, m.Name, store.TeamOr(m.Team), m.JobID, m.NodeID, m.Output, m.URI, m.Size, mustJSON(files), mustJSON(m.Meta), nanos(m.CreatedAt), lineage)
	if err != nil {
		return fmt.Errorf("create model %q: %w", m.ID, err)
	}
	return nil
}

func (t *txq) DeleteModel(ctx context.Context, id string) error {
	res, err := t.db.ExecContext(ctx, `DELETE FROM models WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete model %q: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete model %q: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("delete model %q: %w", id, store.ErrNotFound)
	}
	return nil
}

func (t *txq) DeleteDataset(ctx context.Context, id string) error {
	res, err := t.db.ExecContext(ctx, `DELETE FROM datasets WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete dataset %q: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete dataset %q: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("delete dataset %q: %w", id, store.ErrNotFound)
	}
	return nil
}
