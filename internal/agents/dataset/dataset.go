// Package dataset is the `dataset` agent: it loads a dataset (CSV, JSONL, a
// JSON array or plain text lines) from a local path or an uploaded dataset,
// writes it as JSONL and profiles it: rows, columns, types, nulls and value
// lengths. A minimal version; the full data agent replaces it.
package dataset

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/whetstone/whetstone/internal/agent"
)

// Formats are the schema formats the format param accepts.
var Formats = []string{"auto", "alpaca", "messages", "sharegpt", "text", "completion", "preference", "kto", "raw"}

type Agent struct{}

// New returns the dataset agent.
func New() agent.Agent { return Agent{} }

// Spec implements agent.Agent.
func (Agent) Spec() agent.Spec {
	return agent.Spec{
		Name:        "dataset",
		Description: "Load a dataset (CSV, JSONL, JSON array or text lines) from a path or an uploaded dataset, normalise it to JSONL and profile it.",
		Category:    "data",
		Params: []agent.Param{
			{Name: "source", Type: agent.String, Required: true, Kind: "dataset",
				Description: "A path (relative to the working folder) or an uploaded dataset id (ds_...)."},
			{Name: "format", Type: agent.String, Default: "auto", Enum: Formats,
				Description: "Schema of the rows; auto detects it from the columns (alpaca: instruction/input/output, messages, sharegpt: conversations, text, completion: prompt/completion, preference: chosen/rejected, kto: label)."},
			{Name: "tokenizer", Type: agent.String, Kind: "path",
				Description: "Tokenizer folder for token-length statistics. Accepted for compatibility; this minimal agent reports character lengths only."},
			{Name: "max_rows", Type: agent.Integer, Default: int64(0), Min: agent.F64(0),
				Description: "Read at most this many rows (0 reads all)."},
		},
		Outputs: []agent.Port{
			{Type: agent.Dataset, Name: "data", Description: "The rows as JSONL (data.jsonl)."},
			{Type: agent.Report, Name: "profile", Description: "profile.json: rows, columns, types, nulls, lengths."},
		},
	}
}

// Column is one column's profile.
type Column struct {
	Name    string         `json:"name"`
	Types   map[string]int `json:"types"`
	NonNull int            `json:"non_null"`
	Nulls   int            `json:"nulls"`
	// Lengths of non-empty string values in characters (arrays: items).
	MinLen  int     `json:"min_len"`
	MaxLen  int     `json:"max_len"`
	MeanLen float64 `json:"mean_len"`
	lenSum  int
	lenN    int
}

// Profile is the report the agent writes.
type Profile struct {
	Source     string    `json:"source"`
	FileFormat string    `json:"file_format"`
	Schema     string    `json:"schema"`
	Bytes      int64     `json:"bytes"`
	Rows       int       `json:"rows"`
	Truncated  bool      `json:"truncated,omitempty"`
	Columns    []*Column `json:"columns"`
}

