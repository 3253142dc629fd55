package format_test

import (
	"fmt"

	"github.com/whetstone/whetstone/internal/data/format"
	"github.com/whetstone/whetstone/internal/data/record"
)

func ExampleNormalize() {
	row := map[string]any{"conversations": []any{
		map[string]any{"from": "human", "value": "Hi"},
		map[string]any{"from": "gpt", "value": "Hello!"},
	}}
	f, _ := format.Detect([]map[string]any{row})
	r, _ := format.Normalize(f, row, 1)
	b, _ := r.MarshalJSON()
	fmt.Println(f, r.Format == record.Messages)
	fmt.Println(string(b))
	// Output:
	// sharegpt true
	// {"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"}],"_line":1}
}
