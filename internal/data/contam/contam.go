// Package contam finds training rows that overlap evaluation rows: a long
// word n-gram (8 to 13 words; DefaultN) shared by a training row and an
// evaluation row marks the training row contaminated, the way GPT-3 and
// Llama 2 checked their benchmarks. The evaluation sets are indexed in
// memory (one map entry per distinct n-gram); training rows stream past it.
//
// An n-gram found in many evaluation rows is boilerplate, not content: a
// prompt template's preamble ("Below is an instruction that describes a
// task...") or a shared system prompt would otherwise mark every training
// row rendered with the same template. Such n-grams (in more than
// max(2, 5 %) of the indexed rows; Boilerplate) are left out of matches
// and counted in Settings, and an n-gram matches only when most of its
// words are outside them (the template's last words and the first words of
// a row's own text are shared by chance).
package contam

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/whetstone/whetstone/internal/data/dataset"
	"github.com/whetstone/whetstone/internal/data/dedup"
	"github.com/whetstone/whetstone/internal/data/reader"
	"github.com/whetstone/whetstone/internal/data/record"
	"github.com/whetstone/whetstone/internal/data/words"
)

// N-gram sizes.
const (
	DefaultN = 13
	MinN     = 8
	MaxN     = 13
	// minWhole is the fewest words a row shorter than N needs for its
	// whole text to count as one n-gram (an exact copy of a short row).
	minWhole = 4
)

// Ref names an evaluation row: Set indexes Index.Sets, Row is 1-based.
type Ref struct {
	Set int `json:"set"`
	Row int `json:"row"`
}

// Index holds the n-grams of evaluation rows.
type Index struct {
	n     int
	grams map[uint64]*gram
	Sets  []string // names of the sets, in the order added
	Rows  []int    // rows indexed per set
	buf   []uint64
}

// gram is one indexed n-gram: the first evaluation row with it, and in how
// many rows it occurs.
type gram struct {
	first Ref
	last  Ref // the last row counted, so a row counts once
	rows  int
}

// Boilerplate returns the most evaluation rows (of total) an n-gram may
// occur in and still count as content: more, and it is a template's text.
func Boilerplate(total int) int { return max(2, total/20) }

// New returns an empty index of n-word grams (DefaultN when 0).
func New(n int) (*Index, error) {
	if n == 0 {
		n = DefaultN
	}
	if n < MinN || n > MaxN {
		return nil, fmt.Errorf("contamination n-gram %d: want %d to %d words", n, MinN, MaxN)
	}
	return &Index{n: n, grams: map[uint64]*gram{}}, nil
}

// N returns the n-gram size.
func (x *Index) N() int { return x.n }

// Len returns the number of distinct n-grams indexed.
func (x *Index) Len() int { return len(x.grams) }

// Words appends the word hashes (package words) of every text field of r
// to dst: the same sequence for a row and its copy in any canonical file.
func Words(r *record.Record, dst []uint64) []uint64 {
	var fields [8]record.Field
	for _, f := range r.Fields(fields[:0]) {
		dst = words.Hashes(f.Text, dst)
	}
	return dst
}

// ngrams appends the n-gram hashes of ws: every n-gram, or the whole row
// when it is shorter than n but has at least minWhole words.
func (x *Index) ngrams(ws []uint64, dst []uint64) []uint64 {
	if len(ws) < x.n {
		if len(ws) < minWhole {
			return dst
		}
		return dedup.Shingles(ws, len(ws), dst)
	}
	return dedup.Shingles(ws, x.n, dst)
}

// AddSet starts a new evaluation set and returns its number.
func (x *Index) AddSet(name string) int {
	x.Sets = append(x.Sets, name)
	x.Rows = append(x.Rows, 0)
	return len(x.Sets) - 1
}

