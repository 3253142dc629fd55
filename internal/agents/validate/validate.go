// Package validate is the validate agent: it checks a dataset for unreadable
// rows, missing fields, duplicates and near duplicates, personal data and
// secrets, text quality and conversation structure (package check), writes
// the "validation" report, and passes the dataset through unchanged so that
// preprocess can follow it.
//
// Findings whose kind, category or severity is listed in fail_on fail the
// node (default: unreadable rows); the others are warnings in the report.
package validate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/ingest"
	"github.com/whetstone/whetstone/internal/data/check"
	"github.com/whetstone/whetstone/internal/data/contam"
	"github.com/whetstone/whetstone/internal/data/dataset"
	"github.com/whetstone/whetstone/internal/data/dedup"
	"github.com/whetstone/whetstone/internal/data/pii"
	"github.com/whetstone/whetstone/internal/data/reader"
)

// Agent is the validate agent.
type Agent struct{}

// New returns the validate agent.
func New() agent.Agent { return Agent{} }

// Spec describes the agent.
func (Agent) Spec() agent.Spec {
	var piiKinds []string
	for _, k := range pii.Kinds {
		piiKinds = append(piiKinds, string(k))
	}
	return agent.Spec{
		Name:        "validate",
		Description: "Check a dataset: unreadable rows, missing fields, duplicates and near duplicates, PII and secrets, text quality, chat structure. Passes the dataset through.",
		Category:    "data",
		Params: []agent.Param{
			{Name: "near_duplicate_threshold", Type: agent.Number, Default: dedup.DefaultThreshold, Min: agent.F64(0.05), Max: agent.F64(1),
				Description: "Estimated Jaccard similarity (word 3-grams, MinHash LSH) at which two rows are near duplicates."},
			{Name: "fail_on", Type: agent.Array, Items: agent.String, Default: []any{"unreadable"},
				Description: "Finding kinds (e.g. pii.email, duplicate), categories (encoding, fields, duplicates, pii, quality, structure) or severities (error, warning) that fail the run; the rest warn."},
			{Name: "fail_rate", Type: agent.Number, Default: 0.0, Min: agent.F64(0), Max: agent.F64(1),
				Description: "Fraction of rows a fail_on finding may affect before it fails the run; 0 fails on any."},
			{Name: "fields", Type: agent.Boolean, Default: true, Description: "Check missing and empty required fields."},
			{Name: "duplicates", Type: agent.Boolean, Default: true, Description: "Find exact duplicates."},
			{Name: "near_duplicates", Type: agent.Boolean, Default: true, Description: "Find near duplicates."},
			{Name: "pii", Type: agent.Boolean, Default: true, Description: "Find personal data and secrets."},
			{Name: "pii_kinds", Type: agent.Array, Items: agent.String, Enum: piiKinds, Description: "PII kinds to look for; all when absent."},
			{Name: "quality", Type: agent.Boolean, Default: true, Description: "Check length, repeated n-grams, non-printable characters and mojibake."},
			{Name: "structure", Type: agent.Boolean, Default: true, Description: "Check chat roles and order, and preference pairs."},
			{Name: "min_chars", Type: agent.Integer, Default: 10, Min: agent.F64(0), Max: agent.F64(1 << 24), Description: "Rows with fewer non-space characters are too short."},
			{Name: "max_tokens", Type: agent.Integer, Default: 2048, Min: agent.F64(0), Max: agent.F64(1 << 20), Description: "Rows with more tokens are too long for the model's context; 0 disables."},
			{Name: "tokenizer", Type: agent.String, Kind: "tokenizer", Description: "Tokenizer or model folder, or a registered model (mdl_...) that keeps a tokenizer, for max_tokens; defaults to the dataset agent's; without one, 4 bytes count as a token."},
			{Name: "repeat_ratio", Type: agent.Number, Default: 0.3, Min: agent.F64(0), Max: agent.F64(1), Description: "Fraction of repeated word 3-grams that flags a field."},
			{Name: "examples", Type: agent.Integer, Default: 3, Min: agent.F64(0), Max: agent.F64(50), Description: "Redacted examples per finding."},
			{Name: "eval_sets", Type: agent.Array, Items: agent.String, Kind: "path",
				Description: "Evaluation datasets (paths or uploaded dataset ids): training rows sharing a long word n-gram with one of their rows are contamination findings."},
			{Name: "contamination_ngram", Type: agent.Integer, Default: contam.DefaultN, Min: agent.F64(contam.MinN), Max: agent.F64(contam.MaxN),
				Description: "Words per n-gram for the contamination check."},
		},
		Inputs: []agent.Port{{Type: agent.Dataset, Name: "dataset", Required: true}},
		Outputs: []agent.Port{
			{Type: agent.Dataset, Name: "dataset", Description: "The input dataset, unchanged."},
			{Type: agent.Report, Name: "validation", Description: "Findings with counts, rows, redacted examples, severities and hints."},
		},
	}
}

