package api

import (
	"strings"
	"testing"
)

func TestCapText(t *testing.T) {
	for _, c := range []struct {
		name string
		in   any
		want any
	}{
		{"short", "abc", "abc"},
		{"exactly the cap", strings.Repeat("é", 200), strings.Repeat("é", 200)},
		{"characters, not bytes", strings.Repeat("é", 201), strings.Repeat("é", 200) + "… (201 characters)"},
		{"number", 12, 12},
		{"short list", []string{"a", "b"}, []string{"a", "b"}},
		{"long list", []string{strings.Repeat("y", 300)}, `["` + strings.Repeat("y", 198) + "… (304 characters)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := capValue(c.in)
			if s, ok := c.want.(string); ok && got != s {
				t.Errorf("capValue = %q, want %q", got, s)
			}
			if l, ok := c.want.([]string); ok && strings.Join(got.([]string), ",") != strings.Join(l, ",") {
				t.Errorf("capValue = %v, want %v", got, l)
			}
			if n, ok := c.want.(int); ok && got != n {
				t.Errorf("capValue = %v, want %v", got, n)
			}
		})
	}
}
