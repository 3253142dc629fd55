// Package preprocess is the preprocess agent: it cleans, redacts,
// deduplicates, templates, filters and splits a dataset into the training
// files the train agent reads (package prep), and reports statistics.
//
// Output: a Dataset folder artifact "dataset" holding train.jsonl and
// validation.jsonl, one template.Row per line:
//
//	{"text": ..., "prompt": ..., "messages": [...]?, "chosen"?, "rejected"?, "label"?, "tokens": N, "source_line": L}
//
// Meta: rows_train, rows_validation, tokens, template, append_eos,
// tokenizer, source_format (the records' format before templating),
// max_tokens, layout ("training": rows are template.Row, not canonical
// records, so Meta has no "format"). And a Report artifact "preprocess"
// (preprocess.json, prep.Stats).
package preprocess

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/ingest"
	"github.com/whetstone/whetstone/internal/agents/validate"
	"github.com/whetstone/whetstone/internal/data/clean"
	"github.com/whetstone/whetstone/internal/data/contam"
	"github.com/whetstone/whetstone/internal/data/dataset"
	"github.com/whetstone/whetstone/internal/data/dedup"
	"github.com/whetstone/whetstone/internal/data/prep"
	"github.com/whetstone/whetstone/internal/data/record"
	"github.com/whetstone/whetstone/internal/data/template"
	trainer "github.com/whetstone/whetstone/internal/engine/train"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

// Agent is the preprocess agent.
type Agent struct{}

// New returns the preprocess agent.
func New() agent.Agent { return Agent{} }

// Spec describes the agent.
func (Agent) Spec() agent.Spec {
	return agent.Spec{
		Name:        "preprocess",
		Description: "Clean, redact PII, deduplicate, apply a prompt or chat template, filter by token length and split a dataset into train.jsonl and validation.jsonl.",
		Category:    "data",
		Params: []agent.Param{
			{Name: "tokenizer", Type: agent.String, Kind: "tokenizer",
				Description: "Model or tokenizer folder (tokenizer.json or tokenizer.model), or a registered model (mdl_...) that keeps one, such as a merged model. Defaults to the dataset agent's; without one, 4 bytes count as a token."},
			{Name: "template", Type: agent.String, Default: "auto", Enum: []string{"auto", "alpaca", "chat", "none"},
				Description: "alpaca: the Alpaca prompt format; chat: the tokenizer's chat template; none: turns joined with blank lines; auto: chat for conversations when the tokenizer has a template, alpaca for Alpaca data, else none."},
			{Name: "redact_pii", Type: agent.Boolean, Default: false, Description: "Replace personal data and secrets with typed placeholders ([EMAIL], [PHONE], ...)."},
			{Name: "dedup", Type: agent.String, Default: "none", Enum: []string{"none", "exact", "near"}, Description: "Remove exact, or exact and near, duplicates (first occurrence kept)."},
			{Name: "near_duplicate_threshold", Type: agent.Number, Default: dedup.DefaultThreshold, Min: agent.F64(0.05), Max: agent.F64(1), Description: "Jaccard similarity for dedup: near."},
			{Name: "max_tokens", Type: agent.Integer, Default: 2048, Min: agent.F64(0), Max: agent.F64(1 << 20), Description: "Drop rows with more tokens (special tokens and EOS included); 0: no limit."},
			{Name: "min_tokens", Type: agent.Integer, Default: 0, Min: agent.F64(0), Max: agent.F64(1 << 20), Description: "Drop rows with fewer tokens."},
			{Name: "chunk_tokens", Type: agent.Integer, Default: 0, Min: agent.F64(0), Max: agent.F64(1 << 20), Description: "Split raw-text records longer than this many tokens into chunks; 0: no chunking."},
			{Name: "chunk_overlap", Type: agent.Integer, Default: 0, Min: agent.F64(0), Max: agent.F64(1 << 20), Description: "Tokens shared by consecutive chunks."},
			{Name: "validation_split", Type: agent.Number, Default: 0.1, Min: agent.F64(0), Max: agent.F64(0.9), Description: "Fraction of rows held out for validation."},
			{Name: "seed", Type: agent.Integer, Default: 42, Min: agent.F64(-(1 << 53)), Max: agent.F64(1 << 53), Description: "Seed of the train/validation split."},
			{Name: "append_eos", Type: agent.Boolean, Description: "Whether the trainer appends EOS after text; defaults to true for alpaca and none, false for chat (the template ends turns)."},
			{Name: "clean_nfc", Type: agent.Boolean, Default: true, Description: "Unicode NFC normalisation."},
			{Name: "clean_whitespace", Type: agent.Boolean, Default: true, Description: "Normalise line ends, Unicode spaces, trailing spaces and runs of blank lines (indentation kept)."},
			{Name: "clean_control", Type: agent.Boolean, Default: true, Description: "Remove control characters."},
			{Name: "clean_html", Type: agent.Boolean, Default: false, Description: "Turn HTML into plain text."},
			{Name: "decontaminate", Type: agent.Boolean, Default: false,
				Description: "Drop rows sharing a long word n-gram with an evaluation row (eval_sets, else the eval_sets of a validate node upstream) and training rows overlapping the validation split."},
			{Name: "eval_sets", Type: agent.Array, Items: agent.String, Kind: "path",
				Description: "Evaluation datasets (paths or uploaded dataset ids) to decontaminate against."},
			{Name: "contamination_ngram", Type: agent.Integer, Default: contam.DefaultN, Min: agent.F64(contam.MinN), Max: agent.F64(contam.MaxN),
				Description: "Words per n-gram for decontaminate."},
			{Name: "mask_preview", Type: agent.Integer, Default: 3, Min: agent.F64(0), Max: agent.F64(1000),
				Description: "Rows whose loss mask the report shows (mask_preview: every token with its id, trained or not, as the train agent will mask it, cut to max_tokens); rows whose assistant turns keep no trained token are counted and listed. Needs a tokenizer; 0: off."},
			{Name: "workers", Type: agent.Integer, Default: 0, Min: agent.F64(0), Max: agent.F64(256), Description: "Parallel workers; 0: one per CPU."},
		},
		Inputs: []agent.Port{{Type: agent.Dataset, Name: "dataset", Required: true}},
		Outputs: []agent.Port{
			{Type: agent.Dataset, Name: "dataset", Description: "Folder with train.jsonl and validation.jsonl."},
			{Type: agent.Report, Name: "preprocess", Description: "Rows in, dropped per reason, rows out, tokens, redactions."},
		},
	}
}

