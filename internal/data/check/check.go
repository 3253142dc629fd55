// Package check runs the validation checks over a stream of records and
// builds a report people can act on: for each kind of finding its count,
// severity, the rows (and source lines) it concerns, a few short redacted
// examples and a hint, and whether it fails the run.
//
// The checks: unreadable records; missing or empty required fields; exact
// and near duplicates (MinHash LSH); personal data and secrets (package
// pii); text quality: too short, too long for the context, repeated
// n-grams, non-printable characters, mojibake; chat structure (known roles,
// order, last turn from the assistant); preference sanity (chosen differs
// from rejected).
package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/data/contam"
	"github.com/whetstone/whetstone/internal/data/dataset"
	"github.com/whetstone/whetstone/internal/data/dedup"
	"github.com/whetstone/whetstone/internal/data/format"
	"github.com/whetstone/whetstone/internal/data/ordered"
	"github.com/whetstone/whetstone/internal/data/pii"
	"github.com/whetstone/whetstone/internal/data/progress"
	"github.com/whetstone/whetstone/internal/data/quality"
	"github.com/whetstone/whetstone/internal/data/reader"
	"github.com/whetstone/whetstone/internal/data/record"
	"github.com/whetstone/whetstone/internal/data/words"
)

// Severity of a finding.
type Severity string

// The severities.
const (
	Info    Severity = "info"
	Warning Severity = "warning"
	Error   Severity = "error"
)

// The finding kinds. PII kinds are "pii." + the pii.Kind.
const (
	Unreadable    = "unreadable"
	MissingField  = "missing_field"
	EmptyField    = "empty_field"
	Duplicate     = "duplicate"
	NearDuplicate = "near_duplicate"
	TooShort      = "too_short"
	TooLong       = "too_long"
	Repeated      = "repeated_ngrams"
	NonPrintable  = "non_printable"
	Mojibake      = "mojibake"
	UnknownRole   = "chat_unknown_role"
	RoleOrder     = "chat_order"
	LastTurn      = "chat_last_turn"
	SameAnswers   = "preference_identical"
	Contamination = "contamination"
)

type kindInfo struct {
	category string
	severity Severity
	hint     string
}

var kinds = map[string]kindInfo{
	Unreadable:    {"encoding", Error, "fix or remove these rows in the source (see the line and column); the dataset agent skipped them"},
	MissingField:  {"fields", Error, "map the right columns with the dataset agent's columns param, or fill the field"},
	Contamination: {"contamination", Warning, "these training rows share long n-grams with evaluation rows (see matches): drop them with preprocess decontaminate: true and the same eval_sets, or remove them"},
	EmptyField:    {"fields", Warning, "remove the rows or fill the field; empty targets teach the model to answer with nothing"},
	Duplicate:     {"duplicates", Warning, "remove with preprocess dedup: exact (or near)"},
	NearDuplicate: {"duplicates", Warning, "remove with preprocess dedup: near; lower near_duplicate_threshold to catch more"},
	TooShort:      {"quality", Warning, "check these rows; raise or lower min_chars"},
	TooLong:       {"quality", Warning, "preprocess max_tokens drops them (or chunk_tokens splits raw text); or train with a longer context"},
	Repeated:      {"quality", Warning, "looping or boilerplate text; inspect and drop"},
	NonPrintable:  {"quality", Warning, "preprocess cleaning removes control characters"},
	Mojibake:      {"quality", Warning, "text was decoded with the wrong encoding upstream (UTF-8 read as Latin-1/Windows-1252); re-export the source as UTF-8"},
	UnknownRole:   {"structure", Warning, "use roles system, user, assistant, tool (ShareGPT human/gpt are mapped)"},
	RoleOrder:     {"structure", Warning, "conversations should start with an optional system turn, then alternate user and assistant"},
	LastTurn:      {"structure", Warning, "the last turn should be the assistant's: it is what the model learns to write"},
	SameAnswers:   {"structure", Warning, "chosen and rejected are identical: the pair teaches nothing; drop it"},
}