func boolParam(p agent.Params, name string) bool {
	if !p.Has(name) {
		return true
	}
	return p.Bool(name)
}

// Options turns params into check options.
func Options(ctx context.Context, env *agent.Env, in agent.Artifact) (check.Options, error) {
	p := env.Params
	o := check.Defaults()
	o.Fields, o.Duplicates, o.NearDuplicates = boolParam(p, "fields"), boolParam(p, "duplicates"), boolParam(p, "near_duplicates")
	o.PII, o.Quality, o.Structure = boolParam(p, "pii"), boolParam(p, "quality"), boolParam(p, "structure")
	if p.Has("near_duplicate_threshold") {
		o.NearThreshold = p.Float("near_duplicate_threshold")
	}
	if o.NearThreshold <= 0 || o.NearThreshold > 1 {
		return o, fmt.Errorf("near_duplicate_threshold %v: want a value in (0, 1]", o.NearThreshold)
	}
	o.FailOn = p.Strings("fail_on")
	if !p.Has("fail_on") {
		o.FailOn = nil
	} else if o.FailOn == nil {
		o.FailOn = []string{}
	}
	o.FailRate = p.Float("fail_rate")
	for _, k := range p.Strings("pii_kinds") {
		o.PIIKinds = append(o.PIIKinds, pii.Kind(k))
	}
	if p.Has("min_chars") {
		o.MinChars = p.Int("min_chars")
	}
	o.MaxTokens = 2048
	if p.Has("max_tokens") {
		o.MaxTokens = p.Int("max_tokens")
	}
	if p.Has("repeat_ratio") {
		o.RepeatRatio = p.Float("repeat_ratio")
	}
	o.Examples = 3
	if p.Has("examples") {
		o.Examples = p.Int("examples")
	}
	tok := p.String("tokenizer")
	if tok == "" {
		tok, _ = in.Meta["tokenizer"].(string)
	}
	if tok != "" && o.MaxTokens > 0 && o.Quality {
		t, _, err := ingest.LoadTokenizer(ctx, env, tok)
		if err != nil {
			return o, err
		}
		o.Tokenizer = t
	}
	o.Unreadable = metaInt(in.Meta, "unreadable")
	o.UnreadableLines = unreadableRows(in.Meta["unreadable_rows"])
	o.TempDir = env.OutDir
	o.Emit = env.Emit
	return o, nil
}

func metaInt(m map[string]any, k string) int {
	switch v := m[k].(type) {
	case int:
		return v
	case float64:
		return int(v)
	case int64:
		return int(v)
	}
	return 0
}

// unreadableRows reads the dataset agent's Meta unreadable_rows, typed or
// decoded from JSON.
func unreadableRows(v any) []reader.Error {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var rows []struct {
		File    string `json:"file"`
		Line    int    `json:"line"`
		Column  int    `json:"column"`
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &rows) != nil {
		return nil
	}
	out := make([]reader.Error, len(rows))
	for i, r := range rows {
		msg := r.Message
		if r.File != "" {
			msg = r.File + ": " + msg
		}
		out[i] = reader.Error{Line: r.Line, Column: r.Column, Msg: msg}
	}
	return out
}

