// Package ingest is the dataset agent: it reads a dataset file (CSV, TSV,
// JSON, JSONL, Parquet or text) in one streaming pass, detects its record
// format, normalises every row to the canonical schema of package record and
// profiles it.
//
// Outputs: a Dataset artifact "dataset" (data.jsonl, one canonical record per
// line; Meta: format, source_format, rows, unreadable, unreadable_rows,
// source, tokenizer) and a Report artifact "profile" (profile.json, a
// profile.Report).
package ingest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/data/format"
	"github.com/whetstone/whetstone/internal/data/profile"
	"github.com/whetstone/whetstone/internal/data/progress"
	"github.com/whetstone/whetstone/internal/data/reader"
	"github.com/whetstone/whetstone/internal/data/record"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

// Agent is the dataset agent.
type Agent struct{}

// New returns the dataset agent.
func New() agent.Agent { return Agent{} }

var formatEnum = func() []string {
	out := []string{"auto"}
	for _, f := range record.Formats {
		out = append(out, string(f))
	}
	return out
}()

// Spec describes the agent.
func (Agent) Spec() agent.Spec {
	return agent.Spec{
		Name:        "dataset",
		Description: "Read a dataset (CSV, TSV, JSON, JSONL, Parquet, text), detect its format, normalise it to JSONL and profile it.",
		Category:    "data",
		Params: []agent.Param{
			{Name: "source", Type: agent.String, Required: true, Kind: "dataset",
				Description: "Dataset file: a path relative to the working folder, an uploaded dataset id or an s3:// URI."},
			{Name: "format", Type: agent.String, Default: "auto", Enum: formatEnum,
				Description: "Record format; auto detects it from the first 100 rows."},
			{Name: "columns", Type: agent.Object, Fields: columnFields(),
				Description: "Column mapping from canonical field names (instruction, input, output, system, messages, conversations, text, prompt, completion, chosen, rejected, label) to the source's columns; overrides detection, e.g. {instruction: q, output: a}."},
			{Name: "tokenizer", Type: agent.String, Kind: "tokenizer",
				Description: "Model or tokenizer folder, or a registered model (mdl_...) that keeps a tokenizer, for the token-length histogram. Optional."},
			{Name: "samples", Type: agent.Integer, Default: 3, Min: agent.F64(0), Max: agent.F64(100),
				Description: "Sample records in the profile."},
			{Name: "text_split", Type: agent.String, Default: "line", Enum: []string{"line", "paragraph", "file"},
				Description: "What one record is in a plain-text file."},
			{Name: "on_error", Type: agent.String, Default: "skip", Enum: []string{"skip", "fail"},
				Description: "Unreadable rows: skip them (they are listed in the profile and the validate agent fails on them by default) or fail at once."},
		},
		Outputs: []agent.Port{
			{Type: agent.Dataset, Name: "dataset", Description: "Normalised records, one JSON object per line (data.jsonl)."},
			{Type: agent.Report, Name: "profile", Description: "Rows, columns, lengths, token histogram, samples, unreadable rows."},
		},
	}
}

// Options are the agent's params, for calling Ingest directly.
type Options struct {
	Format    string // "auto" or a record.Format
	Columns   format.Mapping
	Tokenizer profile.Encoder
	TokName   string
	Samples   int
	TextSplit string
	FailFast  bool
	Emit      agent.Emitter
	Logger    *slog.Logger
}

// Result is what Ingest produced.
type Result struct {
	Format       record.Format // canonical
	SourceFormat record.Format // detected or given
	Profile      profile.Report
}

const detectRows = 100