func boolOr(p agent.Params, name string, def bool) bool {
	if !p.Has(name) {
		return def
	}
	return p.Bool(name)
}

// Run runs the agent.
func (Agent) Run(ctx context.Context, env *agent.Env) ([]agent.Artifact, error) {
	in, ok := env.Input(agent.Dataset)
	if !ok {
		return nil, agent.Permanent(errors.New("preprocess: no dataset input"))
	}
	p := env.Params
	s, err := dataset.Open(in)
	if err != nil {
		return nil, agent.Permanent(err)
	}
	defer s.Close()

	// The tokenizer param, else the dataset agent's; tokRef is how
	// successors name it (a registered model by its id).
	tokRef := p.String("tokenizer")
	if tokRef == "" {
		tokRef, _ = in.Meta["tokenizer"].(string)
	}
	var tok *tokenizer.Tokenizer
	o := prep.Options{}
	if tokRef != "" {
		if tok, tokRef, err = ingest.LoadTokenizer(ctx, env, tokRef); err != nil {
			return nil, err
		}
		o.Tokenizer = tok
	}
	tmpl := p.String("template")
	if tmpl == "" || tmpl == "auto" {
		switch f := s.Format(); {
		case (f == record.Messages || f == record.KTO || f == record.Preference) && tok != nil && tok.HasChatTemplate():
			tmpl = template.Chat
		case f == record.Alpaca:
			tmpl = template.Alpaca
		default:
			tmpl = template.None
		}
	}
	if tmpl == template.Chat && (tok == nil || !tok.HasChatTemplate()) {
		return nil, agent.Permanent(fmt.Errorf("template chat: the tokenizer %q has no chat template; use template alpaca or none", tokRef))
	}
	o.Template = tmpl
	o.AppendEOS = boolOr(p, "append_eos", tmpl != template.Chat)
	o.Clean = clean.Options{NFC: boolOr(p, "clean_nfc", true), Whitespace: boolOr(p, "clean_whitespace", true),
		Control: boolOr(p, "clean_control", true), HTML: boolOr(p, "clean_html", false)}
	o.RedactPII = p.Bool("redact_pii")
	o.Dedup = p.String("dedup")
	o.NearThreshold = p.Float("near_duplicate_threshold")
	o.MaxTokens = 2048
	if p.Has("max_tokens") {
		o.MaxTokens = p.Int("max_tokens")
	}
	o.MinTokens = p.Int("min_tokens")
	o.ChunkTokens, o.ChunkOverlap = p.Int("chunk_tokens"), p.Int("chunk_overlap")
	o.ValidationSplit = 0.1
	if p.Has("validation_split") {
		o.ValidationSplit = p.Float("validation_split")
	}
	o.Seed = 42
	if p.Has("seed") {
		o.Seed = uint64(p.Int("seed"))
	}
	o.Workers = p.Int("workers")
	o.MaskPreview = 3
	if p.Has("mask_preview") {
		o.MaskPreview = p.Int("mask_preview")
	}
	if tok != nil && o.MaskPreview > 0 {
		o.Mask = func(row []byte) ([]int, []bool, error) {
			// As the train agent loads train.jsonl (it appends EOS to text rows).
			ex, err := trainer.EncodeRow(row, tok, true)
			ids := make([]int, len(ex.IDs))
			for i, id := range ex.IDs {
				ids[i] = int(id)
			}
			return ids, ex.Train, err
		}
	}
	o.Emit = env.Emit
	if p.Bool("decontaminate") {
		n := contam.DefaultN
		if p.Has("contamination_ngram") {
			n = p.Int("contamination_ngram")
		} else if v, ok := in.Meta["contamination_ngram"].(float64); ok {
			n = int(v)
		}
		names := p.Strings("eval_sets")
		paths, err := validate.ResolveEvalSets(ctx, env, names)
		if err != nil {
			return nil, agent.Permanent(err)
		}
		if len(names) == 0 {
			// A validate node upstream hands on the sets it checked.
			switch v := in.Meta["eval_sets"].(type) {
			case []string:
				names, paths = v, v
			case []any:
				for _, x := range v {
					if s, ok := x.(string); ok {
						names, paths = append(names, s), append(paths, s)
					}
				}
			}
		}
		if len(paths) > 0 {
			if o.Contamination, err = validate.EvalIndex(ctx, names, paths, n); err != nil {
				return nil, agent.Permanent(err)
			}
		}
		o.DecontaminateSplit = n
	}

	dir := filepath.Join(env.OutDir, "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	st, err := prep.Run(ctx, s, dir, o)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, agent.Permanent(err)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(env.OutDir, "preprocess.json"), append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	if env.Emit != nil {
		attrs := []slog.Attr{slog.Int("rows_in", st.RowsIn), slog.Int("rows_train", st.RowsTrain), slog.Int("rows_validation", st.RowsValidation), slog.Int64("tokens", st.Tokens)}
		for _, k := range prep.SortedDrops(st.Dropped) {
			attrs = append(attrs, slog.Int("dropped_"+k, st.Dropped[k]))
		}
		env.Emit.Log(slog.LevelInfo, "preprocessed", attrs...)
		if msg := dropWarning(st.RowsIn, st.Dropped); msg != "" {
			env.Emit.Log(slog.LevelWarn, msg)
		}
		if mp := st.MaskPreview; mp != nil && mp.NoTrainedTokens > 0 {
			first := mp.NoTrained[0]
			env.Emit.Log(slog.LevelWarn, fmt.Sprintf("%d rows keep no trained token after templating and masking (first: source line %d, %s); see mask_preview in the report",
				mp.NoTrainedTokens, first.Line, first.Reason), slog.Int("rows_without_trained_tokens", mp.NoTrainedTokens))
		}
	}
	if st.RowsTrain == 0 {
		return nil, agent.Permanent(fmt.Errorf("preprocess: no training rows left (%d in, dropped %v)", st.RowsIn, st.Dropped))
	}
	meta := map[string]any{"rows_train": st.RowsTrain, "rows_validation": st.RowsValidation, "tokens": st.Tokens,
		"template": tmpl, "append_eos": o.AppendEOS, "source_format": st.Format, "max_tokens": o.MaxTokens, "layout": "training"}
	if tokRef != "" {
		meta["tokenizer"] = tokRef
	}
	return []agent.Artifact{
		{Type: agent.Dataset, Name: "dataset", Path: "data", Meta: meta},
		{Type: agent.Report, Name: "preprocess", Path: "preprocess.json", Meta: map[string]any{"kind": "preprocess", "rows_in": st.RowsIn, "rows_out": st.RowsOut}},
	}, nil
}

// dropWarning words a warning when preprocessing dropped a large share (a
// fifth or more) of the rows, naming the main reason and its param.
func dropWarning(in int, dropped map[string]int) string {
	if in == 0 {
		return ""
	}
	total, top, topN := 0, "", 0
	for k, n := range dropped {
		total += n
		if n > topN || (n == topN && k < top) {
			top, topN = k, n
		}
	}
	if total*5 < in {
		return ""
	}
	hint := ""
	switch top {
	case "too_long", "max_tokens":
		hint = "; raise max_tokens (and train's max_seq_len) or set chunk_tokens to keep them"
	case "too_short", "min_tokens":
		hint = "; lower min_tokens to keep them"
	case "duplicate", "near_duplicate":
		hint = "; set dedup: none to keep them"
	}
	return fmt.Sprintf("dropped %d of %d rows (%.0f%%), most as %s (%d)%s", total, in, 100*float64(total)/float64(in), top, topN, hint)
}
