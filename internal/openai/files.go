package openai

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// File is OpenAI's file object.
type File struct {
	ID            string  `json:"id"`
	Object        string  `json:"object"`
	Bytes         int64   `json:"bytes"`
	CreatedAt     int64   `json:"created_at"`
	Filename      string  `json:"filename"`
	Purpose       string  `json:"purpose"`
	Status        string  `json:"status"`
	StatusDetails *string `json:"status_details"`
	ExpiresAt     *int64  `json:"expires_at"`
}

// fileRec is the stored record: the object plus what the checks found.
type fileRec struct {
	File
	// Kind is "supervised" (chat rows) or "dpo" (preference rows).
	Kind string `json:"kind"`
	Rows int    `json:"rows"`
	Team string `json:"team"`
}

func fileKey(id string) string    { return filesPrefix + id + ".json" }
func contentKey(id string) string { return filesPrefix + id + ".jsonl" }
func fileOf(r fileRec) File       { return r.File }
func fileIDOf(f File) string      { return f.ID }
func (s *Server) loadFile(r *http.Request, id string) (*fileRec, error) {
	var rec fileRec
	ok := false
	var err error
	if validID(id, "file") {
		ok, err = s.getJSON(r.Context(), fileKey(id), &rec)
	}
	if err != nil {
		return nil, err
	}
	if !ok || !s.owns(r, rec.Team) { // another team's file does not exist for the caller
		return nil, notFound("file_id", "file_not_found", "No such File object: %s", id)
	}
	return &rec, nil
}

// readErr keeps the error reading r failed with (not io.EOF), so a failed
// copy can tell the request's fault from the server's.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

func (s *Server) uploadFile(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, s.MaxUploadBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		return invalid("file", "invalid_request", "Expected a multipart/form-data body with fields purpose and file: %v.", err)
	}
	var purpose, filename, tmp string
	defer func() {
		if tmp != "" {
			os.Remove(tmp)
		}
	}()
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return err
			}
			return invalid("file", "invalid_request", "Could not read the multipart body: %v.", err)
		}
		switch p.FormName() {
		case "purpose":
			b, _ := io.ReadAll(io.LimitReader(p, 100))
			purpose = strings.TrimSpace(string(b))
		case "file":
			filename = p.FileName()
			f, err := os.CreateTemp(s.CacheDir, "upload-*")
			if err != nil {
				return fmt.Errorf("upload: %w", err)
			}
			tmp = f.Name()
			body := &readErr{r: p}
			_, err = io.Copy(f, body)
			f.Close()
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &mbe):
				return err
			case body.err != nil:
				// The request's fault: a truncated body, a client gone.
				return invalid("file", "invalid_request", "Could not read the file part: the multipart body ended early (truncated or interrupted): %v.", body.err)
			case err != nil:
				return fmt.Errorf("upload: %w", err)
			}
		}
		p.Close()
	}
	switch {
	case tmp == "":
		return invalid("file", "missing_required_parameter", "Missing required parameter: 'file'.")
	case purpose == "":
		return invalid("purpose", "missing_required_parameter", "Missing required parameter: 'purpose'.")
	case purpose != "fine-tune":
		return invalid("purpose", "invalid_value", "Invalid value for 'purpose': %q. This server accepts 'fine-tune'.", purpose)
	}
	if filename == "" {
		filename = "file.jsonl"
	}
	f, err := os.Open(tmp)
	if err != nil {
		return err
	}
	kind, rows, problems := checkFile(f)
	f.Close()
	if len(problems) > 0 {
		return invalid("file", "invalid_file_format", "Invalid file format for fine-tuning (%s): %s", filename, strings.Join(problems, "; "))
	}
	now := time.Now()
	rec := fileRec{File: File{ID: newID("file", now.UnixNano()), Object: "file", CreatedAt: now.Unix(), Filename: filename,
		Purpose: purpose, Status: "processed"}, Kind: kind, Rows: rows, Team: s.team(r)}
	f, err = os.Open(tmp)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := s.Blobs.Put(r.Context(), contentKey(rec.ID), f)
	if err != nil {
		return fmt.Errorf("store file: %w", err)
	}
	rec.Bytes = info.Size
	if err := s.putJSON(r.Context(), fileKey(rec.ID), rec); err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, rec.File)
	return nil
}

