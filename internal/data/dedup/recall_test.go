package dedup

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/data/datatest"
	"github.com/whetstone/whetstone/internal/data/words"
)

// recallSets are the shared real datasets the near-duplicate recall is
// measured on (rows: all string fields of a record joined by newlines).
var recallSets = []string{
	"llama-factory/alpaca_en_demo.json",
	"llama-factory/glaive_toolcall_en_demo.json",
	"llama-factory/c4_demo.jsonl",
	"llama-factory/wiki_demo.txt",
	"torchtune/alpaca_tiny.json",
	"torchtune/chat_tiny.json",
}

// loadTexts reads up to max rows of a dataset as texts.
func loadTexts(tb testing.TB, rel string, max int) []string {
	tb.Helper()
	path := datatest.Dataset(tb, rel)
	var out []string
	add := func(s string) {
		if len(out) < max && len(strings.Fields(s)) >= 8 {
			out = append(out, s)
		}
	}
	var flat func(v any, b *strings.Builder)
	flat = func(v any, b *strings.Builder) {
		switch v := v.(type) {
		case string:
			b.WriteString(v)
			b.WriteByte('\n')
		case []any:
			for _, x := range v {
				flat(x, b)
			}
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				flat(v[k], b)
			}
		}
	}
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	switch {
	case strings.HasSuffix(path, ".txt"):
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			add(sc.Text())
		}
	case strings.HasSuffix(path, ".jsonl"):
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			var v any
			if json.Unmarshal(sc.Bytes(), &v) == nil {
				var b strings.Builder
				flat(v, &b)
				add(b.String())
			}
		}
	default:
		var rows []any
		if err := json.NewDecoder(f).Decode(&rows); err != nil {
			tb.Fatal(err)
		}
		for _, r := range rows {
			var b strings.Builder
			flat(r, &b)
			add(b.String())
		}
	}
	return out
}

// Edit kinds planted into copies of real rows.
var editKinds = []string{"changed_word", "punctuation", "truncated_tail", "reordered_sentence"}

// plant returns text with one edit of the kind, or "" when the text has no
// room for it (a reordering needs two sentences).
func plant(r *rand.Rand, kind, text string) string {
	f := strings.Fields(text)
	switch kind {
	case "changed_word":
		f[len(f)/4+r.IntN(len(f)/2)] = "zzyzx"
	case "punctuation":
		i := r.IntN(len(f))
		f[i] += ","
		if j := r.IntN(len(f)); strings.HasSuffix(f[j], ".") {
			f[j] = strings.TrimSuffix(f[j], ".") + "!"
		}
	case "truncated_tail":
		f = f[:len(f)-max(1, len(f)/20)]
	case "reordered_sentence":
		var sents []string
		start := 0
		for i, w := range f {
			if strings.HasSuffix(w, ".") || strings.HasSuffix(w, "?") || strings.HasSuffix(w, "!") || i == len(f)-1 {
				sents = append(sents, strings.Join(f[start:i+1], " "))
				start = i + 1
			}
		}
		if len(sents) < 2 {
			return ""
		}
		i := r.IntN(len(sents) - 1)
		sents[i], sents[i+1] = sents[i+1], sents[i]
		return strings.Join(sents, " ")
	}
	return strings.Join(f, " ")
}

// shingleSet is the sorted, deduplicated n-gram hashes of text.
func shingleSet(text string, n int) []uint64 {
	s := Shingles(words.Hashes(text, nil), n, nil)
	slices.Sort(s)
	return slices.Compact(s)
}

func exactJaccard(a, b []uint64) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	i, j, inter := 0, 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			inter++
			i++
			j++
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return float64(inter) / float64(len(a)+len(b)-inter)
}

// recallRow is one line of the recall table.
type recallRow struct {
	set, kind               string
	planted, truePos, found int // planted copies; those at or above the threshold; of those, found
	reported, correct       int // rows reported as near duplicates (of this kind); with exact Jaccard ≥ threshold
	edge, edgeFound         int // true positives with exact Jaccard in [threshold, threshold+0.05)
}