func infoOf(kind string) kindInfo {
	if strings.HasPrefix(kind, "pii.") {
		k := pii.Kind(strings.TrimPrefix(kind, "pii."))
		hint := "redact with preprocess redact_pii: true, or remove the rows"
		if k.Secret() {
			hint = "a credential in training data can be memorised and leaked: revoke it and redact (preprocess redact_pii: true)"
		}
		return kindInfo{"pii", Warning, hint}
	}
	if i, ok := kinds[kind]; ok {
		return i
	}
	return kindInfo{"other", Warning, ""}
}

// Options select and tune the checks. The zero value runs nothing; use
// Defaults.
type Options struct {
	Fields         bool // missing and empty required fields
	Duplicates     bool // exact duplicates
	NearDuplicates bool
	NearThreshold  float64 // Jaccard similarity; defaults to dedup.DefaultThreshold
	PII            bool
	PIIKinds       []pii.Kind // nil: all
	Quality        bool
	MinChars       int     // records with less non-space text are too short; defaults to 10
	MaxTokens      int     // records with more tokens are too long; 0 disables
	Tokenizer      Encoder // nil: estimate 4 bytes per token
	RepeatRatio    float64 // repeated n-gram fraction that flags a field; defaults to 0.3
	Structure      bool
	// FailOn lists finding kinds ("pii.email"), categories ("pii",
	// "duplicates", "quality", "structure", "fields", "encoding") or
	// severities ("error", "warning") that fail the run. Defaults to
	// ["unreadable"] when nil.
	FailOn []string
	// FailRate is the fraction of rows a failing kind may affect before it
	// fails the run; 0 fails on any occurrence.
	FailRate float64
	Workers  int    // goroutines for the per-record checks; defaults to GOMAXPROCS
	Examples int    // examples per finding; defaults to 3
	MaxRows  int    // rows listed per finding; defaults to 100
	TempDir  string // for the MinHash signatures and spilled duplicate indexes
	// DedupBudget is the memory, in bytes, the duplicate indexes may use
	// before they spill to temporary files in TempDir (the report is the
	// same either way); defaults to dedup.DefaultBudget.
	DedupBudget int
	Emit        agent.Emitter
	// Unreadable are rows the dataset agent already skipped (from its
	// Meta), reported as unreadable findings.
	Unreadable      int
	UnreadableLines []reader.Error
	// Contamination, when set, holds the evaluation sets' n-grams: rows
	// sharing one are contamination findings.
	Contamination *contam.Index
}

// Encoder counts tokens; *tokenizer.Tokenizer satisfies it.
type Encoder interface {
	Encode(text string, addSpecial bool) []int
}

// Defaults returns every check on with default thresholds.
func Defaults() Options {
	return Options{Fields: true, Duplicates: true, NearDuplicates: true, NearThreshold: dedup.DefaultThreshold, PII: true, Quality: true,
		MinChars: 10, RepeatRatio: 0.3, Structure: true, MaxTokens: 0}
}

// Report is the validation report.
type Report struct {
	Rows     int        `json:"rows"`
	Format   string     `json:"format"`
	Passed   bool       `json:"passed"`
	Failed   []string   `json:"failed,omitempty"` // kinds that failed the run
	Findings []*Finding `json:"findings"`
	// Checks lists the checks that ran with their settings.
	Checks map[string]any `json:"checks"`
}

// Finding is one kind of problem.
type Finding struct {
	Kind     string    `json:"kind"`
	Category string    `json:"category"`
	Severity Severity  `json:"severity"`
	Action   string    `json:"action"` // "fail" or "warn"
	Count    int       `json:"count"`  // occurrences
	Rows     int       `json:"rows"`   // distinct rows affected
	Rate     float64   `json:"rate"`   // Rows / total rows
	RowList  []int     `json:"row_numbers"`
	Lines    []int     `json:"source_lines,omitempty"`
	Examples []Example `json:"examples"`
	Hint     string    `json:"hint"`
	// Matches names the other side of each listed row (contamination: the
	// evaluation set and row).
	Matches []Match `json:"matches,omitempty"`
	lastRow int
}

