package profile

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/whetstone/whetstone/internal/data/record"
)

func TestHist(t *testing.T) {
	t.Parallel()
	var h Hist
	for v := 1; v <= 1000; v++ {
		h.Add(v)
	}
	s := h.Stats()
	if s.Count != 1000 || s.Min != 1 || s.Max != 1000 || s.Mean != 500.5 || s.Total != 500500 {
		t.Fatalf("stats %+v", s)
	}
	// Bucket upper bounds are within 25% above the exact quantile.
	for _, c := range []struct{ got, exact int }{{s.P50, 500}, {s.P90, 900}, {s.P99, 990}} {
		if c.got < c.exact || float64(c.got) > 1.25*float64(c.exact) {
			t.Errorf("quantile %d, exact %d", c.got, c.exact)
		}
	}
	var total int
	for _, b := range h.Pow2() {
		total += b.Count
	}
	if total != 1000 {
		t.Errorf("histogram holds %d values", total)
	}
	var small Hist
	for _, v := range []int{0, 3, 5, 9, 17} {
		small.Add(v)
	}
	want := []Bucket{{1, 1}, {2, 0}, {4, 1}, {8, 1}, {16, 1}, {32, 1}}
	if d := cmp.Diff(want, small.Pow2()); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
}

type wordCounter struct{}

func (wordCounter) Encode(s string, _ bool) []int {
	n := 0
	in := false
	for _, c := range s {
		if c == ' ' {
			in = false
		} else if !in {
			in = true
			n++
		}
	}
	return make([]int, n)
}

func TestProfiler(t *testing.T) {
	t.Parallel()
	p := New(Options{Tokenizer: wordCounter{}, TokenizerName: "words", Samples: 1})
	p.AddRow(map[string]any{"instruction": "a b", "input": "", "output": nil})
	p.AddRecord(&record.Record{Format: record.Alpaca, Instruction: "a b", Output: "c d e"})
	p.AddRow(map[string]any{"instruction": "x", "input": "y"})
	p.AddRecord(&record.Record{Format: record.Alpaca, Instruction: "x", Input: "y", Missing: []string{"output"}})
	p.AddError(RowError{Line: 7, Message: "bad"})
	r := p.Report()
	if r.Rows != 2 || r.Unreadable != 1 || r.UnreadableRows[0].Line != 7 || r.MissingFields["output"] != 1 || len(r.Samples) != 1 {
		t.Fatalf("report %+v", r)
	}
	if r.Tokens.Total != 7 || r.Tokens.Max != 5 {
		t.Errorf("tokens %+v", r.Tokens)
	}
	cols := map[string]Column{}
	for _, c := range r.Columns {
		cols[c.Name] = c
	}
	if cols["output"].Nulls != 1 || cols["input"].Empty != 1 || cols["instruction"].Types["string"] != 2 {
		t.Errorf("columns %+v", cols)
	}
}

// TestColumnOrderFixed: a row's fields come as a map, whose order Go
// randomises; the profile's columns come out in one fixed order.
func TestColumnOrderFixed(t *testing.T) {
	t.Parallel()
	for range 50 {
		p := New(Options{})
		p.AddRow(map[string]any{"completion": "b", "prompt": "a", "zeta": 1, "alpha": true})
		p.AddRow(map[string]any{"prompt": "c", "extra": "x"})
		var got []string
		for _, c := range p.Report().Columns {
			got = append(got, c.Name)
		}
		if want := "prompt completion alpha zeta extra"; strings.Join(got, " ") != want {
			t.Fatalf("columns %v, want %s", got, want)
		}
	}
}
