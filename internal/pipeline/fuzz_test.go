package pipeline

import (
	"math"
	"testing"
)

// FuzzParse feeds the spec parser arbitrary YAML and JSON: it never panics,
// and a spec it accepts has bounded size and round-trips through JSON
// (except non-finite numbers, which validation refuses).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"name: x\nnodes: [{id: d, agent: dataset, params: {source: x.jsonl}}]\n",
		`{"name":"x","nodes":[{"id":"a","agent":"dataset","params":{"columns":{"instruction":"q"}}}],"edges":[{"from":"a","to":"b"}]}`,
		"name: x\nnodes:\n  - id: a\n    agent: dataset\n    params:\n      a: &a [1, 2]\n      b: [*a, *a]\n",
		"name: x\nnodes: [{id: d, agent: dataset, params: {columns: {instruction: .inf}}}]\n",
		"[[[[[[[[[[",
		"name: &a [*a]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		if len(s.Nodes) > 1<<16 {
			t.Fatalf("%d nodes", len(s.Nodes))
		}
		for _, n := range s.Nodes {
			if nonFinite(n.Params) {
				return
			}
		}
		if _, err := Parse(s.JSON()); err != nil {
			t.Fatalf("re-parse of %s: %v", s.JSON(), err)
		}
	})
}

func nonFinite(v any) bool {
	switch x := v.(type) {
	case float64:
		return math.IsNaN(x) || math.IsInf(x, 0)
	case map[string]any:
		for _, e := range x {
			if nonFinite(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if nonFinite(e) {
				return true
			}
		}
	}
	return false
}
