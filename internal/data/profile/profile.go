// Package profile summarises a dataset in one streaming pass: rows, source
// columns with their types and nulls, length statistics of the text, a
// token-length histogram with a model's tokenizer, a few sample records and
// the rows that could not be read.
package profile

import (
	"encoding/json"
	"math"
	"math/bits"
	"slices"
	"sort"
	"strings"

	"github.com/whetstone/whetstone/internal/data/record"
)

// Encoder counts tokens; *tokenizer.Tokenizer satisfies it.
type Encoder interface {
	Encode(text string, addSpecial bool) []int
}

// Options configure a Profiler.
type Options struct {
	// Tokenizer, when set, adds a token-length histogram.
	Tokenizer Encoder
	// TokenizerName labels the histogram (a folder name).
	TokenizerName string
	// Samples is how many records to keep as examples. Defaults to 3.
	Samples int
	// MaxErrors is how many unreadable rows to list. Defaults to 20.
	MaxErrors int
}

// Profiler accumulates a Report. It is not safe for concurrent use.
type Profiler struct {
	opts    Options
	rows    int
	columns map[string]*columnAcc
	order   []string
	chars   Hist
	tokens  Hist
	fields  map[string]*Hist
	fnames  []string
	samples []json.RawMessage
	errs    []RowError
	nerrs   int
	missing map[string]int
	scratch []record.Field
}

type columnAcc struct {
	types map[string]int
	nulls int
	empty int
}

// New returns a Profiler.
func New(opts Options) *Profiler {
	if opts.Samples == 0 {
		opts.Samples = 3
	}
	if opts.MaxErrors == 0 {
		opts.MaxErrors = 20
	}
	return &Profiler{opts: opts, columns: map[string]*columnAcc{}, fields: map[string]*Hist{}, missing: map[string]int{}}
}

