package pipeline

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

// aliasBomb is a 500-odd-byte spec whose params expand to 9^9 strings
// through nested YAML aliases (it took a server past 10 GB before).
const aliasBomb = `name: bomb
nodes:
  - id: a
    agent: dataset
    params:
      a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
      b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
      c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
      d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
      e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
      f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
      g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
      h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
      i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
      source: x.jsonl
`

// deepJSON is a 200 KB JSON spec nested 100,000 levels deep (6 GB in 23 s
// before).
func deepJSON() string {
	return `{"name":"deep","nodes":[{"id":"a","agent":"dataset","params":{"x":` +
		strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}}]}`
}

func TestParseRefusesBombs(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"nested aliases in params", aliasBomb, "expands to more than"},
		{"100,000-deep JSON", deepJSON(), "nested deeper than 64"},
		{"deep block sequence", "name: x\nnodes:\n  - id: a\n    agent: dataset\n    params:\n      x:\n        " + strings.Repeat("- ", 5000) + "1\n", "nested deeper than 64"},
		{"deep flow mapping", "name: x\nnodes: [{id: a, agent: dataset, params: {x: " + strings.Repeat("{a: ", 70) + "1" + strings.Repeat("}", 70) + "}}]\n", "nested deeper than 64"},
	}
	if len(aliasBomb) > 600 {
		t.Fatalf("alias bomb is %d bytes", len(aliasBomb))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var before runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := Parse([]byte(c.doc))
			took := time.Since(start)
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			var se *SyntaxError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse = %v, want a SyntaxError saying %q", err, c.want)
			}
			if took > time.Second {
				t.Errorf("took %s, want under a second", took)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 100<<20 {
				t.Errorf("allocated %d MiB refusing it", grew>>20)
			}
		})
	}
}

func TestParseKeepsOrdinaryAliasesAndDepth(t *testing.T) {
	doc := `name: ok
nodes:
  - id: a
    agent: dataset
    params: &p {source: x.jsonl, columns: {instruction: q, output: a}}
  - id: b
    agent: dataset
    params: *p
`
	s, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if s.Nodes[1].Params["source"] != "x.jsonl" {
		t.Errorf("alias not expanded: %v", s.Nodes[1].Params)
	}
	nested := "name: ok\nnodes: [{id: a, agent: dataset, params: {x: " + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "}}]\n"
	if _, err := Parse([]byte(nested)); err != nil {
		t.Errorf("40 levels refused: %v", err)
	}
}
