package prep

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/whetstone/whetstone/internal/data/dataset"
	"github.com/whetstone/whetstone/internal/data/record"
	"github.com/whetstone/whetstone/internal/data/template"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

// words is a fake tokenizer: one token per space-separated word, so chunk
// boundaries can be checked exactly.
type words struct {
	mu    sync.Mutex // prep calls Encode from several workers
	vocab map[string]int
	list  []string
}

func newWords() *words { return &words{vocab: map[string]int{}} }

func (w *words) Encode(s string, addSpecial bool) []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var ids []int
	if addSpecial {
		ids = append(ids, -1) // BOS
	}
	for _, f := range strings.Fields(s) {
		id, ok := w.vocab[f]
		if !ok {
			id = len(w.list)
			w.vocab[f] = id
			w.list = append(w.list, f)
		}
		ids = append(ids, id)
	}
	return ids
}

func (w *words) Decode(ids []int, _ bool) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, id := range ids {
		if id >= 0 {
			out = append(out, w.list[id])
		}
	}
	return strings.Join(out, " ")
}

func (w *words) EOS() (int, bool) { return -2, true }

func (w *words) ApplyChatTemplate([]map[string]any, tokenizer.ChatOptions) (string, error) {
	return "", tokenizer.ErrNoChatTemplate
}

func writeRecords(t *testing.T, recs []record.Record) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data.jsonl")
	var b strings.Builder
	for i := range recs {
		line, err := recs[i].MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func rows(t *testing.T, path string) []template.Row {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []template.Row
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r template.Row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func runPrep(t *testing.T, p string, f record.Format, o Options) (Stats, []template.Row, []template.Row) {
	t.Helper()
	s, err := dataset.OpenFile(p, f)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := t.TempDir()
	st, err := Run(context.Background(), s, dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return st, rows(t, filepath.Join(dir, "train.jsonl")), rows(t, filepath.Join(dir, "validation.jsonl"))
}

func TestChunks(t *testing.T) {
	t.Parallel()
	var w []string
	for i := range 25 {
		w = append(w, fmt.Sprintf("w%d", i))
	}
	p := writeRecords(t, []record.Record{{Format: record.Text, Text: strings.Join(w, " ")}, {Format: record.Text, Text: "short text"}})
	st, train, _ := runPrep(t, p, record.Text, Options{Tokenizer: newWords(), ChunkTokens: 10, ChunkOverlap: 3, AppendEOS: true})
	// 25 words, windows of 10 with stride 7: [0,10) [7,17) [14,24) [21,25).
	want := []string{"w0 w1 w2 w3 w4 w5 w6 w7 w8 w9", "w7 w8 w9 w10 w11 w12 w13 w14 w15 w16",
		"w14 w15 w16 w17 w18 w19 w20 w21 w22 w23", "w21 w22 w23 w24", "short text"}
	if len(train) != len(want) {
		t.Fatalf("%d rows: %+v", len(train), train)
	}
	for i, r := range train {
		if r.Text != want[i] || r.Prompt != "" {
			t.Errorf("row %d: %q", i, r.Text)
		}
	}
	// Tokens: BOS + words + EOS.
	if train[0].Tokens != 12 || train[3].Tokens != 6 {
		t.Errorf("tokens %d %d", train[0].Tokens, train[3].Tokens)
	}
	if st.Chunked != 1 || st.Chunks != 4 || st.RowsOut != 5 {
		t.Errorf("stats %+v", st)
	}
}

func TestSplitAndDrops(t *testing.T) {
	t.Parallel()
	var recs []record.Record
	for i := range 50 {
		recs = append(recs, record.Record{Format: record.Alpaca, Instruction: fmt.Sprintf("question %d", i), Output: fmt.Sprintf("answer number %d", i)})
	}
	recs = append(recs,
		record.Record{Format: record.Alpaca, Instruction: "question 0", Output: "answer number 0"},            // duplicate
		record.Record{Format: record.Alpaca, Instruction: "empty", Output: "  "},                              // empty
		record.Record{Format: record.Alpaca, Instruction: "gone", Missing: []string{"output"}},                // missing
		record.Record{Format: record.Alpaca, Instruction: strings.Repeat("long ", 100), Output: "x"},          // too long
		record.Record{Format: record.Alpaca, Instruction: "mail me", Output: "at someone@example.com please"}, // redacted
	)
	p := writeRecords(t, recs)
	o := Options{Tokenizer: newWords(), Template: template.Alpaca, Dedup: "exact", MaxTokens: 60, ValidationSplit: 0.2, Seed: 9, RedactPII: true, AppendEOS: true}
	st, train, val := runPrep(t, p, record.Alpaca, o)
	want := map[string]int{DropDuplicate: 1, DropEmpty: 1, DropMissing: 1, DropTooLong: 1}
	for k, n := range want {
		if st.Dropped[k] != n {
			t.Errorf("dropped %v, want %v", st.Dropped, want)
			break
		}
	}
	if st.RowsIn != 55 || st.RowsOut != 51 || len(val) != 10 || len(train) != 41 || st.Redacted["email"] != 1 {
		t.Errorf("stats %+v, %d train %d validation", st, len(train), len(val))
	}
	found := false
	for _, r := range append(train, val...) {
		if strings.Contains(r.Text, "[EMAIL]") {
			found = true
		}
		if strings.Contains(r.Text, "someone@") {
			t.Error("e-mail not redacted")
		}
	}
	if !found {
		t.Error("no [EMAIL] placeholder")
	}
	// The same seed selects the same rows; the split keeps source order.
	_, train2, val2 := runPrep(t, p, record.Alpaca, o)
	if fmt.Sprint(val) != fmt.Sprint(val2) || fmt.Sprint(train) != fmt.Sprint(train2) {
		t.Error("split not reproducible")
	}
	for i := 1; i < len(val); i++ {
		if val[i].Line <= val[i-1].Line {
			t.Errorf("validation rows out of order: %d after %d", val[i].Line, val[i-1].Line)
		}
	}
	// Tiny datasets: one row gets no validation split, two rows get one.
	for n, wantVal := range map[int]int{1: 0, 2: 1} {
		_, tr, va := runPrep(t, writeRecords(t, recs[:n]), record.Alpaca, Options{Template: template.None, ValidationSplit: 0.1, Seed: 1})
		if len(va) != wantVal || len(tr) != n-wantVal {
			t.Errorf("%d rows: %d train %d validation", n, len(tr), len(va))
		}
	}
}
