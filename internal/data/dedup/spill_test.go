package dedup

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// TestSpillSameAnswers checks that Exact and Near give the same answers
// (row, first row, similarity) after Spill as in memory, whenever Spill is
// called, and that their temporary files are gone after Close.
func TestSpillSameAnswers(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 8))
	var texts []string
	for i := 0; i < 2000; i++ {
		switch {
		case i > 10 && i%9 == 0: // exact copy of an earlier row
			texts = append(texts, texts[r.IntN(i)])
		case i > 10 && i%7 == 0: // near copy of an earlier row
			f := strings.Fields(texts[r.IntN(i)])
			if len(f) > 0 {
				f[r.IntN(len(f))] = "changed"
			}
			texts = append(texts, strings.Join(f, " "))
		case i%50 == 0:
			texts = append(texts, "")
		default:
			texts = append(texts, strings.Join(randWords(r, 20+r.IntN(60)), " "))
		}
	}
	type hit struct {
		row, first int
		sim        float64
	}
	answers := func(spillAt int, dir string) (exact, near []hit) {
		ex := NewExact()
		defer ex.Close()
		nr, err := NewNear(0.7, 64, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer nr.Close()
		for i, s := range texts {
			if i == spillAt {
				if err := ex.Spill(dir); err != nil {
					t.Fatal(err)
				}
				if err := nr.Spill(dir); err != nil {
					t.Fatal(err)
				}
				if ex.Bytes() != 0 || nr.Bytes() != 0 {
					t.Errorf("spilled indexes hold %d and %d bytes", ex.Bytes(), nr.Bytes())
				}
			}
			if f := ex.Add(s, i+1); f >= 0 {
				exact = append(exact, hit{i + 1, f, 0})
			}
			m, sim, err := nr.Add(s)
			if err != nil {
				t.Fatal(err)
			}
			if m >= 0 {
				near = append(near, hit{i, m, sim})
			}
		}
		if spillAt < 0 && (ex.Bytes() == 0 || nr.Bytes() == 0) {
			t.Errorf("in-memory indexes report %d and %d bytes", ex.Bytes(), nr.Bytes())
		}
		if err := ex.Resolve(func(row, first int) { exact = append(exact, hit{row, first, 0}) }); err != nil {
			t.Fatal(err)
		}
		if err := nr.Resolve(func(row, first int, sim float64) { near = append(near, hit{row, first, sim}) }); err != nil {
			t.Fatal(err)
		}
		return exact, near
	}
	wantExact, wantNear := answers(-1, t.TempDir())
	if len(wantExact) < 100 || len(wantNear) < 100 {
		t.Fatalf("only %d exact and %d near duplicates", len(wantExact), len(wantNear))
	}
	for _, at := range []int{0, 1, 500, 1999} {
		dir := t.TempDir()
		gotExact, gotNear := answers(at, dir)
		if fmt.Sprint(gotExact) != fmt.Sprint(wantExact) {
			t.Errorf("spilled at %d: exact\n%v\nwant\n%v", at, gotExact, wantExact)
		}
		if fmt.Sprint(gotNear) != fmt.Sprint(wantNear) {
			t.Errorf("spilled at %d: near\n%v\nwant\n%v", at, gotNear, wantNear)
		}
		if left, _ := os.ReadDir(dir); len(left) > 0 {
			t.Errorf("spilled at %d: files left %v", at, left)
		}
	}
}
