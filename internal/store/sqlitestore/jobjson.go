package sqlitestore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/whetstone/whetstone/internal/store"
)

// jobJSONQuery reads a job (k = 0) and its nodes (k = 1, by idx) in one
// statement: one consistent snapshot and one round through the pool.
const jobJSONQuery = `SELECT 0, -1, id, name, status, spec, error, created_at, started_at, finished_at, team_id, datasets, 0 FROM jobs WHERE id = ?1
UNION ALL
SELECT 1, idx, id, agent, params, status, error, started_at, finished_at, outputs, attempts, max_attempts, cached FROM nodes WHERE job_id = ?1
ORDER BY 1, 2`

// jobJSONTeamQuery is jobJSONQuery limited to team ?2.
const jobJSONTeamQuery = `SELECT 0, -1, id, name, status, spec, error, created_at, started_at, finished_at, team_id, datasets, 0 FROM jobs WHERE id = ?1 AND team_id = ?2
UNION ALL
SELECT 1, idx, id, agent, params, status, error, started_at, finished_at, outputs, attempts, max_attempts, cached FROM nodes
WHERE job_id = ?1 AND EXISTS (SELECT 1 FROM jobs WHERE id = ?1 AND team_id = ?2)
ORDER BY 1, 2`

// GetJobJSON returns the job as JSON, byte for byte the document
// json.Marshal(GetJob(id)) gives, followed by a newline, without decoding the
// nodes' params and outputs into maps and encoding them again: it is the
// API's read path, where that round trip was a quarter of a GET's CPU. The
// stored JSON columns are checked with json.Valid and copied as they are
// (they were written compact by json.Marshal). Returns store.ErrNotFound if
// there is no such job. TestGetJobJSONMatchesGetJob keeps the fields in step
// with store.Job and store.Node.
func (db *DB) GetJobJSON(ctx context.Context, id string) ([]byte, error) {
	return db.rd().GetJobJSON(ctx, id)
}

// GetJobJSON is DB.GetJobJSON, limited to q's team when it has one (the
// Reader ForTeam returns has it too).
func (q q) GetJobJSON(ctx context.Context, id string) ([]byte, error) {
	query, args := jobJSONQuery, []any{id}
	if q.team != "" {
		query, args = jobJSONTeamQuery, []any{id, q.team}
	}
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("get job %q: %w", id, err)
	}
	defer rows.Close()
	var (
		k, idx int64
		c      [11]any
		dest   = []any{&k, &idx, &c[0], &c[1], &c[2], &c[3], &c[4], &c[5], &c[6], &c[7], &c[8], &c[9], &c[10]}
		b      []byte
		nodes  int
	)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("get job %q: %w", id, err)
		}
		if k == 0 { // id, name, status, spec, error, created_at, started_at, finished_at, team, datasets
			spec := text(c[3])
			if len(spec) > 0 && !json.Valid(spec) {
				return nil, fmt.Errorf("get job %q: spec: invalid JSON", id)
			}
			b = make([]byte, 0, 2048+2*len(spec))
			b = append(b, `{"job_id":`...)
			b = appendString(b, str(c[0]))
			b = append(b, `,"name":`...)
			b = appendString(b, str(c[1]))
			b = append(b, `,"status":`...)
			b = appendString(b, str(c[2]))
			if team := str(c[8]); team != "" {
				b = append(b, `,"team":`...)
				b = appendString(b, team)
			}
			if len(spec) > 0 {
				b = append(b, `,"spec":`...)
				b = append(b, spec...)
			}
			b = append(b, `,"created_at":`...)
			b = appendTime(b, c[5])
			b = append(b, `,"started_at":`...)
			b = appendTime(b, c[6])
			b = append(b, `,"finished_at":`...)
			b = appendTime(b, c[7])
			b = append(b, `,"error":`...)
			b = appendString(b, str(c[4]))
			// GetJob reports missing or unreadable datasets as [].
			ds := text(c[9])
			if len(ds) == 0 || ds[0] != '[' || !json.Valid(ds) {
				ds = []byte("[]")
			}
			b = append(b, `,"datasets":`...)
			b = append(b, ds...)
			continue
		}
		// id, agent, params, status, error, started_at, finished_at, outputs, attempts, max_attempts, cached
		params, outputs := text(c[2]), text(c[7])
		if !json.Valid(params) {
			return nil, fmt.Errorf("get job %q nodes: node %s params: invalid JSON", id, str(c[0]))
		}
		// GetJob reports missing or unreadable outputs as [].
		if len(outputs) == 0 || outputs[0] != '[' || !json.Valid(outputs) {
			outputs = []byte("[]")
		}
		if nodes++; nodes == 1 {
			b = append(b, `,"nodes":[`...)
		} else {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendString(b, str(c[0]))
		b = append(b, `,"agent":`...)
		b = appendString(b, str(c[1]))
		b = append(b, `,"params":`...)
		b = append(b, params...)
		b = append(b, `,"status":`...)
		b = appendString(b, str(c[3]))
		b = append(b, `,"attempts":`...)
		b = strconv.AppendInt(b, integer(c[8]), 10)
		b = append(b, `,"max_attempts":`...)
		b = strconv.AppendInt(b, integer(c[9]), 10)
		b = append(b, `,"started_at":`...)
		b = appendTime(b, c[5])
		b = append(b, `,"finished_at":`...)
		b = appendTime(b, c[6])
		b = append(b, `,"outputs":`...)
		b = append(b, outputs...)
		b = append(b, `,"error":`...)
		b = appendString(b, str(c[4]))
		b = append(b, `,"cached":`...)
		b = strconv.AppendBool(b, integer(c[10]) != 0)
		b = append(b, '}')
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get job %q: %w", id, err)
	}
	if b == nil {
		return nil, fmt.Errorf("job %q: %w", id, store.ErrNotFound)
	}
	if nodes > 0 {
		b = append(b, ']')
	}
	return append(b, "}\n"...), nil
}

// text is a TEXT or BLOB column's value (nil for NULL).
func text(v any) []byte {
	switch v := v.(type) {
	case string:
		return []byte(v)
	case []byte:
		return v
	}
	return nil
}

// str is a TEXT column's value ("" for NULL).
func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}

// integer is an INTEGER column's value (0 for NULL).
func integer(v any) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case bool:
		if v {
			return 1
		}
	}
	return 0
}

// appendTime appends t (UNIX nanoseconds, an INTEGER column) as
// encoding/json writes a UTC *time.Time, or null for NULL.
func appendTime(b []byte, t any) []byte {
	ns, ok := t.(int64)
	if !ok {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = time.Unix(0, ns).UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string escaped as encoding/json.Marshal
// escapes it (HTML characters, U+2028 and U+2029 as \u; invalid UTF-8 as
// U+FFFD).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
