// Package pgstore is store.Store on PostgreSQL (pgx v5, a connection pool),
// migrated on open. It keeps the same tables and the same semantics as
// sqlitestore and passes the same storetest suite; the queue (River's pgx
// driver) enqueues in its transactions through Tx.Raw, a pgx.Tx.
//
// Transactions run at READ COMMITTED. Writes that must not interleave lock
// the rows they change (a job's last_seq for event order, a node's row for
// its lease); a transaction that PostgreSQL aborts for a deadlock or a
// serialization failure is run again from the start (InTx), so fn must not
// have effects outside the transaction.
package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/store"
)

// DB is a store.Store on PostgreSQL.
type DB struct {
	pool *pgxpool.Pool
	// reads is the pool for reads outside a transaction.
	reads pooled
}

var _ store.Store = (*DB)(nil)

// IsURL reports whether database names a PostgreSQL server
// (postgres:// or postgresql://).
func IsURL(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// Redact returns the URL without its password, for messages.
func Redact(database string) string {
	u, err := url.Parse(database)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	return u.Redacted()
}

// Open connects to the database at url (postgres://USER[:PASS]@HOST:PORT/DB?
// sslmode=...&search_path=SCHEMA&pool_max_conns=N), checks that it answers
// within 10 s, and migrates it.
func Open(ctx context.Context, dbURL string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, fmt.Errorf("pgstore: database %s: %w", Redact(dbURL), err)
	}
	if !strings.Contains(dbURL, "pool_max_conns") {
		cfg.MaxConns = 16
	}
	cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: database %s: %w", Redact(dbURL), err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: cannot reach database %s: %w", Redact(dbURL), err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &DB{pool: pool, reads: newPooled(pool)}, nil
}

// Pool is the connection pool, shared with the queue (River's pgx driver).
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Close closes the pool.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Ping implements store.Store.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("pgstore ping: %w", err)
	}
	return nil
}

// retryable reports whether PostgreSQL aborted the transaction for a
// deadlock or a serialization failure: running it again can succeed.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// InTx implements store.Store.
func (db *DB) InTx(ctx context.Context, fn func(tx store.Tx) error) error {
	var err error
	for try := 0; try < 8; try++ {
		if err = db.inTx(ctx, fn); err == nil || !retryable(err) {
			return err
		}
		time.Sleep(time.Duration(1+try*try) * time.Millisecond)
	}
	return err
}

func (db *DB) inTx(ctx context.Context, fn func(tx store.Tx) error) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgstore begin: %w", err)
	}
	if err := fn(&txq{q: q{db: tx}, tx: tx}); err != nil {
		tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgstore commit: %w", err)
	}
	return nil
}

type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// q implements store.Reader over the pool or a transaction.
type q struct {
	db dbtx
	// team, when set, limits every read to that team's rows.
	team string
}

// scope returns the condition (with its leading AND) that limits a query on
// a table with a team_id column to q's team, as placeholder $n, and its
// argument.
func (q q) scope(col string, n int) (string, []any) {
	if q.team == "" {
		return "", nil
	}
	return fmt.Sprintf(" AND %s = $%d", col, n), []any{q.team}
}

// ForTeam implements store.Store.
func (db *DB) ForTeam(team string) store.Reader {
	r := db.rd()
	r.team = store.TeamOr(team)
	return r
}

type txq struct {
	q
	tx pgx.Tx
}

// Raw returns the pgx.Tx.
func (t *txq) Raw() any { return t.tx }

func (db *DB) rd() q { return q{db: db.reads} }

// Reader methods on DB use the pool.

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

func nanos(t time.Time) int64 { return t.UnixNano() }

