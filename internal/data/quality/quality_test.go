package quality

import (
	"strings"
	"testing"
)

func TestNonPrintable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s        string
		n, first int
	}{
		{"plain text\twith tab\nand newline\r\n", 0, -1},
		{"bell\x07 and esc\x1b", 2, 4},
		{"del\x7f", 1, 3},
		{"c1 \u0085 next line", 1, 3},
		{"café — ok", 0, -1},
	}
	for _, tt := range tests {
		if n, first := NonPrintable(tt.s); n != tt.n || first != tt.first {
			t.Errorf("NonPrintable(%q) = %d, %d; want %d, %d", tt.s, n, first, tt.n, tt.first)
		}
	}
}

func TestMojibake(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s string
		n int
	}{
		{"CafÃ© and itâ€™s", 2},              // "Café and it’s" decoded as Windows-1252
		{"naÃ¯ve rÃ©sumÃ©", 3},               // "naïve résumé"
		{"price\u00c2\u00a010", 1},           // no-break space as Latin-1
		{"broken \ufffd char", 1},            // replacement character
		{"Café, naïve, résumé, Ærø, ÀÉÎ", 0}, // correct accented text
		{"Ça va? À bientôt. Ñandú.", 0},
		{"Straße – “quoted” — ok…", 0},
	}
	for _, tt := range tests {
		if n, _ := Mojibake(tt.s); n != tt.n {
			t.Errorf("Mojibake(%q) = %d, want %d", tt.s, n, tt.n)
		}
	}
}

func TestRepetition(t *testing.T) {
	t.Parallel()
	varied := "The quick brown fox jumps over the lazy dog while the cat sleeps on a warm mat near the old door of a small house"
	if r := Repetition(varied, 3, 10); r != 0 {
		t.Errorf("varied text repetition %v", r)
	}
	loop := strings.Repeat("I am a helpful assistant. ", 20)
	if r := Repetition(loop, 3, 10); r < 0.9 {
		t.Errorf("looping text repetition %v", r)
	}
	half := varied + " " + varied
	if r := Repetition(half, 3, 10); r < 0.45 || r > 0.55 {
		t.Errorf("doubled text repetition %v", r)
	}
	if r := Repetition("too short too short", 3, 10); r != 0 {
		t.Errorf("short text repetition %v", r)
	}
}