// Run implements agent.Agent.
func (Agent) Run(ctx context.Context, env *agent.Env) ([]agent.Artifact, error) {
	src := env.Params.String("source")
	path := src
	if env.ResolveSource != nil {
		p, err := env.ResolveSource(ctx, src)
		if err != nil {
			return nil, err
		}
		path = p
	} else if !filepath.IsAbs(path) {
		path = filepath.Join(env.WorkDir, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, agent.Permanent(fmt.Errorf("source %q: %w", src, err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, agent.Permanent(fmt.Errorf("source %q is a folder; give a CSV, JSONL, JSON or text file", src))
	}
	ff := fileFormat(path, f)
	env.Emit.Log(slog.LevelInfo, "loading dataset", slog.String("source", src), slog.String("file_format", ff), slog.Int64("bytes", fi.Size()))

	out, err := os.Create(filepath.Join(env.OutDir, "data.jsonl"))
	if err != nil {
		return nil, err
	}
	defer out.Close()
	w := bufio.NewWriterSize(out, 1<<16)
	cr := &countReader{r: f}
	p := &Profile{Source: src, FileFormat: ff, Bytes: fi.Size()}
	cols := map[string]*Column{}
	maxRows := env.Params.Int("max_rows")
	start := time.Now()
	lastEmit := time.Now()
	errStop := errors.New("stop")
	row := func(r map[string]any) error {
		if maxRows > 0 && p.Rows >= maxRows {
			p.Truncated = true
			return errStop
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		p.Rows++
		for k, v := range r {
			c := cols[k]
			if c == nil {
				c = &Column{Name: k, Types: map[string]int{}, MinLen: math.MaxInt, Nulls: p.Rows - 1}
				cols[k] = c
			}
			observe(c, v)
		}
		for k, c := range cols {
			if _, ok := r[k]; !ok {
				c.Nulls++
			}
		}
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		w.Write(b)
		w.WriteByte('\n')
		if time.Since(lastEmit) > 500*time.Millisecond && fi.Size() > 0 {
			lastEmit = time.Now()
			frac := float64(cr.n) / float64(fi.Size())
			var eta time.Duration
			if frac > 0 {
				eta = time.Duration(float64(time.Since(start)) * (1 - frac) / frac)
			}
			env.Emit.Progress(frac, eta, fmt.Sprintf("%d rows", p.Rows))
		}
		return nil
	}
	switch ff {
	case "csv":
		err = readCSV(cr, row)
	case "json":
		err = readJSONArray(cr, row)
	case "text":
		err = readText(cr, row)
	default:
		err = readJSONL(cr, row)
	}
	if errors.Is(err, errStop) {
		err = nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, agent.Permanent(fmt.Errorf("read %s: %w", src, err))
	}
	if p.Rows == 0 {
		return nil, agent.Permanent(fmt.Errorf("read %s: no rows", src))
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	if err := out.Close(); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(cols))
	for k, c := range cols {
		names = append(names, k)
		if c.lenN > 0 {
			c.MeanLen = math.Round(float64(c.lenSum)/float64(c.lenN)*100) / 100
		} else {
			c.MinLen = 0
		}
	}
	sort.Strings(names)
	for _, n := range names {
		p.Columns = append(p.Columns, cols[n])
	}
	p.Schema = env.Params.String("format")
	if p.Schema == "" || p.Schema == "auto" {
		p.Schema = detectSchema(names)
	}
	b, _ := json.MarshalIndent(p, "", "  ")
	if err := os.WriteFile(filepath.Join(env.OutDir, "profile.json"), b, 0o644); err != nil {
		return nil, err
	}
	env.Emit.Progress(1, 0, fmt.Sprintf("%d rows", p.Rows))
	env.Emit.Log(slog.LevelInfo, "dataset profiled", slog.Int("rows", p.Rows), slog.Int("columns", len(names)), slog.String("schema", p.Schema))
	meta := map[string]any{"rows": p.Rows, "columns": names, "schema": p.Schema, "format": "jsonl", "source": src}
	if tok := env.Params.String("tokenizer"); tok != "" {
		meta["tokenizer"] = tok
	}
	return []agent.Artifact{
		{Type: agent.Dataset, Name: "data", Path: "data.jsonl", Meta: meta},
		{Type: agent.Report, Name: "profile", Path: "profile.json", Meta: map[string]any{"rows": p.Rows, "schema": p.Schema}},
	}, nil
}

func observe(c *Column, v any) {
	t := "null"
	n := -1
	switch x := v.(type) {
	case nil:
	case string:
		t, n = "string", utf8.RuneCountInString(x)
	case bool:
		t = "boolean"
	case float64, json.Number:
		t = "number"
	case []any:
		t, n = "array", len(x)
	case map[string]any:
		t = "object"
	}
	if t == "null" || (t == "string" && n == 0) {
		// Empty strings count as nulls, outside the length statistics.
		c.Nulls++
		if t == "string" {
			c.Types[t]++
		}
		return
	}
	c.NonNull++
	c.Types[t]++
	if n >= 0 {
		c.MinLen = min(c.MinLen, n)
		c.MaxLen = max(c.MaxLen, n)
		c.lenSum += n
		c.lenN++
	}
}

func detectSchema(cols []string) string {
	has := func(names ...string) bool {
		for _, n := range names {
			if !slices.Contains(cols, n) {
				return false
			}
		}
		return true
	}
	switch {
	case has("chosen", "rejected"):
		return "preference"
	case has("instruction", "output"):
		return "alpaca"
	case has("messages"):
		return "messages"
	case has("conversations"):
		return "sharegpt"
	case has("prompt", "completion"):
		return "completion"
	case has("label") && (has("completion") || has("output") || has("messages")):
		return "kto"
	case has("text"):
		return "text"
	}
	return "raw"
}

// fileFormat decides by extension, else by the first byte.
func fileFormat(path string, f *os.File) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return "csv"
	case ".jsonl", ".ndjson":
		return "jsonl"
	case ".txt", ".md":
		return "text"
	}
	br := bufio.NewReader(f)
	var first byte
	for {
		b, err := br.ReadByte()
		if err != nil {
			break
		}
		if b != ' ' && b != '\n' && b != '\r' && b != '\t' && b != 0xEF && b != 0xBB && b != 0xBF {
			first = b
			break
		}
	}
	f.Seek(0, io.SeekStart)
	switch first {
	case '[':
		return "json"
	case '{':
		return "jsonl"
	}
	return "text"
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func readJSONL(r io.Reader, row func(map[string]any) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		if m == nil {
			return fmt.Errorf("line %d: not a JSON object", line)
		}
		if err := row(m); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", line+1, err)
	}
	return nil
}

func readJSONArray(r io.Reader, row func(map[string]any) error) error {
	d := json.NewDecoder(r)
	tok, err := d.Token()
	if err != nil {
		return fmt.Errorf("offset %d: %w", d.InputOffset(), err)
	}
	if tok != json.Delim('[') {
		return fmt.Errorf("offset %d: want a JSON array of objects", d.InputOffset())
	}
	for i := 0; d.More(); i++ {
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			return fmt.Errorf("item %d (offset %d): %w", i, d.InputOffset(), err)
		}
		if m == nil {
			return fmt.Errorf("item %d: not a JSON object", i)
		}
		if err := row(m); err != nil {
			return err
		}
	}
	if _, err := d.Token(); err != nil {
		return fmt.Errorf("offset %d: %w", d.InputOffset(), err)
	}
	return nil
}

func readCSV(r io.Reader, row func(map[string]any) error) error {
	cr := csv.NewReader(r)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		m := make(map[string]any, len(header))
		for i, h := range header {
			if rec[i] == "" {
				m[h] = nil
			} else {
				m[h] = rec[i]
			}
		}
		if err := row(m); err != nil {
			return err
		}
	}
}

func readText(r io.Reader, row func(map[string]any) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		s := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(s) == "" {
			continue
		}
		if err := row(map[string]any{"text": s}); err != nil {
			return err
		}
	}
	return sc.Err()
}
