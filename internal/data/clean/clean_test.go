package clean

import "testing"

func TestText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		o              Options
	}{
		{"nfc", "cafe\u0301", "café", Options{NFC: true}},
		{"control", "a\x00b\x07c\td\u0085e\n", "abc\tde\n", Options{Control: true}},
		{"whitespace", "  hello \u00a0world  \r\n\r\n\r\n\r\nnext\u200b line\t\n    indented\n", "hello  world\n\nnext line\n    indented", Options{Whitespace: true}},
		{"html", "<p>Hello &amp; <b>welcome</b></p><script>var x = 1;</script><ul><li>one</li><li>two</li></ul>", "Hello & welcome\n\none\ntwo", Options{HTML: true, Whitespace: true}},
		{"html kept when not html", "if a < b && c > d { x := 1 }", "if a < b && c > d { x := 1 }", Options{HTML: true}},
		{"code with generic", "use <p> tags: List<String> x", "use \n tags: List<String> x", Options{HTML: true}},
		{"all", "  Cafe\u0301\x01  \r\n", "Café", Defaults()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var st Stats
			if got := Text(tt.in, tt.o, &st); got != tt.want {
				t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	var st Stats
	Text("cafe\u0301 ", Defaults(), &st)
	Text("clean", Defaults(), &st)
	if st != (Stats{NFC: 1, Whitespace: 1}) {
		t.Errorf("stats %+v", st)
	}
}

func FuzzWhitespace(f *testing.F) {
	f.Add("  a \r\n\n\n\nb\u00a0c\u200b ")
	f.Add("clean text\nwith lines\n\nand paragraphs")
	f.Fuzz(func(t *testing.T, s string) {
		w := Whitespace(s)
		if Whitespace(w) != w {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, w, Whitespace(w))
		}
		if !needsWhitespace(s) && whitespace(s) != s {
			t.Fatalf("fast path missed a change: %q -> %q", s, whitespace(s))
		}
	})
}
