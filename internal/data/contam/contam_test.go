package contam

import (
	"testing"

	"github.com/whetstone/whetstone/internal/data/words"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	if _, err := New(7); err == nil {
		t.Error("n-gram 7 accepted")
	}
	x, err := New(8)
	if err != nil {
		t.Fatal(err)
	}
	set := x.AddSet("eval")
	long := "the quick brown fox jumps over the lazy dog and keeps running far away"
	x.Add(set, 1, words.Hashes(long, nil))
	x.Add(set, 2, words.Hashes("What is two plus two?", nil)) // 5 words: whole row
	var scratch []uint64
	for _, c := range []struct {
		text string
		row  int
	}{
		{"Yesterday THE quick brown fox, jumps over the lazy dog! Really.", 1}, // 8-gram inside, case and punctuation ignored
		{"the quick brown fox jumps over a lazy dog", 0},                       // 6 shared words at most
		{"what is two plus two", 2},                                            // exact short copy
		{"so what is two plus two then", 0},                                    // short row inside a longer one: not matched
		{"yes", 0},
	} {
		ref, _, ok := x.Match(words.Hashes(c.text, nil), &scratch)
		if ok != (c.row > 0) || (ok && ref.Row != c.row) {
			t.Errorf("%q: match %v %+v, want row %d", c.text, ok, ref, c.row)
		}
	}
}