func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := limitParam(q.Get("limit"), 10000, 10000)
	if err != nil {
		return err
	}
	// order is OpenAI's: by created_at (ids sort by it), desc unless asc.
	asc := false
	switch o := q.Get("order"); o {
	case "", "desc":
	case "asc":
		asc = true
	default:
		return invalid("order", "invalid_value", "Invalid value for 'order': %q; expected 'asc' or 'desc'.", o)
	}
	ids, err := s.listIDs(r.Context(), filesPrefix)
	if err != nil {
		return err
	}
	if asc {
		slices.Reverse(ids)
	}
	// The caller's files first, then the page (as listJobs): paging all
	// teams' ids gave a team empty pages with has_more true, its own files
	// out of reach, and told it other teams had files. after is the last
	// file of the previous page, in the order asked for.
	after := q.Get("after")
	var mine []File
	for _, id := range ids {
		if after != "" && (!asc && id >= after || asc && id <= after) {
			continue
		}
		var rec fileRec
		if ok, err := s.getJSON(r.Context(), fileKey(id), &rec); err != nil {
			return err
		} else if ok && s.owns(r, rec.Team) && (q.Get("purpose") == "" || q.Get("purpose") == rec.Purpose) {
			mine = append(mine, rec.File)
			if len(mine) > limit {
				break
			}
		}
	}
	more := len(mine) > limit
	if more {
		mine = mine[:limit]
	}
	s.writeJSON(w, http.StatusOK, newList(mine, more, fileIDOf))
	return nil
}

func limitParam(v string, def, maxV int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxV {
		return 0, invalid("limit", "invalid_value", "Invalid 'limit': %q; expected an integer from 1 to %d.", v, maxV)
	}
	return n, nil
}

func (s *Server) getFile(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.loadFile(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, rec.File)
	return nil
}

func (s *Server) fileContent(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.loadFile(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	o, err := s.Blobs.Open(r.Context(), contentKey(rec.ID))
	if err != nil {
		return fmt.Errorf("open file %s: %w", rec.ID, err)
	}
	defer o.Close()
	ct := "application/octet-stream"
	switch {
	case strings.HasSuffix(rec.Filename, ".jsonl"):
		ct = "application/jsonl"
	case strings.HasSuffix(rec.Filename, ".csv"):
		ct = "text/csv"
	}
	w.Header().Set("Content-Type", ct)
	http.ServeContent(w, r, "", time.Unix(rec.CreatedAt, 0), o)
	return nil
}

func (s *Server) deleteFile(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.loadFile(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.Blobs.Delete(r.Context(), contentKey(rec.ID)); err != nil {
		return err
	}
	if err := s.Blobs.Delete(r.Context(), fileKey(rec.ID)); err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"id": rec.ID, "object": "file", "deleted": true})
	return nil
}

// putFile stores content as a new file (used for result files).
func (s *Server) putFile(r *http.Request, filename, purpose string, content []byte) (*fileRec, error) {
	now := time.Now()
	rec := fileRec{File: File{ID: newID("file", now.UnixNano()), Object: "file", CreatedAt: now.Unix(), Filename: filename,
		Purpose: purpose, Status: "processed", Bytes: int64(len(content))}, Team: s.team(r)}
	if _, err := s.Blobs.Put(r.Context(), contentKey(rec.ID), bytes.NewReader(content)); err != nil {
		return nil, err
	}
	return &rec, s.putJSON(r.Context(), fileKey(rec.ID), rec)
}

// Row shapes of fine-tuning files.
type chatMessage struct {
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	ToolCalls json.RawMessage `json:"tool_calls,omitempty"`
	Weight    *float64        `json:"weight,omitempty"`
	Name      string          `json:"name,omitempty"`
}

type fileRow struct {
	Messages []chatMessage `json:"messages"`
	Input    *struct {
		Messages []chatMessage `json:"messages"`
	} `json:"input"`
	PreferredOutput    []chatMessage `json:"preferred_output"`
	NonPreferredOutput []chatMessage `json:"non_preferred_output"`
}