// Match pairs a dataset row with an evaluation row it overlaps.
type Match struct {
	Row     int    `json:"row"`
	EvalSet string `json:"eval_set"`
	EvalRow int    `json:"eval_row"`
	Shared  int    `json:"shared_ngrams"`
}

// Example is a short, redacted illustration of a finding.
type Example struct {
	Row    int    `json:"row"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	Field  string `json:"field,omitempty"`
	Text   string `json:"text"`
}

// Checker runs the checks record by record. Use Run for a whole stream.
type Checker struct {
	opts     Options
	findings map[string]*Finding
	exact    *dedup.Exact
	near     *dedup.Near
	allowPII map[pii.Kind]bool
	rows     int
	nearRows []int32 // dataset row of each near-duplicate index entry before spilling
	w        *worker // for Add
	spill    *spillState
	flushed  bool
}

// worker holds the scratch space of the per-record checks; one per
// goroutine.
type worker struct {
	c       *Checker
	words   []uint64 // word hashes of all fields
	bounds  []int    // words[bounds[i]:bounds[i+1]] are field i's
	fields  []record.Field
	matches []pii.Match
	ngrams  quality.NgramSet
	sb      strings.Builder
	grams   []uint64 // contamination scratch
}

// pending is a finding of one record, before it is merged in row order.
type pending struct {
	kind, field, text string
	column            int
}

// analysis is the result of the per-record checks.
type analysis struct {
	row, line int
	found     []pending
	key       string // the record's text, for duplicate examples
	hash      uint64
	sig       []uint32
	err       *reader.Error // unreadable
	contam    contam.Ref    // first evaluation row sharing an n-gram
	shared    int           // n-grams shared with evaluation rows
}

// New returns a Checker. Call Close when done.
func New(opts Options) (*Checker, error) {
	opts.NearThreshold = cmpOr(opts.NearThreshold, dedup.DefaultThreshold)
	opts.MinChars = cmpOr(opts.MinChars, 10)
	opts.RepeatRatio = cmpOr(opts.RepeatRatio, 0.3)
	opts.Examples = cmpOr(opts.Examples, 3)
	opts.MaxRows = cmpOr(opts.MaxRows, 100)
	opts.DedupBudget = cmpOr(opts.DedupBudget, dedup.DefaultBudget)
	if opts.FailOn == nil {
		opts.FailOn = []string{Unreadable}
	}
	c := &Checker{opts: opts, findings: map[string]*Finding{}}
	c.w = &worker{c: c}
	if opts.Duplicates {
		c.exact = dedup.NewExact()
	}
	if opts.NearDuplicates {
		n, err := dedup.NewNear(opts.NearThreshold, 0, opts.TempDir)
		if err != nil {
			return nil, err
		}
		c.near = n
	}
	if opts.PIIKinds != nil {
		c.allowPII = map[pii.Kind]bool{}
		for _, k := range opts.PIIKinds {
			c.allowPII[k] = true
		}
	}
	return c, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Close releases the duplicate indexes and removes their temporary files.
func (c *Checker) Close() error {
	if c.spill != nil {
		c.spill.close()
	}
	if c.exact != nil {
		c.exact.Close()
	}
	if c.near != nil {
		return c.near.Close()
	}
	return nil
}

func (c *Checker) add(kind string, row, line int, field, text string, column int) {
	f := c.findings[kind]
	if f == nil {
		in := infoOf(kind)
		f = &Finding{Kind: kind, Category: in.category, Severity: in.severity, Hint: in.hint, RowList: []int{}, Examples: []Example{}}
		c.findings[kind] = f
	}
	f.Count++
	if row > 0 && f.lastRow == row {
		return
	}
	f.lastRow = row
	f.Rows++
	if f.Rows <= c.opts.MaxRows {
		if row > 0 {
			f.RowList = append(f.RowList, row)
		}
		if line > 0 {
			f.Lines = append(f.Lines, line)
		}
	}
	if len(f.Examples) < c.opts.Examples {
		f.Examples = append(f.Examples, Example{Row: row, Line: line, Column: column, Field: field, Text: text})
	}
}

// Unreadable records an unreadable row.
func (c *Checker) Unreadable(row int, e *reader.Error) {
	c.add(Unreadable, row, e.Line, "", e.Msg, e.Column)
}

// snippet returns a short redacted excerpt of s.
func snippet(s string, n int) string {
	cl, _ := clip(s, n)
	return redact(cl)
}

// Add checks one record; row is its 1-based index in the dataset.
func (c *Checker) Add(row int, r *record.Record) error {
	var a analysis
	c.w.analyze(row, r, &a)
	return c.merge(&a)
}

// analyze runs the checks that need only the record itself.
func (w *worker) analyze(row int, r *record.Record, a *analysis) {
	c := w.c
	o := &c.opts
	*a = analysis{row: row, line: r.Line, found: a.found[:0], sig: a.sig}
	w.fields = r.Fields(w.fields[:0])
	if o.NearDuplicates || o.Quality || o.Contamination != nil {
		w.words, w.bounds = w.words[:0], append(w.bounds[:0], 0)
		for _, f := range w.fields {
			w.words = words.Hashes(f.Text, w.words)
			w.bounds = append(w.bounds, len(w.words))
		}
	}
	if o.Fields {
		for _, m := range r.Missing {
			a.add(MissingField, m, "field "+m+" is missing")
		}
		w.checkEmpty(a, r)
	}
	if o.Contamination != nil {
		a.contam, a.shared, _ = o.Contamination.Match(w.words, &w.grams)
	}
	if o.Duplicates || o.NearDuplicates {
		w.sb.Reset()
		for i, f := range w.fields {
			if i > 0 {
				w.sb.WriteString("\x1f")
			}
			w.sb.WriteString(f.Text)
		}
		a.key = w.sb.String()
		if o.Duplicates {
			a.hash = dedup.Hash(a.key)
		}
		if o.NearDuplicates {
			a.sig = c.near.MinHash().SignatureWords(w.words, a.sig)
		}
	}
	if o.PII {
		for _, f := range w.fields {
			w.matches = pii.Find(f.Text, w.matches[:0])
			for _, m := range w.matches {
				if c.allowPII != nil && !c.allowPII[m.Kind] {
					continue
				}
				a.add("pii."+string(m.Kind), f.Name, pii.Example(f.Text, m, 24))
			}
		}
	}
	if o.Quality {
		w.checkQuality(a, r)
	}
	if o.Structure {
		w.checkStructure(a, r)
	}
}

func (a *analysis) add(kind, field, text string) {
	a.found = append(a.found, pending{kind: kind, field: field, text: text})
}

// merge applies the order-dependent checks (duplicates) and records the
// findings. Records must be merged in row order.
func (c *Checker) merge(a *analysis) error {
	if a.err != nil {
		c.Unreadable(a.row, a.err)
		return nil
	}
	c.rows++
	o := &c.opts
	row, line := a.row, a.line
	exact := false
	if (o.Duplicates || o.NearDuplicates) && c.spill == nil && c.overBudget() {
		if err := c.startSpill(); err != nil {
			return err
		}
	}
	if c.spill != nil {
		if o.Duplicates {
			c.exact.AddHash(a.hash, row)
		}
		if o.NearDuplicates {
			if _, _, err := c.near.AddSignature(a.sig); err != nil {
				return err
			}
		}
		if err := c.spill.writeSide(row, line, a.key); err != nil {
			return fmt.Errorf("spill duplicate findings: %w", err)
		}
	} else if o.Duplicates {
		if first := c.exact.AddHash(a.hash, row); first >= 0 {
			exact = true
			c.add(Duplicate, row, line, "", fmt.Sprintf("same as row %d: %s", first, snippet(strings.ReplaceAll(a.key, "\x1f", " | "), 80)), 0)
		}
	}
	if o.NearDuplicates && c.spill == nil {
		m, sim, err := c.near.AddSignature(a.sig)
		if err != nil {
			return err
		}
		c.nearRows = append(c.nearRows, int32(row))
		if m >= 0 && !exact {
			c.add(NearDuplicate, row, line, "", fmt.Sprintf("%.0f%% similar to row %d: %s", 100*sim, c.nearRows[m], snippet(strings.ReplaceAll(a.key, "\x1f", " | "), 80)), 0)
		}
	}
	if a.shared > 0 {
		x := o.Contamination
		set := x.Sets[a.contam.Set]
		c.add(Contamination, row, line, "", fmt.Sprintf("%d %d-word n-grams shared with %s row %d", a.shared, x.N(), set, a.contam.Row), 0)
		if f := c.findings[Contamination]; len(f.Matches) < o.MaxRows {
			f.Matches = append(f.Matches, Match{Row: row, EvalSet: set, EvalRow: a.contam.Row, Shared: a.shared})
		}
	}
	for _, p := range a.found {
		c.add(p.kind, row, line, p.field, p.text, p.column)
	}
	return nil
}

func (w *worker) checkEmpty(a *analysis, r *record.Record) {
	empty := func(field, s string) {
		if strings.TrimSpace(s) == "" {
			a.add(EmptyField, field, "field "+field+" is empty")
		}
	}
	missing := func(f string) bool { return slices.Contains(r.Missing, f) }
	switch r.Format.Canonical() {
	case record.Alpaca:
		if !missing("instruction") {
			empty("instruction", r.Instruction)
		}
		if !missing("output") {
			empty("output", r.Output)
		}
	case record.Text:
		if !missing("text") {
			empty("text", r.Text)
		}
	case record.Completion:
		if !missing("prompt") {
			empty("prompt", r.Prompt)
		}
		if !missing("completion") {
			empty("completion", r.Completion)
		}
	case record.Messages, record.KTO:
		if !missing("messages") && len(r.Messages) == 0 {
			a.add(EmptyField, "messages", "no messages")
		}
		for i, m := range r.Messages {
			if strings.TrimSpace(m.Content) == "" && m.Role != "system" {
				a.add(EmptyField, fmt.Sprintf("messages[%d].content", i), "empty "+m.Role+" turn")
			}
		}
	case record.Preference:
		if !missing("chosen") && joined(r.Chosen) == "" {
			a.add(EmptyField, "chosen", "chosen is empty")
		}
		if !missing("rejected") && joined(r.Rejected) == "" {
			a.add(EmptyField, "rejected", "rejected is empty")
		}
	}
}

func joined(ms []record.Message) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString(strings.TrimSpace(m.Content))
	}
	return b.String()
}

func (w *worker) checkQuality(a *analysis, r *record.Record) {
	o := &w.c.opts
	size, nonSpace := 0, 0
	for _, f := range w.fields {
		size += len(f.Text)
		if nonSpace < o.MinChars {
			nonSpace += len(strings.TrimSpace(f.Text))
		}
	}
	if nonSpace < o.MinChars {
		text := ""
		for _, f := range w.fields {
			text += f.Text + " "
		}
		a.add(TooShort, "", fmt.Sprintf("%d characters: %q", nonSpace, snippet(text, 60)))
	}
	if o.MaxTokens > 0 {
		tokens := 0
		if o.Tokenizer != nil {
			for _, f := range w.fields {
				if f.Text != "" {
					tokens += len(o.Tokenizer.Encode(f.Text, false))
				}
			}
		} else {
			tokens = (size + 3) / 4
		}
		if tokens > o.MaxTokens {
			a.add(TooLong, "", fmt.Sprintf("%d tokens > max_tokens %d", tokens, o.MaxTokens))
		}
	}
	for i, f := range w.fields {
		if len(f.Text) >= 80 {
			if rep := w.ngrams.RepetitionWords(w.words[w.bounds[i]:w.bounds[i+1]], 3, 20); rep >= o.RepeatRatio {
				a.add(Repeated, f.Name, fmt.Sprintf("%.0f%% of 3-grams repeat: %s", 100*rep, snippet(f.Text, 80)))
			}
		}
		if n, at := quality.NonPrintable(f.Text); n > 0 {
			a.add(NonPrintable, f.Name, fmt.Sprintf("%d control characters, first %q at byte %d: %s", n, f.Text[at:at+1+boolInt(f.Text[at] == 0xC2)], at, snippet(f.Text, 60)))
		}
		if n, at := quality.Mojibake(f.Text); n > 0 {
			lo := max(0, at-20)
			for lo > 0 && !utf8.RuneStart(f.Text[lo]) {
				lo--
			}
			a.add(Mojibake, f.Name, fmt.Sprintf("%d suspicious sequences: %s", n, snippet(f.Text[lo:], 60)))
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (w *worker) checkStructure(a *analysis, r *record.Record) {
	check := func(field string, ms []record.Message, needLast bool) {
		prev := ""
		for i, m := range ms {
			role, known := format.CanonicalRole(m.Role)
			if !known {
				a.add(UnknownRole, fmt.Sprintf("%s[%d].role", field, i), fmt.Sprintf("unknown role %q", m.Role))
				prev = role
				continue
			}
			bad := ""
			switch role {
			case "system":
				if i != 0 {
					bad = "system turn after the start"
				}
			case "user":
				if prev == "user" {
					bad = "two user turns in a row"
				}
			case "assistant":
				if prev == "" || prev == "system" {
					bad = "assistant turn before any user turn"
				}
			case "tool":
				if prev != "assistant" && prev != "tool" {
					bad = "tool turn not after an assistant turn"
				}
			}
			if bad != "" {
				a.add(RoleOrder, fmt.Sprintf("%s[%d]", field, i), bad)
			}
			prev = role
		}
		if needLast && len(ms) > 0 && prev != "assistant" {
			a.add(LastTurn, field, fmt.Sprintf("last turn is %q", ms[len(ms)-1].Role))
		}
	}
	switch r.Format.Canonical() {
	case record.Messages, record.KTO:
		check("messages", r.Messages, true)
	case record.Preference:
		conv := append(append([]record.Message(nil), r.Messages...), r.Chosen...)
		check("chosen", conv, true)
		if len(r.Chosen) > 0 && len(r.Rejected) > 0 && joined(r.Chosen) == joined(r.Rejected) {
			a.add(SameAnswers, "chosen", "chosen equals rejected: "+snippet(joined(r.Chosen), 60))
		}
	}
}

// Report returns the report so far, with the fail decision. Once the
// duplicate indexes have spilled, call Flush first (Run does).
func (c *Checker) Report(format record.Format) Report {
	rep := Report{Rows: c.rows, Format: string(format), Passed: true, Findings: []*Finding{}}
	for _, f := range c.findings {
		if f.Kind == Unreadable {
			f.Rate = rate(f.Rows, c.rows+f.Rows)
		} else {
			f.Rate = rate(f.Rows, c.rows)
		}
		f.Action = "warn"
		if c.fails(f) {
			f.Action = "fail"
			rep.Passed = false
			rep.Failed = append(rep.Failed, f.Kind)
		}
		rep.Findings = append(rep.Findings, f)
	}
	sev := map[Severity]int{Error: 0, Warning: 1, Info: 2}
	sort.Slice(rep.Findings, func(i, j int) bool {
		a, b := rep.Findings[i], rep.Findings[j]
		if (a.Action == "fail") != (b.Action == "fail") {
			return a.Action == "fail"
		}
		if sev[a.Severity] != sev[b.Severity] {
			return sev[a.Severity] < sev[b.Severity]
		}
		if a.Rows != b.Rows {
			return a.Rows > b.Rows
		}
		return a.Kind < b.Kind
	})
	sort.Strings(rep.Failed)
	o := c.opts
	rep.Checks = map[string]any{"fields": o.Fields, "duplicates": o.Duplicates, "near_duplicates": o.NearDuplicates,
		"pii": o.PII, "quality": o.Quality, "structure": o.Structure, "fail_on": o.FailOn, "fail_rate": o.FailRate}
	if o.NearDuplicates {
		rep.Checks["near_duplicate_threshold"] = o.NearThreshold
		rep.Checks["minhash"] = c.near.Settings()
	}
	if o.Contamination != nil {
		rep.Checks["contamination"] = o.Contamination.Settings()
	}
	if o.Quality {
		rep.Checks["min_chars"] = o.MinChars
		rep.Checks["repeat_ratio"] = o.RepeatRatio
		if o.MaxTokens > 0 {
			rep.Checks["max_tokens"] = o.MaxTokens
			rep.Checks["token_counts"] = map[bool]string{true: "tokenizer", false: "estimated (4 bytes per token)"}[o.Tokenizer != nil]
		}
	}
	return rep
}

func rate(n, total int) float64 {
	if total == 0 {
		return 0
	}
	return float64(int(float64(n)/float64(total)*1e4+0.5)) / 1e4
}

func (c *Checker) fails(f *Finding) bool {
	match := false
	for _, s := range c.opts.FailOn {
		s = strings.TrimSpace(s)
		if s == f.Kind || s == f.Category || s == string(f.Severity) || s == "all" || s == "any" {
			match = true
			break
		}
	}
	if !match || f.Rows == 0 {
		return false
	}
	return c.opts.FailRate == 0 || f.Rate > c.opts.FailRate
}

// Run checks every record of s with workers goroutines (GOMAXPROCS when
// 0): records are decoded in order, checked in parallel in batches, and
// merged in order, so the report does not depend on the number of workers.
// It stops on ctx's cancellation.
func Run(ctx context.Context, s *dataset.Stream, opts Options) (Report, error) {
	c, err := New(opts)
	if err != nil {
		return Report{}, err
	}
	defer c.Close()
	for _, e := range opts.UnreadableLines {
		c.add(Unreadable, 0, e.Line, "", e.Msg, e.Column)
	}
	if extra := opts.Unreadable - len(opts.UnreadableLines); extra > 0 {
		f := c.findings[Unreadable]
		if f == nil {
			c.add(Unreadable, 0, 0, "", "unreadable rows in the source", 0)
			f = c.findings[Unreadable]
			extra--
		}
		f.Count += extra
		f.Rows += extra
	}
	// One item per record: the record and its analysis.
	type item struct {
		rec record.Record
		out analysis
	}
	workers := ordered.Workers(opts.Workers)
	ws := make([]*worker, workers)
	for i := range ws {
		ws[i] = &worker{c: c}
	}
	meter := progress.Meter{Emit: opts.Emit, Total: s.Size(), Label: "validate"}
	read := func() (ordered.Batch[item], error) {
		b := ordered.Batch[item]{Items: make([]item, 0, 256)}
		for len(b.Items) < 256 {
			b.Items = append(b.Items, item{})
			it := &b.Items[len(b.Items)-1]
			err := s.Next(&it.rec)
			if err == io.EOF {
				b.Items = b.Items[:len(b.Items)-1]
				break
			}
			it.out.row = s.Row()
			if err != nil {
				var re *reader.Error
				if errors.As(err, &re) && !re.Fatal {
					it.out.err = re
					continue
				}
				b.Items = b.Items[:len(b.Items)-1]
				b.Offset = s.Offset()
				return b, err
			}
		}
		b.Offset = s.Offset()
		return b, nil
	}
	work := func(w int, b *ordered.Batch[item]) {
		for i := range b.Items {
			if it := &b.Items[i]; it.out.err == nil {
				ws[w].analyze(it.out.row, &it.rec, &it.out)
			}
		}
	}
	consume := func(b *ordered.Batch[item]) error {
		for i := range b.Items {
			if err := c.merge(&b.Items[i].out); err != nil {
				return err
			}
		}
		meter.Update(b.Offset, c.rows)
		return nil
	}
	if err := ordered.Run(ctx, workers, read, work, consume); err != nil {
		return Report{}, err
	}
	if err := c.Flush(); err != nil {
		return Report{}, err
	}
	meter.Done(c.rows)
	return c.Report(s.Format()), nil
}

// FailOnValid reports whether s is a fail_on value: a finding kind
// ("duplicate", "pii.email"), a category ("pii") or a severity ("error").
func FailOnValid(s string) bool {
	if _, ok := kinds[s]; ok {
		return true
	}
	if k, ok := strings.CutPrefix(s, "pii."); ok {
		return slices.Contains(pii.Kinds, pii.Kind(k))
	}
	switch Severity(s) {
	case Info, Warning, Error:
		return true
	}
	if s == "pii" {
		return true
	}
	for _, i := range kinds {
		if i.category == s {
			return true
		}
	}
	return false
}
