package record

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

var decodeSeeds = []string{
	`{"instruction":"Add.","input":"","output":"5","_line":3}`,
	`{"messages":[{"role":"user","content":"hi \"there\"\n\u00e9\ud83d\ude00"},{"role":"assistant","content":"yo"}],"tools":"[]"}`,
	`{"prompt":[{"role":"user","content":"q"}],"chosen":[{"role":"assistant","content":"a"}],"rejected":[],"_missing":["x"]}`,
	`{"prompt":"p","completion":"c"}`,
	`{"messages":[],"label":true}`,
	`{"text":null, "label": null}`,
	` { "text" : "a\/b\\c\t" } `,
	`{"Text":"case-insensitive key"}`,
	`{"text":"dup","text":"last wins"}`,
	`{"text":"\ud800 lone surrogate"}`,
	`{"text":"bad` + "\xff" + `"}`,
	`{"_line":1.5}`,
	`{"messages":[{"role":"user","content":"x","extra":1}]}`,
	`{"text":"x"} trailing`,
}

// FuzzDecode checks the hand-written parser against encoding/json.
func FuzzDecode(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, format := range []Format{Alpaca, Messages, Preference, KTO, Text, Completion} {
			var slow Record
			errSlow := decodeJSON(b, format, &slow)
			var fast Record
			if !fastDecode(b, format, &fast) {
				continue
			}
			if errSlow != nil {
				t.Fatalf("%s: fast accepted %q, encoding/json: %v", format, b, errSlow)
			}
			if d := cmp.Diff(slow, fast); d != "" {
				t.Fatalf("%s: %q (-json +fast)\n%s", format, b, d)
			}
		}
	})
}

func TestFastDecodeUsed(t *testing.T) {
	t.Parallel()
	var r Record
	for _, s := range decodeSeeds[:7] {
		if !fastDecode([]byte(s), Messages, &r) {
			t.Errorf("fast path refused %s", s)
		}
	}
}