var roles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true, "function": true}

// maxProblems is how many row problems an error message lists.
const maxProblems = 10

// checkFile checks a fine-tuning JSONL file as OpenAI does: every line a
// JSON object, all of one kind — chat rows {"messages": [...]} with at least
// one assistant message (supervised), or preference rows {"input":
// {"messages"}, "preferred_output", "non_preferred_output"} (dpo) — with
// known roles and string contents. It returns the kind, the number of rows
// and the problems found, each naming its line.
func checkFile(r io.Reader) (kind string, rows int, problems []string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	add := func(line int, format string, args ...any) {
		if len(problems) < maxProblems {
			problems = append(problems, fmt.Sprintf("line %d: ", line)+fmt.Sprintf(format, args...))
		}
	}
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var row fileRow
		if b[0] != '{' {
			add(line, "not a JSON object")
			continue
		}
		if err := json.Unmarshal(b, &row); err != nil {
			add(line, "invalid JSON: %v", err)
			continue
		}
		rowKind := "supervised"
		if row.Input != nil || row.PreferredOutput != nil || row.NonPreferredOutput != nil {
			rowKind = "dpo"
		}
		if kind == "" {
			kind = rowKind
		} else if kind != rowKind {
			add(line, "a %s row in a file of %s rows (every row must have the same format)", rowKind, kind)
			continue
		}
		rows++
		if rowKind == "supervised" {
			if len(row.Messages) == 0 {
				add(line, "missing key 'messages' (a list of chat messages)")
				continue
			}
			checkMessages(line, "messages", row.Messages, add)
			hasAssistant := false
			for _, m := range row.Messages {
				hasAssistant = hasAssistant || m.Role == "assistant"
			}
			if !hasAssistant {
				add(line, "'messages' has no assistant message to learn from")
			}
			continue
		}
		switch {
		case row.Input == nil || len(row.Input.Messages) == 0:
			add(line, "missing key 'input.messages' (the prompt's chat messages)")
		case len(row.PreferredOutput) == 0:
			add(line, "missing key 'preferred_output' (a list with the preferred assistant message)")
		case len(row.NonPreferredOutput) == 0:
			add(line, "missing key 'non_preferred_output' (a list with the non-preferred assistant message)")
		default:
			checkMessages(line, "input.messages", row.Input.Messages, add)
			for _, o := range []struct {
				name string
				ms   []chatMessage
			}{{"preferred_output", row.PreferredOutput}, {"non_preferred_output", row.NonPreferredOutput}} {
				checkMessages(line, o.name, o.ms, add)
				if o.ms[len(o.ms)-1].Role != "assistant" {
					add(line, "%s: the last message must have role 'assistant'", o.name)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		add(line+1, "%v", err)
	}
	if rows == 0 && len(problems) == 0 {
		problems = append(problems, "the file has no rows")
	}
	return kind, rows, problems
}

func checkMessages(line int, field string, ms []chatMessage, add func(int, string, ...any)) {
	for i, m := range ms {
		switch {
		case m.Role == "":
			add(line, "%s[%d]: missing 'role'", field, i)
		case !roles[m.Role]:
			add(line, "%s[%d]: unrecognized role %q (want system, user, assistant or tool)", field, i, m.Role)
		case len(m.Content) == 0 || string(m.Content) == "null":
			if m.Role != "assistant" || len(m.ToolCalls) == 0 {
				add(line, "%s[%d]: missing 'content'", field, i)
			}
		default:
			if _, err := contentText(m.Content); err != nil {
				add(line, "%s[%d].content: %v", field, i, err)
			}
		}
		if m.Weight != nil && *m.Weight != 0 && *m.Weight != 1 {
			add(line, "%s[%d].weight: must be 0 or 1", field, i)
		}
	}
}

// contentText returns a message content as text: a string, or a list of
// {"type": "text", "text": ...} parts.
func contentText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("must be a string or a list of text parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return "", fmt.Errorf("content part of type %q is not supported (text only)", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}