// Ingest reads src and writes canonical JSONL records to w.
//
// src may be a folder: its data files (CSV, TSV, JSON, JSONL, Parquet, text,
// possibly .gz or .zst; README and LICENSE files and hidden files skipped)
// are read in name order as one dataset, as Hugging Face shards
// (data/train-00000-of-00002.parquet, ...) are. Lines then count within
// each file, and unreadable rows name their file.
func Ingest(ctx context.Context, src string, w io.Writer, opts Options) (Result, error) {
	emit := opts.Emit
	if emit == nil {
		emit = agent.Discard
	}
	files, err := dataFiles(src)
	if err != nil {
		return Result{}, agent.Permanent(err)
	}
	size := int64(0)
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			size += st.Size()
		}
	}
	multi := len(files) > 1
	prof := profile.New(profile.Options{Tokenizer: opts.Tokenizer, TokenizerName: opts.TokName, Samples: opts.Samples})
	meter := progress.Meter{Emit: emit, Total: size, Label: "read"}
	bw := bufio.NewWriterSize(w, 256<<10)

	var fmtSrc record.Format
	if opts.Format != "" && opts.Format != "auto" {
		fmtSrc = record.Format(opts.Format)
	} else {
		// An explicit mapping overrides detection.
		fmtSrc = opts.Columns.Format()
	}
	type pendingRow struct {
		row  reader.Row
		file string
	}
	var pending []pendingRow
	rows := 0
	curFile := src
	emitRow := func(row reader.Row, file string) error {
		prof.AddRow(row.Fields)
		rec, err := format.Normalize(fmtSrc, row.Fields, row.Line)
		if err != nil {
			if opts.FailFast {
				return agent.Permanent(fmt.Errorf("%s:%d: %w", file, row.Line, err))
			}
			e := profile.RowError{Line: row.Line, Message: err.Error()}
			if multi {
				e.File = filepath.Base(file)
			}
			prof.AddError(e)
			return nil
		}
		prof.AddRecord(&rec)
		b, err := rec.MarshalJSON()
		if err != nil {
			return err
		}
		bw.Write(b)
		rows++
		return bw.WriteByte('\n')
	}
	flush := func() error {
		if fmtSrc == "" {
			sample := make([]map[string]any, len(pending))
			for i, p := range pending {
				sample[i] = p.row.Fields
			}
			f, err := format.Detect(sample)
			if err != nil {
				return agent.Permanent(fmt.Errorf("%s: %w", src, err))
			}
			fmtSrc = f
		}
		for _, p := range pending {
			if err := emitRow(p.row, p.file); err != nil {
				return err
			}
		}
		pending = nil
		return nil
	}
	handle := func(row reader.Row) error {
		opts.Columns.Apply(row.Fields)
		if fmtSrc == "" {
			pending = append(pending, pendingRow{row, curFile})
			if len(pending) == detectRows {
				return flush()
			}
			return nil
		}
		return emitRow(row, curFile)
	}
	done := int64(0) // bytes of the files already read
	for _, file := range files {
		curFile = file
		tick := func(r reader.Reader) error {
			meter.Update(done+r.Offset(), rows)
			return ctx.Err()
		}
		if err := readFile(file, opts, tick, func(row reader.Row, err error) error {
			if err != nil {
				var re *reader.Error
				if !errors.As(err, &re) || re.Fatal || opts.FailFast {
					return agent.Permanent(err)
				}
				e := profile.RowError{Line: re.Line, Column: re.Column, Message: re.Msg}
				if multi {
					e.File = filepath.Base(file)
				}
				prof.AddError(e)
				return nil
			}
			return handle(row)
		}); err != nil {
			return Result{}, err
		}
		if st, err := os.Stat(file); err == nil {
			done += st.Size()
		}
	}
	if fmtSrc == "" || len(pending) > 0 {
		if err := flush(); err != nil {
			return Result{}, err
		}
	}
	if err := bw.Flush(); err != nil {
		return Result{}, err
	}
	meter.Done(rows)
	rep := prof.Report()
	rep.Format, rep.SourceFormat, rep.Source = string(fmtSrc.Canonical()), string(fmtSrc), src
	if rows == 0 {
		msg := fmt.Sprintf("%s: no readable records", src)
		if len(rep.UnreadableRows) > 0 {
			e := rep.UnreadableRows[0]
			msg += fmt.Sprintf(" (line %d: %s)", e.Line, e.Message)
		}
		return Result{}, agent.Permanent(errors.New(msg))
	}
	return Result{Format: fmtSrc.Canonical(), SourceFormat: fmtSrc, Profile: rep}, nil
}

// readFile calls fn for each row or per-record error of file, and tick
// every 256 rows (progress and cancellation).
func readFile(file string, opts Options, tick func(reader.Reader) error, fn func(reader.Row, error) error) error {
	r, err := reader.Open(file, reader.Options{TextSplit: opts.TextSplit})
	if err != nil {
		return agent.Permanent(err)
	}
	defer r.Close()
	for n := 1; ; n++ {
		if n%256 == 0 {
			if err := tick(r); err != nil {
				return err
			}
		}
		row, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err := fn(row, err); err != nil {
			return err
		}
	}
}

// dataFiles returns src, or the data files under the folder src in name
// order.
func dataFiles(src string) ([]string, error) {
	st, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{src}, nil
	}
	var files []string
	err = filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if p != src && strings.HasPrefix(name, ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		upper := strings.ToUpper(name)
		if d.IsDir() || strings.HasPrefix(upper, "README") || strings.HasPrefix(upper, "LICENSE") || !regular(p, d) {
			return nil
		}
		switch strings.ToLower(filepath.Ext(strings.TrimSuffix(strings.TrimSuffix(name, ".gz"), ".zst"))) {
		case ".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".parquet", ".txt":
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: a folder without data files (csv, tsv, json, jsonl, parquet, txt)", src)
	}
	return files, nil
}

