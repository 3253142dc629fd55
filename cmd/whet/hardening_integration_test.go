//go:build integration

package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestIntegrationHardeningSpecs sends the inputs that took a real `whet
// serve` down (or were accepted and failed later) to a real server process:
// each gets a 4xx in under a second, the server's peak RSS stays under 300 MB,
// and it still answers afterwards.
func TestIntegrationHardeningSpecs(t *testing.T) {
	bin := buildWhet(t)
	s := startServer(t, bin, t.TempDir())
	deep := `{"name":"deep","nodes":[{"id":"a","agent":"dataset","params":{"x":` +
		strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}}]}`
	bomb := `name: bomb
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
	cases := []struct {
		name, ctype, body string
		status            int
		want              string
	}{
		{"YAML with nested aliases in params", "application/yaml", bomb, 400, "expands to more than"},
		{"JSON nested 100,000 levels", "application/json", deep, 400, "nested deeper than"},
		{"columns: {instruction: .inf}", "application/yaml",
			"name: x\nnodes: [{id: d, agent: dataset, params: {source: x.jsonl, columns: {instruction: .inf}}}]\n", 422, "columns.instruction"},
		{"columns: [[...]]", "application/yaml",
			"name: x\nnodes: [{id: d, agent: dataset, params: {source: x.jsonl, columns: [[a, b], [c]]}}]\n", 422, "columns"},
		{"preprocess workers: 100000000", "application/yaml",
			"name: x\nnodes: [{id: d, agent: dataset, params: {source: x.jsonl}}, {id: p, agent: preprocess, params: {workers: 100000000}}]\nedges: [{from: d, to: p}]\n", 422, "above the maximum"},
		{"train max_seq_len 2^40", "application/yaml",
			"name: x\nnodes: [{id: d, agent: dataset, params: {source: x.jsonl}}, {id: t, agent: train, params: {base_model: m, max_seq_len: 1099511627776}}]\nedges: [{from: d, to: t}]\n", 422, "max_seq_len"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			resp, err := http.Post(s.url+"/jobs", c.ctype, strings.NewReader(c.body))
			if err != nil {
				t.Fatalf("the server dropped the connection: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			took := time.Since(start)
			if resp.StatusCode != c.status || !strings.Contains(string(b), c.want) {
				t.Errorf("%d %s, want %d mentioning %q", resp.StatusCode, b, c.status, c.want)
			}
			if took > time.Second {
				t.Errorf("answered in %s, want under 1s", took)
			}
		})
	}
	if peak := rss(t, s.cmd.Process.Pid); peak > 300<<20 {
		t.Errorf("server peak RSS %d MiB, want under 300", peak>>20)
	}
	if resp, err := http.Get(s.url + "/health"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("server unhealthy after the inputs: %v", err)
	}
}
