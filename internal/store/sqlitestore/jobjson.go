package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

const nodeJSONCols = `id, agent, params, status, attempts, max_attempts, started_at, finished_at, outputs, error, cached`

// GetJobJSON returns the job as JSON, byte for byte the document
// json.Marshal(GetJob(id)) gives, followed by a newline, without decoding the
// nodes' params and outputs into maps and encoding them again: it is the
// API's read path, where that round trip was a quarter of a GET's CPU. The
// stored JSON columns are checked with json.Valid and copied as they are
// (they were written compact by json.Marshal). Returns store.ErrNotFound if
// there is no such job. TestGetJobJSONMatchesGetJob keeps the fields in step
// with store.Job and store.Node.
func (db *DB) GetJobJSON(ctx context.Context, id string) ([]byte, error) {
	q := db.rd()
	var jobID, name, status, spec, errMsg string
	var created int64
	var started, finished sql.NullInt64
	err := q.queryRow(ctx, `SELECT id, name, status, spec, error, created_at, started_at, finished_at FROM jobs WHERE id = ?`, id).
		Scan(&jobID, &name, &status, &spec, &errMsg, &created, &started, &finished)
	if err != nil {
		return nil, notFound("job", id, err)
	}
	if spec != "" && !json.Valid([]byte(spec)) {
		return nil, fmt.Errorf("get job %q: spec: invalid JSON", id)
	}
	b := make([]byte, 0, 2048+2*len(spec))
	b = append(b, `{"job_id":`...)
	b = appendString(b, jobID)
	b = append(b, `,"name":`...)
	b = appendString(b, name)
	b = append(b, `,"status":`...)
	b = appendString(b, status)
	if spec != "" {
		b = append(b, `,"spec":`...)
		b = append(b, spec...)
	}
	b = append(b, `,"created_at":`...)
	b = appendTime(b, sql.NullInt64{Int64: created, Valid: true})
	b = append(b, `,"started_at":`...)
	b = appendTime(b, started)
	b = append(b, `,"finished_at":`...)
	b = appendTime(b, finished)
	b = append(b, `,"error":`...)
	b = appendString(b, errMsg)

	rows, err := q.query(ctx, `SELECT `+nodeJSONCols+` FROM nodes WHERE job_id = ? ORDER BY idx`, id)
	if err != nil {
		return nil, fmt.Errorf("get job %q nodes: %w", id, err)
	}
	defer rows.Close()
	var (
		nodeID, agent, nstatus, nerr string
		params, outputs              sql.RawBytes
		attempts, maxAttempts        int64
		cached                       bool
	)
	nodes := 0
	for ; rows.Next(); nodes++ {
		if err := rows.Scan(&nodeID, &agent, &params, &nstatus, &attempts, &maxAttempts, &started, &finished, &outputs, &nerr, &cached); err != nil {
			return nil, fmt.Errorf("get job %q nodes: %w", id, err)
		}
		if !json.Valid(params) {
			return nil, fmt.Errorf("get job %q nodes: node %s params: invalid JSON", id, nodeID)
		}
		// GetJob reports missing or unreadable outputs as [].
		if len(outputs) == 0 || outputs[0] != '[' || !json.Valid(outputs) {
			outputs = sql.RawBytes("[]")
		}
		if nodes == 0 {
			b = append(b, `,"nodes":[`...)
		} else {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendString(b, nodeID)
		b = append(b, `,"agent":`...)
		b = appendString(b, agent)
		b = append(b, `,"params":`...)
		b = append(b, params...)
		b = append(b, `,"status":`...)
		b = appendString(b, nstatus)
		b = append(b, `,"attempts":`...)
		b = strconv.AppendInt(b, attempts, 10)
		b = append(b, `,"max_attempts":`...)
		b = strconv.AppendInt(b, maxAttempts, 10)
		b = append(b, `,"started_at":`...)
		b = appendTime(b, started)
		b = append(b, `,"finished_at":`...)
		b = appendTime(b, finished)
		b = append(b, `,"outputs":`...)
		b = append(b, outputs...)
		b = append(b, `,"error":`...)
		b = appendString(b, nerr)
		b = append(b, `,"cached":`...)
		b = strconv.AppendBool(b, cached)
		b = append(b, '}')
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get job %q nodes: %w", id, err)
	}
	if nodes > 0 {
		b = append(b, ']')
	}
	return append(b, "}\n"...), nil
}

// appendTime appends t (UNIX nanoseconds) as encoding/json writes a UTC
// *time.Time, or null.
func appendTime(b []byte, t sql.NullInt64) []byte {
	if !t.Valid {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = time.Unix(0, t.Int64).UTC().AppendFormat(b, time.RFC3339Nano)
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
