package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/ingest"
	"github.com/whetstone/whetstone/internal/agents/preprocess"
	"github.com/whetstone/whetstone/internal/agents/validate"
	"github.com/whetstone/whetstone/internal/data/check"
	"github.com/whetstone/whetstone/internal/data/dedup"
	"github.com/whetstone/whetstone/internal/data/prep"
	"github.com/whetstone/whetstone/internal/data/profile"
	"golang.org/x/term"
)

func init() {
	register(&command{name: "data", summary: "profile and validate a dataset file (and preprocess it with --prep) without a pipeline", run: runData})
}

func runData(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("data", flag.ContinueOnError)
	fs.SetOutput(io.err)
	fs.Usage = func() {
		fmt.Fprintln(io.err, "Usage: whet data FILE [flags]\n\nRuns the dataset and validate agents (and preprocess with --prep) on FILE and prints a summary.\nWith --out the reports and files are kept in OUT/dataset, OUT/validate, OUT/preprocess.\n\nFlags:")
		fs.PrintDefaults()
	}
	format := fs.String("format", "auto", "record format: auto, alpaca, messages, sharegpt, text, completion, preference, kto")
	columns := fs.String("columns", "", "column mapping, e.g. instruction=q,output=a")
	tok := fs.String("tokenizer", "", "tokenizer folder (token histogram, too_long, preprocess)")
	out := fs.String("out", "", "keep outputs in this folder")
	failOn := fs.String("fail-on", "unreadable", "comma-separated finding kinds, categories or severities that fail")
	near := fs.Float64("near", dedup.DefaultThreshold, "near-duplicate threshold")
	doPrep := fs.Bool("prep", false, "also preprocess")
	tmpl := fs.String("template", "auto", "preprocess template: auto, alpaca, chat, none")
	maxTokens := fs.Int("max-tokens", 2048, "preprocess and validate max_tokens")
	dedup := fs.String("dedup", "none", "preprocess dedup: none, exact, near")
	redact := fs.Bool("redact", false, "preprocess: redact PII")
	split := fs.Float64("split", 0.1, "preprocess validation_split")
	seed := fs.Int("seed", 42, "preprocess seed")
	maskN := fs.Int("mask-preview", 0, "preprocess, and print the loss mask of the first N rows (every token with its id; trained spans in [[ ]], or highlighted on a terminal) and the rows left without trained tokens")
	var file string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		if file != "" {
			return fmt.Errorf("%w: whet data takes one file", errUsage)
		}
		file, rest = fs.Arg(0), fs.Args()[1:]
	}
	if file == "" {
		fs.Usage()
		return fmt.Errorf("%w: whet data needs a file", errUsage)
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	base := *out
	if base == "" {
		if base, err = os.MkdirTemp("", "whet-data-"); err != nil {
			return err
		}
		defer os.RemoveAll(base)
	}
	runAgent := func(a agent.Agent, name string, params agent.Params, inputs ...agent.Artifact) ([]agent.Artifact, error) {
		dir := filepath.Join(base, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		env := &agent.Env{Params: params, Inputs: inputs, OutDir: dir, WorkDir: wd, Emit: agent.Discard}
		arts, err := a.Run(ctx, env)
		for i := range arts {
			arts[i].Path = filepath.Join(dir, arts[i].Path)
		}
		return arts, err
	}

	params := agent.Params{"source": file, "format": *format, "tokenizer": *tok, "samples": int64(2)}
	if *columns != "" {
		m := map[string]any{}
		for _, kv := range strings.Split(*columns, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("%w: --columns %q: want canonical=column pairs", errUsage, kv)
			}
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
		params["columns"] = m
	}
	data, err := runAgent(ingest.New(), "dataset", params)
	if err != nil {
		return err
	}
	var prof profile.Report
	if err := readJSONFile(data[1].Path, &prof); err != nil {
		return err
	}
	fmt.Fprintf(io.out, "%s: %s (source format %s), %d rows, %d unreadable\n", file, prof.Format, prof.SourceFormat, prof.Rows, prof.Unreadable)
	if t := prof.Tokens; t != nil {
		fmt.Fprintf(io.out, "tokens per row (%s): min %d, p50 %d, p90 %d, max %d, total %d\n", t.Tokenizer, t.Min, t.P50, t.P90, t.Max, t.Total)
	}
	var fail []any
	for _, s := range strings.Split(*failOn, ",") {
		if s = strings.TrimSpace(s); s != "" {
			fail = append(fail, s)
		}
	}
	if fail == nil {
		fail = []any{}
	}
	checked, verr := runAgent(validate.New(), "validate", agent.Params{"near_duplicate_threshold": *near, "fail_on": fail,
		"max_tokens": int64(*maxTokens), "tokenizer": *tok}, data[0])
	var rep check.Report
	if err := readJSONFile(filepath.Join(base, "validate", "validation.json"), &rep); err != nil {
		if verr != nil {
			return verr
		}
		return err
	}
	if len(rep.Findings) == 0 {
		fmt.Fprintln(io.out, "no findings")
	} else {
		fmt.Fprintf(io.out, "%-22s %8s %7s  %s\n", "finding", "rows", "action", "example")
	}
	for _, f := range rep.Findings {
		ex := ""
		if len(f.Examples) > 0 {
			e := f.Examples[0]
			ex = fmt.Sprintf("line %d: %s", e.Line, e.Text)
			if len(ex) > 100 {
				ex = ex[:100] + "…"
			}
		}
		fmt.Fprintf(io.out, "%-22s %8d %7s  %s\n", f.Kind, f.Rows, f.Action, ex)
	}
	if verr != nil {
		return verr
	}
	if *maskN > 0 && *tok == "" {
		return fmt.Errorf("%w: --mask-preview needs --tokenizer", errUsage)
	}
	if *doPrep || *maskN > 0 {
		arts, err := runAgent(preprocess.New(), "preprocess", agent.Params{"tokenizer": *tok, "template": *tmpl, "redact_pii": *redact,
			"dedup": *dedup, "max_tokens": int64(*maxTokens), "validation_split": *split, "seed": int64(*seed), "mask_preview": int64(*maskN)}, checked[0])
		if err != nil {
			return err
		}
		var st prep.Stats
		if err := readJSONFile(arts[1].Path, &st); err != nil {
			return err
		}
		fmt.Fprintf(io.out, "preprocess (%s): %d rows in, %d train, %d validation, %d tokens, dropped %v, redacted %v\n",
			st.Template, st.RowsIn, st.RowsTrain, st.RowsValidation, st.Tokens, st.Dropped, st.Redacted)
		if *maskN > 0 && st.MaskPreview != nil {
			f, ok := io.out.(*os.File)
			printMaskPreview(io.out, st.MaskPreview, ok && term.IsTerminal(int(f.Fd())))
		}
	}
	if *out != "" {
		fmt.Fprintf(io.out, "outputs in %s\n", *out)
	}
	return nil
}

// printMaskPreview prints each previewed row's text and ids with the
// trained spans marked: [[ ]] (ANSI reverse video on a terminal).
func printMaskPreview(w io.Writer, mp *prep.MaskPreview, ansi bool) {
	open, close := "[[", "]]"
	if ansi {
		open, close = "\x1b[7m", "\x1b[0m"
	}
	cut := "no cut"
	if mp.Window > 0 {
		cut = fmt.Sprintf("cut at max_tokens %d", mp.Window)
	}
	fmt.Fprintf(w, "loss mask (as the train agent masks rows, %s): trained tokens in %s%s\n", cut, open, close)
	for _, r := range mp.Rows {
		var text strings.Builder
		ids := make([]string, len(r.Tokens))
		tr := func(i int) bool { return i >= 0 && i < len(r.Tokens) && r.Tokens[i].Trained }
		for i, t := range r.Tokens {
			tx, id := strings.ReplaceAll(t.Text, "\n", "\\n"), fmt.Sprint(t.ID)
			if tr(i) && !tr(i-1) {
				tx, id = open+tx, open+id
			}
			if tr(i) && !tr(i+1) {
				tx, id = tx+close, id+close
			}
			text.WriteString(tx)
			ids[i] = id
		}
		fmt.Fprintf(w, "line %d: %d of %d tokens trained\n  text: %s\n  ids:  %s\n", r.Line, r.Trained, len(r.Tokens), text.String(), strings.Join(ids, " "))
	}
	fmt.Fprintf(w, "rows without trained tokens: %d\n", mp.NoTrainedTokens)
	for _, n := range mp.NoTrained {
		fmt.Fprintf(w, "  line %d: %s (%d tokens)\n", n.Line, n.Reason, n.Tokens)
	}
}

func readJSONFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
