package format

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/whetstone/whetstone/internal/data/record"
)

// FuzzNormalize feeds arbitrary JSON objects to detection and normalisation
// of every format: no panics, and every record normalised without error
// survives its canonical encoding.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		`{"instruction": "a", "input": null, "output": 3}`,
		`{"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "image"}]}]}`,
		`{"conversations": [{"from": "gpt", "value": "y"}], "tools": [{"name": "f"}]}`,
		`{"prompt": [{"role": "user", "content": "q"}], "chosen": {"from": "gpt", "value": "a"}, "rejected": "[{\"role\": \"assistant\", \"content\": \"b\"}]"}`,
		`{"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "rejected": [{"role": "user", "content": "q"}]}`,
		`{"messages": "not a list", "label": "maybe"}`,
		`{"text": {"nested": true}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var row map[string]any
		if json.Unmarshal(b, &row) != nil || row == nil {
			return
		}
		DetectRow(row)
		Detect([]map[string]any{row})
		for _, fm := range record.Formats {
			r, err := Normalize(fm, row, 1)
			if err != nil {
				continue
			}
			enc, err := r.MarshalJSON()
			if err != nil {
				t.Fatalf("%s: marshal %+v: %v", fm, r, err)
			}
			var back record.Record
			if err := record.Decode(enc, fm, &back); err != nil {
				t.Fatalf("%s: decode %s: %v", fm, enc, err)
			}
			// Canonical encoding keeps what the format holds.
			if fm.Canonical() == record.Alpaca && (back.Instruction != r.Instruction || back.Output != r.Output) {
				t.Fatalf("alpaca round trip %s", cmp.Diff(r, back))
			}
		}
	})
}