// Add indexes evaluation row (1-based) of set with word hashes ws.
func (x *Index) Add(set, row int, ws []uint64) {
	x.buf = x.ngrams(ws, x.buf[:0])
	ref := Ref{Set: set, Row: row}
	for _, h := range x.buf {
		g, ok := x.grams[h]
		switch {
		case !ok:
			x.grams[h] = &gram{first: ref, last: ref, rows: 1}
		case g.last != ref:
			g.last = ref
			g.rows++
		}
	}
	if row > x.Rows[set] {
		x.Rows[set] = row
	}
}

// AddStream indexes every readable record of s as set name. Unreadable
// records are skipped (they keep their row numbers).
func (x *Index) AddStream(ctx context.Context, name string, s *dataset.Stream) error {
	set := x.AddSet(name)
	var r record.Record
	var ws []uint64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := s.Next(&r)
		if err == io.EOF {
			return nil
		}
		var re *reader.Error
		if errors.As(err, &re) && !re.Fatal {
			continue
		}
		if err != nil {
			return fmt.Errorf("evaluation set %s: %w", name, err)
		}
		ws = Words(&r, ws[:0])
		x.Add(set, s.Row(), ws)
	}
}

// AddFile indexes a dataset file (any readable format, detected).
func (x *Index) AddFile(ctx context.Context, name, path string) error {
	s, err := dataset.OpenFile(path, "")
	if err != nil {
		return fmt.Errorf("evaluation set %s: %w", name, err)
	}
	defer s.Close()
	return x.AddStream(ctx, name, s)
}

// Match returns the first evaluation row sharing an n-gram with a row of
// word hashes ws, and how many of the row's n-grams are shared. scratch is
// reused between calls (one per goroutine); Match is safe for concurrent
// use once nothing is added.
func (x *Index) Match(ws []uint64, scratch *[]uint64) (Ref, int, bool) {
	*scratch = x.ngrams(ws, (*scratch)[:0])
	limit := Boilerplate(x.total())
	// Words inside a boilerplate n-gram are the template's; an n-gram
	// counts only when most of its words are not (a template's last words
	// and a row's first few are shared by chance).
	var template []bool
	if len(ws) >= x.n {
		for i, h := range *scratch {
			if g, ok := x.grams[h]; ok && g.rows > limit {
				if template == nil {
					template = make([]bool, len(ws))
				}
				for j := i; j < i+x.n; j++ {
					template[j] = true
				}
			}
		}
	}
	var first Ref
	shared := 0
	for i, h := range *scratch {
		if g, ok := x.grams[h]; ok && g.rows <= limit {
			if template != nil {
				content := 0
				for j := i; j < i+x.n; j++ {
					if !template[j] {
						content++
					}
				}
				if 2*content <= x.n {
					continue
				}
			}
			ref := g.first
			if shared == 0 || ref.Set < first.Set || (ref.Set == first.Set && ref.Row < first.Row) {
				first = ref
			}
			shared++
		}
	}
	return first, shared, shared > 0
}

// total is the number of evaluation rows indexed.
func (x *Index) total() int {
	t := 0
	for _, r := range x.Rows {
		t += r
	}
	return t
}

// BoilerplateNgrams counts the indexed n-grams left out of matches as
// boilerplate (see the package comment).
func (x *Index) BoilerplateNgrams() int {
	limit, n := Boilerplate(x.total()), 0
	for _, g := range x.grams {
		if g.rows > limit {
			n++
		}
	}
	return n
}

// Settings describes the index for reports.
func (x *Index) Settings() map[string]any {
	return map[string]any{"ngram_words": x.n, "eval_sets": x.Sets, "eval_rows": x.Rows, "ngrams": len(x.grams),
		"boilerplate_ngrams": x.BoilerplateNgrams()}
}

// Ngrams appends the n-gram hashes Match looks up for a row of word hashes
// ws.
func (x *Index) Ngrams(ws []uint64, dst []uint64) []uint64 { return x.ngrams(ws, dst) }