// regular reports whether the entry is a regular file, or a link to one
// (dataset caches link files into a blob folder); a named pipe, device or
// socket in the folder would block or never end a read.
func regular(p string, d os.DirEntry) bool {
	if d.Type().IsRegular() {
		return true
	}
	if d.Type()&os.ModeSymlink != 0 {
		fi, err := os.Stat(p)
		return err == nil && fi.Mode().IsRegular()
	}
	return false
}

// LoadTokenizer loads the tokenizer ref names (a tokenizer param, or the
// meta "tokenizer" a predecessor recorded): a model or tokenizer folder,
// or a registered model (mdl_...), read where env.Resolve puts it. It
// returns the tokenizer and how successors name it (meta "tokenizer"):
// ref when it is a reference (agent.IsRef) any worker resolves, else the
// local path. Errors are permanent and name ref.
func LoadTokenizer(ctx context.Context, env *agent.Env, ref string) (*tokenizer.Tokenizer, string, error) {
	path, err := env.Resolve(ctx, ref, agent.KindTokenizer)
	if err != nil {
		return nil, "", agent.Permanent(fmt.Errorf("tokenizer %q: %w", ref, err))
	}
	tok, err := tokenizer.Load(path)
	if err != nil {
		return nil, "", agent.Permanent(fmt.Errorf("tokenizer %q: %w", ref, err))
	}
	if agent.IsRef(ref) {
		return tok, ref, nil
	}
	return tok, path, nil
}

// Run runs the agent.
func (Agent) Run(ctx context.Context, env *agent.Env) ([]agent.Artifact, error) {
	p := env.Params
	src, err := env.Resolve(ctx, p.String("source"), "dataset")
	if err != nil {
		return nil, fmt.Errorf("resolve source %q: %w", p.String("source"), err)
	}
	if src == "" {
		return nil, agent.Permanent(errors.New("source: required"))
	}
	if _, err := os.Stat(src); err != nil {
		return nil, agent.Permanent(fmt.Errorf("source: %w", err))
	}
	opts := Options{Format: p.String("format"), Samples: p.Int("samples"), TextSplit: p.String("text_split"),
		FailFast: p.String("on_error") == "fail", Emit: env.Emit, Logger: env.Logger}
	if !p.Has("samples") {
		opts.Samples = 3
	}
	if cols := p.Object("columns"); len(cols) > 0 {
		opts.Columns = format.Mapping{}
		for k, v := range cols {
			s, ok := v.(string)
			if !ok {
				return nil, agent.Permanent(fmt.Errorf("columns.%s: want a column name, got %v", k, v))
			}
			opts.Columns[k] = s
		}
	}
	tokRef := "" // meta "tokenizer"
	if t := p.String("tokenizer"); t != "" {
		tok, ref, err := LoadTokenizer(ctx, env, t)
		if err != nil {
			return nil, err
		}
		tokRef = ref
		opts.Tokenizer, opts.TokName = tok, filepath.Base(ref)
	}
	if env.Emit != nil {
		env.Emit.Log(slog.LevelInfo, "reading dataset", slog.String("source", p.String("source")))
	}
	out, err := os.Create(filepath.Join(env.OutDir, "data.jsonl"))
	if err != nil {
		return nil, err
	}
	defer out.Close()
	res, err := Ingest(ctx, src, out, opts)
	if err != nil {
		return nil, err
	}
	if err := out.Close(); err != nil {
		return nil, err
	}
	// The source as the pipeline names it (a dataset id, or its path), not
	// where the server keeps it.
	res.Profile.Source = p.String("source")
	if err := writeJSON(filepath.Join(env.OutDir, "profile.json"), res.Profile); err != nil {
		return nil, err
	}
	rep := res.Profile
	if env.Emit != nil {
		env.Emit.Log(slog.LevelInfo, "dataset read", slog.String("format", string(res.SourceFormat)),
			slog.Int("rows", rep.Rows), slog.Int("unreadable", rep.Unreadable))
	}
	meta := map[string]any{"format": string(res.Format), "source_format": string(res.SourceFormat),
		"rows": rep.Rows, "unreadable": rep.Unreadable, "source": p.String("source")}
	if len(rep.UnreadableRows) > 0 {
		meta["unreadable_rows"] = rep.UnreadableRows
	}
	if tokRef != "" {
		meta["tokenizer"] = tokRef
	}
	return []agent.Artifact{
		{Type: agent.Dataset, Name: "dataset", Path: "data.jsonl", Meta: meta},
		{Type: agent.Report, Name: "profile", Path: "profile.json", Meta: map[string]any{"kind": "profile", "rows": rep.Rows}},
	}, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// columnFields are the canonical names a columns mapping may set, each to a
// source column name.
func columnFields() []agent.Param {
	var out []agent.Param
	for _, n := range []string{"instruction", "input", "output", "system", "messages", "conversations", "text", "prompt", "completion", "chosen", "rejected", "label"} {
		out = append(out, agent.Param{Name: n, Type: agent.String, Description: "the source column that holds " + n})
	}
	return out
}
