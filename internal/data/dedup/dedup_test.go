package dedup

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// randWords returns n pseudo-random words.
func randWords(r *rand.Rand, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("w%d", r.IntN(5000))
	}
	return out
}

// jaccard is the exact Jaccard similarity of the word 3-gram sets.
func jaccard(a, b string) float64 {
	set := func(s string) map[string]bool {
		f := strings.Fields(strings.ToLower(s))
		m := map[string]bool{}
		for i := 0; i+3 <= len(f); i++ {
			m[strings.Join(f[i:i+3], " ")] = true
		}
		return m
	}
	x, y := set(a), set(b)
	inter := 0
	for k := range x {
		if y[k] {
			inter++
		}
	}
	return float64(inter) / float64(len(x)+len(y)-inter)
}

func TestSignatureEstimatesJaccard(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	mh := NewMinHash(256, 7)
	for _, edits := range []int{0, 5, 20, 60, 150} {
		base := randWords(r, 200)
		mod := append([]string(nil), base...)
		for i := 0; i < edits; i++ {
			mod[r.IntN(len(mod))] = fmt.Sprintf("x%d", r.IntN(1000))
		}
		a, b := strings.Join(base, " "), strings.Join(mod, " ")
		want := jaccard(a, b)
		got := Similarity(mh.Signature(a, nil), mh.Signature(b, nil))
		// Standard error of the estimate is sqrt(J(1-J)/256) <= 0.031.
		if math.Abs(got-want) > 0.1 {
			t.Errorf("edits %d: estimate %.3f, exact %.3f", edits, got, want)
		}
	}
	// Case and punctuation do not matter.
	if s := Similarity(mh.Signature("Hello, World! How are you?", nil), mh.Signature("hello world how are you", nil)); s != 1 {
		t.Errorf("similarity %v", s)
	}
}

func TestBands(t *testing.T) {
	t.Parallel()
	for _, perms := range []int{64, 128, 256} {
		for _, th := range []float64{0.5, 0.7, 0.8, 0.9, 0.95} {
			b, r := Bands(th, perms)
			if b*r > perms || b < 1 || r < 1 {
				t.Fatalf("threshold %v: %d x %d", th, b, r)
			}
			// A pair at the threshold becomes a candidate and passes
			// verification with probability ≥ MinRecall.
			lsh, verify := Recall(th, b, r), verifyPass(th, Cutoff(th, perms), perms)
			if lsh*verify < MinRecall-0.01 {
				t.Errorf("perms %d threshold %v: bands %d rows %d: recall at threshold %.3f × %.3f", perms, th, b, r, lsh, verify)
			}
			// Far below the threshold, pairs are rarely candidates (at
			// low thresholds the recall floor makes many: verification
			// sorts them out).
			if fp := Recall(th/2, b, r); th >= 0.8 && fp > 0.15 {
				t.Errorf("perms %d threshold %v: bands %d rows %d: candidate probability %.3f at %.2f", perms, th, b, r, fp, th/2)
			}
		}
	}
	// The old choice (minimum fp+fn mass without the recall floor) at 0.9
	// and 64 bins was 3 bands of 21 rows: recall at the threshold 0.29.
	if p := Recall(0.9, 3, 21); p > 0.3 {
		t.Errorf("old bands: %.3f", p)
	}
}

func TestNearAndExact(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	var texts []string
	var wantNear, wantExact []int // rows planted as duplicates
	for i := 0; i < 300; i++ {
		texts = append(texts, strings.Join(randWords(r, 80), " "))
	}
	// 20 exact copies, 20 near copies (1 word of 80 changed: Jaccard
	// ~0.93), 20 distant edits (30 words changed: Jaccard ~0.3).
	for i := 0; i < 20; i++ {
		texts = append(texts, texts[i])
		wantExact = append(wantExact, len(texts)-1)
		f := strings.Fields(texts[100+i])
		f[40] = "changed"
		texts = append(texts, strings.Join(f, " "))
		wantNear = append(wantNear, len(texts)-1)
		g := strings.Fields(texts[200+i])
		for k := 0; k < 30; k++ {
			g[k*2+10] = fmt.Sprintf("edit%d", k)
		}
		texts = append(texts, strings.Join(g, " "))
	}
	ex := NewExact()
	near, err := NewNear(0.8, 128, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer near.Close()
	var gotExact, gotNear []int
	for i, s := range texts {
		if first := ex.Add(s, i); first >= 0 {
			gotExact = append(gotExact, i)
			if texts[first] != s {
				t.Fatalf("row %d: exact match %d differs", i, first)
			}
		}
		m, sim, err := near.Add(s)
		if err != nil {
			t.Fatal(err)
		}
		if m >= 0 && texts[m] != s {
			gotNear = append(gotNear, i)
			if j := jaccard(texts[m], s); j < 0.7 {
				t.Errorf("row %d ~ row %d: estimated %.2f, exact %.2f", i, m, sim, j)
			}
		}
	}
	if fmt.Sprint(gotExact) != fmt.Sprint(wantExact) {
		t.Errorf("exact duplicates %v, want %v", gotExact, wantExact)
	}
	if fmt.Sprint(gotNear) != fmt.Sprint(wantNear) {
		t.Errorf("near duplicates %v, want %v", gotNear, wantNear)
	}
	if m, _, _ := near.Add(""); m != -1 {
		t.Error("empty text matched")
	}
	if _, err := NewNear(1.5, 0, ""); err == nil {
		t.Error("threshold 1.5 accepted")
	}
}

func BenchmarkSignature(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	text := strings.Join(randWords(r, 150), " ")
	mh := NewMinHash(64, 1)
	var sig []uint32
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		sig = mh.Signature(text, sig)
	}
}