// measureRecall plants each edit kind into copies of the rows, adds
// originals then copies to a Near index, and compares what it reports with
// brute-force exact Jaccard over the same shingles.
func measureRecall(tb testing.TB, set string, texts []string, threshold float64, perms, shingle int) []recallRow {
	r := rand.New(rand.NewPCG(16, uint64(len(texts))))
	all := append([]string(nil), texts...)
	kind := make([]int, len(texts)) // -1 original
	for i := range kind {
		kind[i] = -1
	}
	for _, t := range texts {
		for k, name := range editKinds {
			if e := plant(r, name, t); e != "" {
				all = append(all, e)
				kind = append(kind, k)
			}
		}
	}
	sets := make([][]uint64, len(all))
	for i, t := range all {
		sets[i] = shingleSet(t, shingle)
	}
	// bestEarlier[i]: whether an earlier row has exact Jaccard ≥ threshold.
	truth := make([]bool, len(all))
	best := make([]float64, len(all)) // highest exact Jaccard with an earlier row
	for i := range all {
		for j := 0; j < i; j++ {
			a, b := len(sets[i]), len(sets[j])
			if float64(min(a, b)) < threshold*float64(max(a, b)) {
				continue // Jaccard ≤ min/max
			}
			best[i] = max(best[i], exactJaccard(sets[i], sets[j]))
		}
		truth[i] = best[i] >= threshold
	}
	near, err := NewNearShingle(threshold, perms, shingle, tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	defer near.Close()
	rows := make([]recallRow, len(editKinds)+1)
	for k := range rows {
		rows[k] = recallRow{set: set, kind: "original"}
		if k < len(editKinds) {
			rows[k].kind = editKinds[k]
		}
	}
	for i, t := range all {
		m, _, err := near.Add(t)
		if err != nil {
			tb.Fatal(err)
		}
		row := &rows[len(editKinds)]
		if kind[i] >= 0 {
			row = &rows[kind[i]]
			row.planted++
		}
		if truth[i] {
			row.truePos++
			if m >= 0 {
				row.found++
			}
			if best[i] < threshold+0.05 {
				row.edge++
				if m >= 0 {
					row.edgeFound++
				}
			}
		}
		if m >= 0 {
			row.reported++
			if exactJaccard(sets[i], sets[m]) >= threshold {
				row.correct++
			}
		}
	}
	return rows
}

func (r recallRow) recall() float64 {
	if r.truePos == 0 {
		return 1
	}
	return float64(r.found) / float64(r.truePos)
}

func (r recallRow) precision() float64 {
	if r.reported == 0 {
		return 1
	}
	return float64(r.correct) / float64(r.reported)
}

// TestNearRecall measures recall and precision of near-duplicate detection
// at the default settings against brute-force exact Jaccard on the shared
// datasets with planted edits, and prints the table in docs/data.md
// (go test ./internal/data/dedup -run TestNearRecall -v).
func TestNearRecall(t *testing.T) {
	t.Parallel()
	limit := 400
	if testing.Short() {
		limit = 120
	}
	var total [5]recallRow
	for k := range total {
		total[k].set = "all"
		if k < len(editKinds) {
			total[k].kind = editKinds[k]
		} else {
			total[k].kind = "original"
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "threshold %.2f, %d bins, word %d-grams\n| dataset | edit | planted | ≥ threshold | found | recall | at threshold (+0.05) found | reported | precision |\n|---|---|---|---|---|---|---|---|---|\n",
		DefaultThreshold, DefaultPerms, DefaultShingle)
	for _, set := range recallSets {
		texts := loadTexts(t, set, limit)
		for k, row := range measureRecall(t, set, texts, DefaultThreshold, DefaultPerms, DefaultShingle) {
			tot := &total[k]
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %.3f | %d of %d | %d | %.3f |\n", set, row.kind, row.planted, row.truePos, row.found, row.recall(), row.edgeFound, row.edge, row.reported, row.precision())
			tot.edge += row.edge
			tot.edgeFound += row.edgeFound
			tot.planted += row.planted
			tot.truePos += row.truePos
			tot.found += row.found
			tot.reported += row.reported
			tot.correct += row.correct
		}
	}
	for _, row := range total {
		fmt.Fprintf(&b, "| **all** | %s | %d | %d | %d | **%.3f** | %d of %d | %d | **%.3f** |\n", row.kind, row.planted, row.truePos, row.found, row.recall(), row.edgeFound, row.edge, row.reported, row.precision())
		if row.edge > 0 && float64(row.edgeFound) < 0.9*float64(row.edge) {
			t.Errorf("%s: found %d of %d pairs within 0.05 above the threshold", row.kind, row.edgeFound, row.edge)
		}
		if row.kind != "original" && row.recall() < MinRecall {
			t.Errorf("%s: recall %.3f < %.2f (%d of %d)", row.kind, row.recall(), MinRecall, row.found, row.truePos)
		}
		if row.precision() < 0.9 {
			t.Errorf("%s: precision %.3f", row.kind, row.precision())
		}
	}
	t.Log("\n" + b.String())
}

// TestShingleChoice measures, for the candidate defaults (word 3- or
// 5-grams, threshold 0.7/0.8/0.9), what share of planted one-edit copies of
// real rows reach the threshold by exact Jaccard, i.e. could be caught at
// all (go test ./internal/data/dedup -run TestShingleChoice -v).
func TestShingleChoice(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	var b strings.Builder
	b.WriteString("| shingle | edit | J ≥ 0.7 | J ≥ 0.8 | J ≥ 0.9 | median J |\n|---|---|---|---|---|---|\n")
	var texts []string
	for _, set := range recallSets[:5] {
		texts = append(texts, loadTexts(t, set, 200)...)
	}
	for _, n := range []int{3, 5} {
		for _, kind := range editKinds {
			var js []float64
			for _, tx := range texts {
				if e := plant(r, kind, tx); e != "" {
					js = append(js, exactJaccard(shingleSet(tx, n), shingleSet(e, n)))
				}
			}
			slices.Sort(js)
			share := func(th float64) float64 {
				i, _ := slices.BinarySearch(js, th)
				return float64(len(js)-i) / float64(len(js))
			}
			fmt.Fprintf(&b, "| %d | %s | %.3f | %.3f | %.3f | %.3f |\n", n, kind, share(0.7), share(0.8), share(0.9), js[len(js)/2])
		}
	}
	t.Log("\n" + b.String())
}