// Run runs the agent.
func (Agent) Run(ctx context.Context, env *agent.Env) ([]agent.Artifact, error) {
	in, ok := env.Input(agent.Dataset)
	if !ok {
		return nil, agent.Permanent(errors.New("validate: no dataset input"))
	}
	opts, err := Options(ctx, env, in)
	if err != nil {
		return nil, agent.Permanent(err)
	}
	evalPaths, err := ResolveEvalSets(ctx, env, env.Params.Strings("eval_sets"))
	if err != nil {
		return nil, agent.Permanent(err)
	}
	if len(evalPaths) > 0 {
		n := contam.DefaultN
		if env.Params.Has("contamination_ngram") {
			n = env.Params.Int("contamination_ngram")
		}
		if opts.Contamination, err = EvalIndex(ctx, env.Params.Strings("eval_sets"), evalPaths, n); err != nil {
			return nil, agent.Permanent(err)
		}
	}
	s, err := dataset.Open(in)
	if err != nil {
		return nil, agent.Permanent(err)
	}
	defer s.Close()
	rep, err := check.Run(ctx, s, opts)
	if err != nil {
		return nil, err
	}
	if err := writeJSON(filepath.Join(env.OutDir, "validation.json"), rep); err != nil {
		return nil, err
	}
	src, _ := dataset.File(in)
	name := filepath.Base(src)
	if err := linkOrCopy(src, filepath.Join(env.OutDir, name)); err != nil {
		return nil, err
	}
	meta := maps.Clone(in.Meta)
	if meta == nil {
		meta = map[string]any{}
	}
	meta["format"] = string(s.Format())
	meta["rows"] = rep.Rows
	summary := map[string]int{}
	for _, f := range rep.Findings {
		summary[f.Kind] = f.Rows
	}
	meta["validation"] = map[string]any{"passed": rep.Passed, "findings": summary}
	if opts.Contamination != nil {
		// preprocess decontaminate: true without eval_sets of its own
		// checks against these.
		meta["eval_sets"] = evalPaths
		meta["contamination_ngram"] = opts.Contamination.N()
	}
	arts := []agent.Artifact{
		{Type: agent.Dataset, Name: "dataset", Path: name, Meta: meta},
		{Type: agent.Report, Name: "validation", Path: "validation.json", Meta: map[string]any{"kind": "validation", "passed": rep.Passed, "findings": summary}},
	}
	if env.Emit != nil {
		for _, f := range rep.Findings {
			lvl := slog.LevelWarn
			if f.Action == "fail" {
				lvl = slog.LevelError
			}
			env.Emit.Log(lvl, "finding", slog.String("kind", f.Kind), slog.Int("rows", f.Rows), slog.String("action", f.Action), slog.String("hint", f.Hint))
		}
	}
	if !rep.Passed {
		var parts []string
		for _, f := range rep.Findings {
			if f.Action != "fail" {
				continue
			}
			where := ""
			if len(f.Lines) > 0 {
				where = fmt.Sprintf(" (source lines %s)", ints(f.Lines, 5))
			} else if len(f.RowList) > 0 {
				where = fmt.Sprintf(" (rows %s)", ints(f.RowList, 5))
			}
			parts = append(parts, fmt.Sprintf("%s in %d rows%s", f.Kind, f.Rows, where))
		}
		return arts, agent.Permanent(fmt.Errorf("validation failed: %s; see the validation report", strings.Join(parts, "; ")))
	}
	return arts, nil
}

// ResolveEvalSets resolves eval_sets entries (paths relative to the
// working folder, or uploaded dataset ids through env.ResolveSource) to
// local paths.
func ResolveEvalSets(ctx context.Context, env *agent.Env, refs []string) ([]string, error) {
	var out []string
	for i, ref := range refs {
		path, err := env.Resolve(ctx, ref, "dataset")
		if err != nil {
			return nil, fmt.Errorf("eval_sets[%d] %q: %w", i, ref, err)
		}
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("eval_sets[%d] %q: %w", i, ref, err)
		}
		out = append(out, path)
	}
	return out, nil
}

// EvalIndex indexes the n-grams of the evaluation sets at paths, named
// names (the refs as given) in findings.
func EvalIndex(ctx context.Context, names, paths []string, n int) (*contam.Index, error) {
	x, err := contam.New(n)
	if err != nil {
		return nil, err
	}
	for i, p := range paths {
		if err := x.AddFile(ctx, names[i], p); err != nil {
			return nil, err
		}
	}
	return x, nil
}

func ints(v []int, n int) string {
	var s []string
	for i, x := range v {
		if i == n {
			s = append(s, "…")
			break
		}
		s = append(s, fmt.Sprint(x))
	}
	return strings.Join(s, ", ")
}

func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
