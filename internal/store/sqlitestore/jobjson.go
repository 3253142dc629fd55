package sqlitestore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/whetstone/whetstone/internal/store"
)

// jobJSON and nodeJSON mirror the JSON form of store.Job and store.Node
// (same fields, names and order) with the stored JSON columns kept raw.
// TestGetJobJSONMatchesGetJob keeps them in step.
type jobJSON struct {
	ID         string          `json:"job_id"`
	Name       string          `json:"name"`
	Status     store.Status    `json:"status"`
	Spec       json.RawMessage `json:"spec,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
	StartedAt  *time.Time      `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at"`
	Error      string          `json:"error"`
	Nodes      []nodeJSON      `json:"nodes,omitempty"`
}

type nodeJSON struct {
	ID          string          `json:"id"`
	Agent       string          `json:"agent"`
	Params      json.RawMessage `json:"params"`
	Status      store.Status    `json:"status"`
	Attempts    int             `json:"attempts"`
	MaxAttempts int             `json:"max_attempts"`
	StartedAt   *time.Time      `json:"started_at"`
	FinishedAt  *time.Time      `json:"finished_at"`
	Outputs     json.RawMessage `json:"outputs"`
	Error       string          `json:"error"`
	Cached      bool            `json:"cached"`
}

const nodeJSONCols = `id, agent, params, status, attempts, max_attempts, started_at, finished_at, outputs, error, cached`

// GetJobJSON returns the job as JSON, the document json.Marshal(GetJob(id))
// gives, followed by a newline, without decoding the nodes' params and
// outputs into maps and encoding them again: it is the API's read path, where
// that round trip was a quarter of a GET's CPU. Returns store.ErrNotFound if
// there is no such job.
func (db *DB) GetJobJSON(ctx context.Context, id string) ([]byte, error) {
	q := db.rd()
	var j jobJSON
	var spec, workDir string
	var created int64
	var started, finished sql.NullInt64
	err := q.queryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id).
		Scan(&j.ID, &j.Name, &j.Status, &spec, &workDir, &j.Error, &created, &started, &finished)
	if err != nil {
		return nil, notFound("job", id, err)
	}
	j.Spec = json.RawMessage(spec)
	j.CreatedAt = time.Unix(0, created).UTC()
	j.StartedAt, j.FinishedAt = ptime(started), ptime(finished)
	rows, err := q.query(ctx, `SELECT `+nodeJSONCols+` FROM nodes WHERE job_id = ? ORDER BY idx`, id)
	if err != nil {
		return nil, fmt.Errorf("get job %q nodes: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var n nodeJSON
		var params, outputs []byte
		if err := rows.Scan(&n.ID, &n.Agent, &params, &n.Status, &n.Attempts, &n.MaxAttempts, &started, &finished, &outputs, &n.Error, &n.Cached); err != nil {
			return nil, fmt.Errorf("get job %q nodes: %w", id, err)
		}
		if !json.Valid(params) {
			return nil, fmt.Errorf("get job %q nodes: node %s params: invalid JSON", id, n.ID)
		}
		// GetJob reports missing or unreadable outputs as [].
		if o := bytes.TrimSpace(outputs); len(o) == 0 || o[0] != '[' || !json.Valid(o) {
			outputs = []byte("[]")
		}
		n.Params, n.Outputs = params, outputs
		n.StartedAt, n.FinishedAt = ptime(started), ptime(finished)
		j.Nodes = append(j.Nodes, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get job %q nodes: %w", id, err)
	}
	b, err := json.Marshal(&j)
	if err != nil {
		return nil, fmt.Errorf("get job %q: encode: %w", id, err)
	}
	return append(b, '\n'), nil
}
