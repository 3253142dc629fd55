package eval

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// reference is testdata/reference.json, written by testdata/make_reference.py
// from NLTK (BLEU), the official SQuAD script (exact match, token F1) and
// scikit-learn (accuracy, macro-F1).
type reference struct {
	Pairs []struct {
		Pred, Ref    string
		ExactMatch   float64 `json:"exact_match"`
		TokenF1      float64 `json:"token_f1"`
		SentenceBLEU float64 `json:"sentence_bleu"`
	}
	Corpus struct {
		Preds, Refs []string
		BLEU        float64
	}
	Labels []struct {
		Pred, Ref []string
		Accuracy  float64
		MacroF1   float64 `json:"macro_f1"`
	}
}

func loadReference(t testing.TB) reference {
	t.Helper()
	b, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var r reference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("testdata/reference.json: %v", err)
	}
	if len(r.Pairs) == 0 || len(r.Labels) == 0 {
		t.Fatal("testdata/reference.json: no cases")
	}
	return r
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9 }

func TestAgainstReference(t *testing.T) {
	t.Parallel()
	ref := loadReference(t)
	for _, c := range ref.Pairs {
		if got := ExactMatch(c.Pred, c.Ref); !near(got, c.ExactMatch) {
			t.Errorf("ExactMatch(%q, %q) = %v, SQuAD script says %v", c.Pred, c.Ref, got, c.ExactMatch)
		}
		if got := TokenF1(c.Pred, c.Ref); !near(got, c.TokenF1) {
			t.Errorf("TokenF1(%q, %q) = %v, SQuAD script says %v", c.Pred, c.Ref, got, c.TokenF1)
		}
		if got := SentenceBLEU(c.Pred, c.Ref); !near(got, c.SentenceBLEU) {
			t.Errorf("SentenceBLEU(%q, %q) = %v, NLTK says %v", c.Pred, c.Ref, got, c.SentenceBLEU)
		}
	}
	if got := CorpusBLEU(ref.Corpus.Preds, ref.Corpus.Refs); !near(got, ref.Corpus.BLEU) {
		t.Errorf("CorpusBLEU = %v, NLTK says %v", got, ref.Corpus.BLEU)
	}
	for _, c := range ref.Labels {
		if got := Accuracy(c.Pred, c.Ref); !near(got, c.Accuracy) {
			t.Errorf("Accuracy(%q, %q) = %v, sklearn says %v", c.Pred, c.Ref, got, c.Accuracy)
		}
		if got := MacroF1(c.Pred, c.Ref); !near(got, c.MacroF1) {
			t.Errorf("MacroF1(%q, %q) = %v, sklearn says %v", c.Pred, c.Ref, got, c.MacroF1)
		}
	}
}

// TestRougeL checks ROUGE-L against values worked out by hand from the
// definition (Lin 2004, section 3.1): F = 2PR/(P+R) with P = LCS/|pred| and
// R = LCS/|ref|, tokens as rouge_score makes them.
func TestRougeL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		pred, ref string
		want      float64
	}{
		// Lin's example: LCS "police the gunman" = 3 of 4 both ways.
		{"lin S2", "police kill the gunman", "police killed the gunman", 0.75},
		// LCS "the gunman" = 2 of 4 both ways.
		{"lin S3", "the gunman kill police", "police killed the gunman", 0.5},
		// Case and punctuation are separators only: identical tokens.
		{"normalised", "The Cat, sat!", "the cat sat", 1},
		// LCS "a b" = 2; P = 2/2, R = 2/4, F = 2·1·0.5/1.5 = 2/3.
		{"short pred", "a b", "a x b y", 2.0 / 3},
		// LCS "a c e" = 3; P = 3/5, R = 3/3, F = 2·0.6/1.6 = 0.75.
		{"long pred", "a b c d e", "a c e", 0.75},
		// LCS "b d" (or "b c") = 2 of 4 and 3: P = 0.5, R = 2/3, F = 4/7.
		{"crossing", "b d c a", "b c d", 4.0 / 7},
		{"disjoint", "one two", "three four", 0},
		{"empty pred", "", "a", 0},
		{"only punctuation", "!!!", "a", 0},
		// Tokens are a-z0-9 runs: "don't" is "don" "t"; LCS 3 of 3 and 4: F = 6/7.
		{"apostrophe", "don't stop", "don t stop now", 6.0 / 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := RougeL(tt.pred, tt.ref); !near(got, tt.want) {
				t.Errorf("RougeL(%q, %q) = %v, want %v", tt.pred, tt.ref, got, tt.want)
			}
		})
	}
}

// TestTokenF1ByHand checks token F1 on cases worked out from SQuAD's
// definition, independent of the generated reference.
func TestTokenF1ByHand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		pred, ref string
		want      float64
	}{
		// Normalised: "cat sat" vs "cat sat on mat": same 2, P 1, R 0.5: F 2/3.
		{"articles dropped", "The cat sat", "a cat sat on the mat", 2.0 / 3},
		// Bags count multiplicity: pred has "blue" 3×, ref once: same 1, P 1/3, R 1/2: F 0.4.
		{"clipped", "blue blue blue", "sky blue", 0.4},
		{"punctuation removed", "U.S.A.", "usa", 1},
		{"both empty after normalising", "the", "a", 1},
		{"one empty", "", "x", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := TokenF1(tt.pred, tt.ref); !near(got, tt.want) {
				t.Errorf("TokenF1(%q, %q) = %v, want %v", tt.pred, tt.ref, got, tt.want)
			}
		})
	}
}

func TestClassLabel(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"Positive.":            "positive",
		"\n\n  NEGATIVE!\nwhy": "negative",
		"\"neutral\"":          "neutral",
		"":                     "",
		"  \n \n":              "",
	}
	for in, want := range tests {
		if got := ClassLabel(in); got != want {
			t.Errorf("ClassLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBLEUStatsAdd(t *testing.T) {
	t.Parallel()
	ref := loadReference(t)
	var sum BLEUStats
	for i := range ref.Corpus.Preds {
		sum = sum.Add(NewBLEUStats(ref.Corpus.Preds[i], ref.Corpus.Refs[i]))
	}
	if got := sum.Score(false); !near(got, ref.Corpus.BLEU) {
		t.Errorf("summed stats score %v, NLTK corpus_bleu says %v", got, ref.Corpus.BLEU)
	}
}