// AddRow records the source columns of one row.
func (p *Profiler) AddRow(fields map[string]any) {
	// A row's fields come as a map: new columns are added in a fixed order
	// (the usual dataset fields first, then by name), never the map's.
	var fresh []string
	for k := range fields {
		if p.columns[k] == nil {
			fresh = append(fresh, k)
		}
	}
	slices.SortFunc(fresh, func(a, b string) int {
		ra, rb := columnRank(a), columnRank(b)
		if ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	for _, k := range fresh {
		if len(p.columns) >= 256 {
			break
		}
		p.columns[k] = &columnAcc{types: map[string]int{}}
		p.order = append(p.order, k)
	}
	for k, v := range fields {
		c := p.columns[k]
		if c == nil {
			continue
		}
		t := typeOf(v)
		c.types[t]++
		switch x := v.(type) {
		case nil:
			c.nulls++
		case string:
			if x == "" {
				c.empty++
			}
		}
	}
}

// wellKnown are the fields of the common dataset formats, in the order a
// person reads them.
var wellKnown = []string{"id", "system", "instruction", "input", "output", "prompt", "question", "context", "completion",
	"response", "answer", "chosen", "rejected", "messages", "conversations", "text", "label"}

// columnRank orders columns: well-known fields first, in wellKnown's order.
func columnRank(name string) int {
	if i := slices.Index(wellKnown, name); i >= 0 {
		return i
	}
	return len(wellKnown)
}

// AddRecord records one normalised record.
func (p *Profiler) AddRecord(r *record.Record) {
	p.rows++
	p.scratch = r.Fields(p.scratch[:0])
	total := 0
	for _, f := range p.scratch {
		name := fieldGroup(f.Name)
		h := p.fields[name]
		if h == nil {
			h = &Hist{}
			p.fields[name] = h
			p.fnames = append(p.fnames, name)
		}
		h.Add(len([]rune(f.Text)))
		total += len(f.Text)
	}
	p.chars.Add(total)
	for _, m := range r.Missing {
		p.missing[m]++
	}
	if p.opts.Tokenizer != nil {
		n := 0
		for _, f := range p.scratch {
			if f.Text != "" {
				n += len(p.opts.Tokenizer.Encode(f.Text, false))
			}
		}
		p.tokens.Add(n)
	}
	if len(p.samples) < p.opts.Samples {
		if b, err := r.MarshalJSON(); err == nil {
			p.samples = append(p.samples, truncateSample(b))
		}
	}
}

// AddError records a row that could not be read.
func (p *Profiler) AddError(e RowError) {
	p.nerrs++
	if len(p.errs) < p.opts.MaxErrors {
		p.errs = append(p.errs, e)
	}
}

// RowError is an unreadable row.
type RowError struct {
	File    string `json:"file,omitempty"` // for sources of several files
	Line    int    `json:"line"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
}

// Report is the profile of a dataset.
type Report struct {
	Rows         int      `json:"rows"`
	Format       string   `json:"format"`
	SourceFormat string   `json:"source_format"`
	Source       string   `json:"source,omitempty"`
	Columns      []Column `json:"columns"`
	// Fields are length statistics in characters of each canonical text
	// field ("messages[*].content" groups all turns).
	Fields []FieldStats `json:"fields"`
	// Chars is the distribution of bytes per record.
	Chars Stats `json:"record_bytes"`
	// Tokens is the distribution of tokens per record (all text fields,
	// without special tokens), when a tokenizer was given.
	Tokens         *TokenStats       `json:"tokens,omitempty"`
	MissingFields  map[string]int    `json:"missing_fields,omitempty"`
	Unreadable     int               `json:"unreadable"`
	UnreadableRows []RowError        `json:"unreadable_rows,omitempty"`
	Samples        []json.RawMessage `json:"samples"`
}

// Column describes one source column.
type Column struct {
	Name  string         `json:"name"`
	Types map[string]int `json:"types"`
	Nulls int            `json:"nulls"`
	Empty int            `json:"empty_strings"`
}

// FieldStats are length statistics of one text field.
type FieldStats struct {
	Name string `json:"name"`
	Stats
}

// Stats summarise a distribution. Percentiles are upper bounds of
// logarithmic buckets (within 19%).
type Stats struct {
	Count int     `json:"count"`
	Min   int     `json:"min"`
	Max   int     `json:"max"`
	Mean  float64 `json:"mean"`
	P50   int     `json:"p50"`
	P90   int     `json:"p90"`
	P99   int     `json:"p99"`
	Total int64   `json:"total"`
}

// TokenStats are token statistics with a histogram.
type TokenStats struct {
	Tokenizer string `json:"tokenizer"`
	Stats
	// Histogram has power-of-two buckets: Upper is the exclusive upper
	// bound (tokens < Upper), Count the records in the bucket.
	Histogram []Bucket `json:"histogram"`
}

// Bucket is one histogram bucket.
type Bucket struct {
	Upper int `json:"lt"`
	Count int `json:"count"`
}

// Report returns the profile so far.
func (p *Profiler) Report() Report {
	r := Report{Rows: p.rows, Chars: p.chars.Stats(), Unreadable: p.nerrs, UnreadableRows: p.errs, Samples: p.samples}
	if r.Samples == nil {
		r.Samples = []json.RawMessage{}
	}
	for _, k := range p.order {
		c := p.columns[k]
		r.Columns = append(r.Columns, Column{Name: k, Types: c.types, Nulls: c.nulls, Empty: c.empty})
	}
	for _, k := range p.fnames {
		r.Fields = append(r.Fields, FieldStats{Name: k, Stats: p.fields[k].Stats()})
	}
	if len(p.missing) > 0 {
		r.MissingFields = p.missing
	}
	if p.opts.Tokenizer != nil {
		r.Tokens = &TokenStats{Tokenizer: p.opts.TokenizerName, Stats: p.tokens.Stats(), Histogram: p.tokens.Pow2()}
	}
	return r
}

func fieldGroup(name string) string {
	// "messages[3].content" -> "messages[*].content"
	b := []byte(name)
	out := b[:0:0]
	for i := 0; i < len(b); i++ {
		if b[i] == '[' {
			j := i + 1
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				j++
			}
			if j < len(b) && b[j] == ']' {
				out = append(out, "[*]"...)
				i = j
				continue
			}
		}
		out = append(out, b[i])
	}
	return string(out)
}

func truncateSample(b []byte) json.RawMessage {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return b
	}
	v = truncateStrings(v, 400)
	out, err := json.Marshal(v)
	if err != nil {
		return b
	}
	return out
}

func truncateStrings(v any, n int) any {
	switch x := v.(type) {
	case string:
		if r := []rune(x); len(r) > n {
			return string(r[:n]) + "…"
		}
	case []any:
		for i := range x {
			x[i] = truncateStrings(x[i], n)
		}
	case map[string]any:
		for k := range x {
			x[k] = truncateStrings(x[k], n)
		}
	}
	return v
}

func typeOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64, float32, int64, int32, int, uint64, uint32:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "list"
	case map[string]any:
		return "object"
	}
	return "other"
}

// Hist is a streaming histogram with logarithmic buckets (4 per power of
// two), for approximate percentiles in constant memory.
type Hist struct {
	n        int
	min, max int
	sum      int64
	buckets  [256]int
}

func bucketOf(v int) int {
	if v < 8 {
		return v
	}
	e := bits.Len(uint(v)) - 1 // 2^e <= v
	sub := (v >> (e - 2)) & 3
	return 8 + (e-3)*4 + sub
}

func bucketUpper(b int) int {
	if b < 8 {
		return b
	}
	e := (b-8)/4 + 3
	sub := (b - 8) % 4
	return (1<<e + (sub+1)<<(e-2)) - 1
}

// Add records a value (negative values count as 0).
func (h *Hist) Add(v int) {
	if v < 0 {
		v = 0
	}
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += int64(v)
	b := bucketOf(v)
	if b >= len(h.buckets) {
		b = len(h.buckets) - 1
	}
	h.buckets[b]++
}

// Stats returns the summary.
func (h *Hist) Stats() Stats {
	if h.n == 0 {
		return Stats{}
	}
	return Stats{Count: h.n, Min: h.min, Max: h.max, Mean: math.Round(float64(h.sum)/float64(h.n)*10) / 10,
		P50: h.quantile(0.5), P90: h.quantile(0.9), P99: h.quantile(0.99), Total: h.sum}
}

func (h *Hist) quantile(q float64) int {
	target := int(math.Ceil(q * float64(h.n)))
	acc := 0
	for b, c := range h.buckets {
		acc += c
		if acc >= target {
			return min(max(bucketUpper(b), h.min), h.max)
		}
	}
	return h.max
}

// Pow2 returns the histogram with power-of-two buckets, from the first
// non-empty one to the last.
func (h *Hist) Pow2() []Bucket {
	counts := map[int]int{}
	for b, c := range h.buckets {
		if c == 0 {
			continue
		}
		v := bucketUpper(b)
		up := 1
		for up <= v {
			up <<= 1
		}
		counts[up] += c
	}
	var ups []int
	for u := range counts {
		ups = append(ups, u)
	}
	sort.Ints(ups)
	out := []Bucket{}
	if len(ups) == 0 {
		return out
	}
	for u := ups[0]; u <= ups[len(ups)-1]; u <<= 1 {
		out = append(out, Bucket{Upper: u, Count: counts[u]})
	}
	return out
}
