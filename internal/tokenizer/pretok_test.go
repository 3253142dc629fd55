package tokenizer

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func splitAll(sp splitter, s string) []string {
	out := []string{}
	for i := 0; i < len(s); {
		j := sp(s, i)
		if j <= i {
			panic("splitter made no progress")
		}
		out = append(out, s[i:j])
		i = j
	}
	return out
}

func regexSplitAll(tb testing.TB, pattern, s string) []string {
	tb.Helper()
	r, err := newRegexSplitter(pattern)
	if err != nil {
		tb.Fatal(err)
	}
	out := []string{}
	prev := 0
	for _, m := range r.matches(s) {
		if m[0] > prev {
			out = append(out, s[prev:m[0]]) // gaps (none expected for these patterns)
		}
		out = append(out, s[m[0]:m[1]])
		prev = m[1]
	}
	if prev < len(s) {
		out = append(out, s[prev:])
	}
	return out
}

var patterns = map[string]string{"gpt2": gpt2Pattern, "llama3": llama3Pattern, "qwen2": qwen2Pattern}

// TestSplitterCases pins the (?!\S) lookahead semantics on whitespace runs and digits.
func TestSplitterCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, in string
		want        []string
	}{
		// \s+(?!\S): a run of spaces before a word leaves its last space to the word.
		{"gpt2", "a   b", []string{"a", "  ", " b"}},
		{"gpt2", "a b", []string{"a", " b"}},
		{"gpt2", "a   ", []string{"a", "   "}},
		{"gpt2", "   ", []string{"   "}},
		{"gpt2", "a\n\n b", []string{"a", "\n\n", " b"}},
		{"gpt2", "a\tb", []string{"a", "\t", "b"}},
		{"gpt2", "a \t b", []string{"a", " \t", " b"}},
		{"gpt2", "x  \u3000y", []string{"x", "  ", "\u3000", "y"}},
		{"gpt2", "1234567 89", []string{"1234567", " 89"}},
		{"gpt2", "it's 'S", []string{"it", "'s", " '", "S"}},
		{"gpt2", "?! ...", []string{"?!", " ..."}},
		{"llama3", "1234567", []string{"123", "456", "7"}},
		{"llama3", "a1234 5", []string{"a", "123", "4", " ", "5"}},
		{"llama3", "x  \n\n  y", []string{"x", "  \n\n", " ", " y"}},
		{"llama3", "a \n", []string{"a", " \n"}},
		{"llama3", "a   b", []string{"a", "  ", " b"}},
		{"llama3", "a\tb", []string{"a", "\tb"}},
		{"llama3", "a\nb", []string{"a", "\n", "b"}},
		{"llama3", "IT'S x'LL", []string{"IT", "'S", " x", "'LL"}},
		{"llama3", "foo.bar", []string{"foo", ".bar"}},
		{"llama3", "{\n\t}\r\n", []string{"{\n", "\t", "}\r\n"}},
		{"llama3", "  ", []string{"  "}},
		{"qwen2", "2024-01-15", []string{"2", "0", "2", "4", "-", "0", "1", "-", "1", "5"}},
		{"qwen2", "x ½²", []string{"x", " ", "½", "²"}},
		{"qwen2", "١٢٣", []string{"١", "٢", "٣"}},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+"/"+tc.in, func(t *testing.T) {
			got := splitAll(knownSplitter(patterns[tc.pattern]), tc.in)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("hand-written (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, regexSplitAll(t, patterns[tc.pattern], tc.in)); diff != "" {
				t.Errorf("regexp2 (-want +got):\n%s", diff)
			}
		})
	}
}

// splitAlphabet mixes the characters the patterns treat differently.
var splitAlphabet = []string{" ", " ", " ", "\n", "\r", "\t", "\u00a0", "\u3000", "a", "Z", "é", "e\u0301", "ß", "中",
	"1", "7", "²", "١", "Ⅻ", "'", "s", "S", "t", "re", "VE", "ll", "d", "m", ".", ",", "!", "_", "-", "😀", "\u200d", "#", "\"", "<"}

// TestSplitterMatchesRegexp2 compares the hand-written splitters with regexp2 on random strings.
func TestSplitterMatchesRegexp2(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for name, pat := range patterns {
		sp := knownSplitter(pat)
		for range 3000 {
			var sb strings.Builder
			for range rng.IntN(24) {
				sb.WriteString(splitAlphabet[rng.IntN(len(splitAlphabet))])
			}
			s := sb.String()
			if diff := cmp.Diff(regexSplitAll(t, pat, s), splitAll(sp, s)); diff != "" {
				t.Fatalf("%s on %q (-regexp2 +hand-written):\n%s", name, s, diff)
			}
		}
	}
}

func FuzzSplitters(f *testing.F) {
	for _, s := range []string{"a   b", "x  \n\n  y", "1234567", "it's", "\t\t\n", "😀 ١٢٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8Valid(s) {
			return
		}
		for name, pat := range patterns {
			if diff := cmp.Diff(regexSplitAll(t, pat, s), splitAll(knownSplitter(pat), s)); diff != "" {
				t.Fatalf("%s on %q (-regexp2 +hand-written):\n%s", name, s, diff)
			}
		}
	})
}
