package preprocess

import (
	"strings"
	"testing"
)

func TestDropWarning(t *testing.T) {
	for _, tc := range []struct {
		in      int
		dropped map[string]int
		want    string
	}{
		{1000, map[string]int{"too_long": 730, "duplicate": 2}, "dropped 732 of 1000 rows (73%), most as too_long (730); raise max_tokens"},
		{1000, map[string]int{"too_long": 100, "duplicate": 100}, "dropped 200 of 1000 rows (20%), most as duplicate (100); set dedup: none"},
		{1000, map[string]int{"too_long": 100}, ""},
		{0, nil, ""},
	} {
		got := dropWarning(tc.in, tc.dropped)
		if (tc.want == "") != (got == "") || !strings.HasPrefix(got, tc.want) {
			t.Errorf("dropWarning(%d, %v) = %q, want prefix %q", tc.in, tc.dropped, got, tc.want)
		}
	}
}