func ptime(n *int64) *time.Time {
	if n == nil {
		return nil
	}
	t := time.Unix(0, *n).UTC()
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

func scanJob(sc pgx.Row) (*store.Job, error) {
	var j store.Job
	var spec, datasets string
	var created int64
	var started, finished *int64
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

func scanNode(sc pgx.Row) (*store.Node, error) {
	var n store.Node
	var params, preds, outputs string
	var leaseUntil int64
	var started, finished *int64
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
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s %q: %w", what, id, store.ErrNotFound)
	}
	return fmt.Errorf("get %s %q: %w", what, id, err)
}

func (q q) GetJob(ctx context.Context, id string) (*store.Job, error) {
	cond, args := q.scope("team_id", 2)
	j, err := scanJob(q.db.QueryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = $1`+cond, append([]any{id}, args...)...))
	if err != nil {
		return nil, notFound("job", id, err)
	}
	rows, err := q.db.Query(ctx, `SELECT `+nodeCols+` FROM nodes WHERE job_id = $1 ORDER BY idx`, id)
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
	where, args := q.scope("team_id", 1)
	if p.Status != "" {
		where, args = where+fmt.Sprintf(" AND status = $%d", len(args)+1), append(args, string(p.Status))
	}
	where = " WHERE TRUE" + where
	var total int
	if err := q.db.QueryRow(ctx, `SELECT count(*) FROM jobs`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list jobs: %w", err)
	}
	n := len(args)
	rows, err := q.db.Query(ctx, fmt.Sprintf(`SELECT `+jobCols+` FROM jobs`+where+` ORDER BY created_at DESC, id DESC LIMIT $%d OFFSET $%d`, n+1, n+2), append(args, l, off)...)
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
	cond, args := q.scope("team_id", 3)
	if cond != "" {
		cond = " AND job_id IN (SELECT id FROM jobs WHERE id = $1" + cond + ")"
	}
	n, err := scanNode(q.db.QueryRow(ctx, `SELECT `+nodeCols+` FROM nodes WHERE job_id = $1 AND id = $2`+cond, append([]any{jobID, nodeID}, args...)...))
	if err != nil {
		return nil, notFound("node", jobID+"/"+nodeID, err)
	}
	return n, nil
}

func (q q) ActiveJobs(ctx context.Context) ([]string, error) {
	cond, args := q.scope("team_id", 1)
	rows, err := q.db.Query(ctx, `SELECT id FROM jobs WHERE status IN ('pending','running')`+cond+` ORDER BY created_at`, args...)
	if err != nil {
		return nil, fmt.Errorf("active jobs: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("active jobs: %w", err)
	}
	return out, nil
}

func (q q) ListEvents(ctx context.Context, jobID string, after int64, lim int) ([]store.Event, error) {
	if lim <= 0 || lim > 10000 {
		lim = 1000
	}
	cond, args := q.scope("team_id", 4)
	rows, err := q.db.Query(ctx, `SELECT seq, type, node, time, data FROM events WHERE job_id = $1 AND seq > $2`+cond+` ORDER BY seq LIMIT $3`,
		append([]any{jobID, after, lim}, args...)...)
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
func scanDataset(sc pgx.Row, detail bool) (*store.Dataset, error) {
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
	cond, args := q.scope("team_id", 2)
	d, err := scanDataset(q.db.QueryRow(ctx, `SELECT `+datasetCols+datasetDetail+` FROM datasets WHERE id = $1`+cond, append([]any{id}, args...)...), true)
	if err != nil {
		return nil, notFound("dataset", id, err)
	}
	return d, nil
}

func (q q) FindDataset(ctx context.Context, team, sha256, name string) (*store.Dataset, error) {
	cond, args := q.scope("team_id", 4)
	d, err := scanDataset(q.db.QueryRow(ctx, `SELECT `+datasetCols+datasetDetail+` FROM datasets WHERE team_id = $1 AND sha256 = $2 AND name = $3`+cond+` ORDER BY created_at, id LIMIT 1`,
		append([]any{store.TeamOr(team), sha256, name}, args...)...), true)
	if err != nil {
		return nil, notFound("dataset with sha256 "+sha256+" named", name, err)
	}
	return d, nil
}

// datasetFormat is store.Summarize's Format in SQL: the profile's
// source_format when a non-empty string, else its format; NULL for a
// dataset without a profile (profiles are JSON objects written at upload).
const datasetFormat = `(CASE WHEN left(profile, 1) = '{' THEN (CASE` +
	` WHEN json_typeof(profile::json -> 'source_format') = 'string' AND profile::json ->> 'source_format' <> '' THEN profile::json ->> 'source_format'` +
	` WHEN json_typeof(profile::json -> 'format') = 'string' THEN profile::json ->> 'format' END) END)`

// asciiLower folds the ASCII letters of a text expression, as SQLite's
// lower does; PostgreSQL's lower would fold other letters too.
func asciiLower(expr string) string {
	return `translate(` + expr + `, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')`
}

// storable reports whether PostgreSQL can hold s as text: UTF-8 without NUL.
func storable(s string) bool { return utf8.ValidString(s) && !strings.Contains(s, "\x00") }

// textFilters returns p with the formats PostgreSQL cannot hold as text
// dropped, and false when p's filters can match nothing: its query, or
// every format, is text no stored name, id or format can be (a NUL, bytes
// that are not UTF-8), which PostgreSQL would refuse as a parameter.
func textFilters(p store.ListParams) (store.ListParams, bool) {
	if !storable(p.Query) {
		return p, false
	}
	if len(p.Formats) == 0 {
		return p, true
	}
	var fs []string
	for _, f := range p.Formats {
		if storable(f) {
			fs = append(fs, f)
		}
	}
	p.Formats = fs
	return p, len(fs) > 0
}

func (q q) ListDatasets(ctx context.Context, p store.ListParams) ([]*store.Dataset, int, error) {
	p, ok := textFilters(p)
	if !ok {
		return []*store.Dataset{}, 0, nil
	}
	l, off := limit(p)
	where, args := q.scope("team_id", 1)
	if p.Query != "" {
		n := fmt.Sprintf("$%d", len(args)+1)
		where += ` AND (strpos(` + asciiLower("name") + `, ` + asciiLower(n) + `) > 0 OR strpos(` + asciiLower("id") + `, ` + asciiLower(n) + `) > 0)`
		args = append(args, p.Query)
	}
	if len(p.Formats) > 0 {
		where += fmt.Sprintf(` AND `+datasetFormat+` = ANY($%d)`, len(args)+1)
		args = append(args, p.Formats)
	}
	where = " WHERE TRUE" + where
	var total int
	if err := q.db.QueryRow(ctx, `SELECT count(*) FROM datasets`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list datasets: %w", err)
	}
	n := len(args)
	rows, err := q.db.Query(ctx, fmt.Sprintf(`SELECT `+datasetCols+`, profile FROM datasets`+where+` ORDER BY created_at DESC, id DESC LIMIT $%d OFFSET $%d`, n+1, n+2), append(args, l, off)...)
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

func scanModel(sc pgx.Row) (*store.Model, error) {
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
	cond, args := q.scope("team_id", 2)
	m, err := scanModel(q.db.QueryRow(ctx, `SELECT `+modelCols+` FROM models WHERE id = $1`+cond, append([]any{id}, args...)...))
	if err != nil {
		return nil, notFound("model", id, err)
	}
	return m, nil
}

func (q q) ListModels(ctx context.Context, p store.ListParams) ([]*store.Model, int, error) {
	p, ok := textFilters(p)
	if !ok {
		return []*store.Model{}, 0, nil
	}
	l, off := limit(p)
	where, args := q.scope("team_id", 1)
	if p.Query != "" {
		n := len(args) + 1
		arg := asciiLower(fmt.Sprintf("$%d", n))
		where += fmt.Sprintf(` AND (strpos(%s, %s) > 0 OR strpos(%s, %s) > 0 OR strpos(%s, %s) > 0)`,
			asciiLower("name"), arg, asciiLower("id"), arg, asciiLower("job_id"), arg)
		args = append(args, p.Query)
	}
	if len(p.Formats) > 0 {
		// store.Model.Format: meta's format when a non-empty string, else the output
		where += fmt.Sprintf(` AND (CASE WHEN json_typeof(meta::json -> 'format') = 'string' AND meta::json ->> 'format' <> '' THEN meta::json ->> 'format' ELSE output END) = ANY($%d)`, len(args)+1)
		args = append(args, p.Formats)
	}
	where = " WHERE TRUE" + where
	var total int
	if err := q.db.QueryRow(ctx, `SELECT count(*) FROM models`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list models: %w", err)
	}
	if p.After != nil { // keyset: after the cursor in (created_at DESC, id DESC) order
		where += fmt.Sprintf(` AND (created_at, id) < ($%d, $%d)`, len(args)+1, len(args)+2)
		args = append(args, nanos(p.After.CreatedAt), p.After.ID)
	}
	n := len(args)
	rows, err := q.db.Query(ctx, fmt.Sprintf(`SELECT `+modelCols+` FROM models`+where+` ORDER BY created_at DESC, id DESC LIMIT $%d OFFSET $%d`, n+1, n+2), append(args, l, off)...)
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
	cond, args := q.scope("team_id", 3)
	var s string
	err := q.db.QueryRow(ctx, `SELECT outputs FROM cache WHERE team_id = $1 AND key = $2`+cond, append([]any{store.TeamOr(team), key}, args...)...).Scan(&s)
	if errors.Is(err, pgx.ErrNoRows) {
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
	cond, args := q.scope("team_id", 1)
	var n int64
	err := q.db.QueryRow(ctx, `SELECT (coalesce((SELECT sum(size) FROM datasets WHERE TRUE`+cond+`), 0) + coalesce((SELECT sum(size) FROM models WHERE TRUE`+cond+`), 0))::BIGINT`,
		args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("stored bytes: %w", err)
	}
	return n, nil
}

// Writes.

func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func (t *txq) CreateJob(ctx context.Context, j *store.Job) error {
	_, err := t.db.Exec(ctx, `INSERT INTO jobs (id, name, status, team_id, spec, work_dir, error, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
		j.ID, j.Name, string(j.Status), store.TeamOr(j.Team), string(j.Spec), j.WorkDir, j.Error, nanos(j.CreatedAt))
	if err != nil {
		if isUnique(err) {
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
		_, err := t.db.Exec(ctx, `INSERT INTO nodes (job_id, id, idx, agent, params, preds, status, max_attempts, cache) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
			j.ID, n.ID, i, n.Agent, mustJSON(params), mustJSON(preds), string(cmpStatus(n.Status)), n.MaxAttempts, n.Cache)
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

func affected(tag pgconn.CommandTag, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() > 0, nil
}

func (t *txq) SetJobStatus(ctx context.Context, id string, status store.Status, errMsg string, at time.Time) (bool, error) {
	var tag pgconn.CommandTag
	var err error
	switch {
	case status == store.Running:
		tag, err = t.db.Exec(ctx, `UPDATE jobs SET status = 'running', started_at = coalesce(started_at, $1) WHERE id = $2 AND status = 'pending'`, nanos(at), id)
	case status.Terminal():
		tag, err = t.db.Exec(ctx, `UPDATE jobs SET status = $1, error = $2, finished_at = $3, started_at = coalesce(started_at, $3) WHERE id = $4 AND status IN ('pending','running')`,
			string(status), errMsg, nanos(at), id)
	default:
		return false, fmt.Errorf("set job %q status: cannot move to %q", id, status)
	}
	ok, err := affected(tag, err)
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
	ok, err := affected(t.db.Exec(ctx, `UPDATE nodes SET status = 'running', attempts = attempts + 1, lease_owner = $1, lease_until = $2,
		started_at = coalesce(started_at, $3)
		WHERE job_id = $4 AND id = $5 AND (status = 'pending' OR (status = 'running' AND lease_until < $3))`,
		p.Owner, nanos(p.LeaseUntil), nanos(p.Now), p.JobID, p.NodeID))
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
	ok, err := affected(t.db.Exec(ctx, `UPDATE nodes SET lease_until = $1 WHERE job_id = $2 AND id = $3 AND status = 'running' AND lease_owner = $4`,
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
	ok, err := affected(t.db.Exec(ctx, `UPDATE nodes SET status = $1, outputs = $2, error = $3, cache_key = $4, cached = $5, finished_at = $6,
		started_at = coalesce(started_at, $6), lease_owner = '', lease_until = 0
		WHERE job_id = $7 AND id = $8 AND status IN ('running', 'pending') AND ($9 = '' OR lease_owner = $9)`,
		string(p.Status), mustJSON(outs), p.Error, p.CacheKey, p.Cached, nanos(p.At), p.JobID, p.NodeID, p.Owner))
	if err != nil {
		return false, fmt.Errorf("finish node %s/%s: %w", p.JobID, p.NodeID, err)
	}
	return ok, nil
}

func (t *txq) RetryNode(ctx context.Context, jobID, nodeID, owner, errMsg string) (bool, error) {
	ok, err := affected(t.db.Exec(ctx, `UPDATE nodes SET status = 'pending', error = $1, lease_owner = '', lease_until = 0
		WHERE job_id = $2 AND id = $3 AND status = 'running' AND lease_owner = $4`, errMsg, jobID, nodeID, owner))
	if err != nil {
		return false, fmt.Errorf("retry node %s/%s: %w", jobID, nodeID, err)
	}
	return ok, nil
}

func (t *txq) MarkQueued(ctx context.Context, jobID, nodeID string) (bool, error) {
	ok, err := affected(t.db.Exec(ctx, `UPDATE nodes SET queued = TRUE WHERE job_id = $1 AND id = $2 AND NOT queued`, jobID, nodeID))
	if err != nil {
		return false, fmt.Errorf("mark node %s/%s queued: %w", jobID, nodeID, err)
	}
	return ok, nil
}

func (t *txq) CancelNodes(ctx context.Context, jobID string, at time.Time) error {
	_, err := t.db.Exec(ctx, `UPDATE nodes SET status = 'cancelled', finished_at = $1 WHERE job_id = $2 AND status = 'pending'`, nanos(at), jobID)
	if err != nil {
		return fmt.Errorf("cancel nodes of %s: %w", jobID, err)
	}
	return nil
}

func (t *txq) ReleaseDead(ctx context.Context, now time.Time, ownerPrefix string) ([]store.Released, error) {
	rows, err := t.db.Query(ctx, `UPDATE nodes SET status = 'pending', lease_owner = '', lease_until = 0, deaths = deaths + 1
		WHERE status = 'running' AND (lease_until < $1 OR ($2 <> '' AND substr(lease_owner, 1, length($2)) = $2))
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
	ok, err := affected(t.db.Exec(ctx, `UPDATE nodes SET status = 'pending', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
		lease_owner = '', lease_until = 0
		WHERE job_id = $1 AND id = $2 AND status = 'running' AND lease_owner = $3`, jobID, nodeID, owner))
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

// appendEvent takes the job row's lock with the last_seq increment, so
// events of one job commit in seq order and never leave a gap.
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
	err := t.db.QueryRow(ctx, `UPDATE jobs SET last_seq = last_seq + 1 WHERE id = $1`+cond+` RETURNING last_seq, team_id`, e.JobID).Scan(&e.Seq, &team)
	if errors.Is(err, pgx.ErrNoRows) {
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
	_, err = t.db.Exec(ctx, `INSERT INTO events (job_id, seq, type, node, time, data, team_id) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		e.JobID, e.Seq, e.Type, e.Node, nanos(e.Time), data, team)
	if err != nil {
		return false, fmt.Errorf("append event to %s: %w", e.JobID, err)
	}
	return true, nil
}

func (t *txq) PutCache(ctx context.Context, team, key string, outputs []agent.Artifact) error {
	_, err := t.db.Exec(ctx, `INSERT INTO cache (team_id, key, outputs, created_at) VALUES ($1,$2,$3,$4)
		ON CONFLICT (team_id, key) DO UPDATE SET outputs = excluded.outputs, created_at = excluded.created_at`,
		store.TeamOr(team), key, mustJSON(outputs), nanos(time.Now()))
	if err != nil {
		return fmt.Errorf("put cache: %w", err)
	}
	return nil
}

func (t *txq) AddJobDatasets(ctx context.Context, jobID string, ds []store.DatasetVersion) error {
	var cur string
	if err := t.db.QueryRow(ctx, `SELECT datasets FROM jobs WHERE id = $1 FOR UPDATE`, jobID).Scan(&cur); err != nil {
		return notFound("job", jobID, err)
	}
	var have []store.DatasetVersion
	json.Unmarshal([]byte(cur), &have)
	if _, err := t.db.Exec(ctx, `UPDATE jobs SET datasets = $1 WHERE id = $2`, mustJSON(store.MergeDatasets(have, ds)), jobID); err != nil {
		return fmt.Errorf("add job %q datasets: %w", jobID, err)
	}
	return nil
}

func (t *txq) CreateDataset(ctx context.Context, d *store.Dataset) error {
	_, err := t.db.Exec(ctx, `INSERT INTO datasets (`+datasetCols+datasetDetail+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
		d.ID, d.Name, store.TeamOr(d.Team), d.Size, d.SHA256, d.Format, d.BlobKey, nanos(d.CreatedAt), d.Version, string(d.Profile), string(d.Sample))
	if err != nil {
		return fmt.Errorf("create dataset %q: %w", d.ID, err)
	}
	return nil
}

// CreateDatasetOnce implements store.Tx. A transaction-scoped advisory
// lock on the team, SHA-256 and name makes racing calls take turns: the
// second finds the first's row once the first commits.
func (t *txq) CreateDatasetOnce(ctx context.Context, d *store.Dataset) (*store.Dataset, bool, error) {
	if d.SHA256 != "" {
		key := store.TeamOr(d.Team) + "\n" + d.SHA256 + "\n" + d.Name
		if _, err := t.db.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, key); err != nil {
			return nil, false, fmt.Errorf("create dataset %q: lock: %w", d.ID, err)
		}
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
	_, err := t.db.Exec(ctx, `INSERT INTO models (`+modelCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`,
		m.ID, m.Name, store.TeamOr(m.Team), m.JobID, m.NodeID, m.Output, m.URI, m.Size, mustJSON(files), mustJSON(m.Meta), nanos(m.CreatedAt), lineage)
	if err != nil {
		return fmt.Errorf("create model %q: %w", m.ID, err)
	}
	return nil
}

func (t *txq) DeleteModel(ctx context.Context, id string) error {
	tag, err := t.db.Exec(ctx, `DELETE FROM models WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete model %q: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete model %q: %w", id, store.ErrNotFound)
	}
	return nil
}

func (t *txq) DeleteDataset(ctx context.Context, id string) error {
	tag, err := t.db.Exec(ctx, `DELETE FROM datasets WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete dataset %q: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete dataset %q: %w", id, store.ErrNotFound)
	}
	return nil
}
