package contam

import (
	"fmt"
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

// TestBoilerplateIgnored: a template's preamble, in every evaluation and
// training row, marks no training row; a row that copies an evaluation
// row's own text still does, preamble or not.
func TestBoilerplateIgnored(t *testing.T) {
	t.Parallel()
	const preamble = "Below is an instruction that describes a task. Write a response that appropriately completes the request. "
	x, err := New(DefaultN)
	if err != nil {
		t.Fatal(err)
	}
	set := x.AddSet("validation")
	content := func(i int) string {
		return fmt.Sprintf("### Instruction: tell story number %d about the dragon %d and the castle %d by the sea %d tonight", i, i, i, i)
	}
	for i := 1; i <= 40; i++ {
		x.Add(set, i, words.Hashes(preamble+content(i), nil))
	}
	if got := Boilerplate(40); got != 2 {
		t.Errorf("Boilerplate(40) = %d, want 2", got)
	}
	if n := x.BoilerplateNgrams(); n < 5 {
		t.Errorf("%d boilerplate n-grams, want the preamble's (≥ 5)", n)
	}
	var scratch []uint64
	// Same template, same first words of the instruction, other content.
	if ref, shared, ok := x.Match(words.Hashes(preamble+"### Instruction: tell story number 5000 of a knight who never slept at all", nil), &scratch); ok {
		t.Errorf("a row sharing the template and its first words matched evaluation row %d on %d n-grams", ref.Row, shared)
	}
	for i := 100; i < 140; i++ { // other content, same template
		if ref, shared, ok := x.Match(words.Hashes(preamble+content(i), nil), &scratch); ok {
			t.Fatalf("training row %d matched evaluation row %d on %d n-grams of the template", i, ref.Row, shared)
		}
	}
	ref, _, ok := x.Match(words.Hashes(preamble+content(7), nil), &scratch)
	if !ok || ref.Row != 7 {
		t.Errorf("a copy of evaluation row 7: match %v %+v", ok, ref)
	}
	// Two evaluation rows sharing text is not boilerplate: still matched.
	y, _ := New(8)
	s := y.AddSet("eval")
	dup := "the quick brown fox jumps over the lazy dog and keeps running far away"
	y.Add(s, 1, words.Hashes(dup, nil))
	y.Add(s, 2, words.Hashes(dup, nil))
	for i := 3; i <= 10; i++ {
		y.Add(s, i, words.Hashes(fmt.Sprintf("row %d has nothing in common with any other row %d at all", i, i), nil))
	}
	if ref, _, ok := y.Match(words.Hashes(dup, nil), &scratch); !ok || ref.Row != 1 {
		t.Errorf("a row duplicated in the evaluation set: match %v %+v, want row 1", ok, ref)
	}
}
