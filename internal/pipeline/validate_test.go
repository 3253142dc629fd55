package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/whetstone/whetstone/internal/agent"
)

type fake struct{ spec agent.Spec }

func (f fake) Spec() agent.Spec { return f.spec }
func (f fake) Run(context.Context, *agent.Env) ([]agent.Artifact, error) {
	return nil, nil
}

func registry(t testing.TB) *agent.Registry {
	var r agent.Registry
	for _, s := range []agent.Spec{
		{Name: "load", Params: []agent.Param{
			{Name: "source", Type: agent.String, Required: true},
			{Name: "format", Type: agent.String, Default: "auto", Enum: []string{"auto", "csv", "jsonl"}},
			{Name: "limit", Type: agent.Integer, Default: int64(0), Min: agent.F64(0)},
		}, Outputs: []agent.Port{{Type: agent.Dataset, Name: "data"}}},
		{Name: "train", Params: []agent.Param{
			{Name: "lr", Type: agent.Number, Default: 1e-3, Min: agent.F64(0), Max: agent.F64(1)},
			{Name: "epochs", Type: agent.Integer, Default: int64(1), Min: agent.F64(1), Max: agent.F64(100)},
			{Name: "fast", Type: agent.Boolean, Default: false},
			{Name: "metrics", Type: agent.Array, Items: agent.String, Enum: []string{"loss", "rouge_l"}},
			{Name: "lora", Type: agent.Object, Fields: []agent.Param{
				{Name: "rank", Type: agent.Integer, Default: int64(8), Min: agent.F64(1), Max: agent.F64(512)},
			}},
		}, Inputs: []agent.Port{{Type: agent.Dataset, Name: "train", Required: true}},
			Outputs: []agent.Port{{Type: agent.Model, Name: "model"}}},
		{Name: "eval", Inputs: []agent.Port{{Type: agent.Model, Name: "model", Required: true}, {Type: agent.Dataset, Name: "data"}},
			Outputs: []agent.Port{{Type: agent.Report, Name: "report"}}},
	} {
		if err := r.Register(fake{s}); err != nil {
			t.Fatal(err)
		}
	}
	return &r
}

func TestValidateErrors(t *testing.T) {
	t.Parallel()
	reg := registry(t)
	tests := []struct {
		name string
		yaml string
		want []string // each FieldError.Error(), in order
	}{
		{"unknown agent", `
name: p
nodes: [{id: a, agent: nope}]`, []string{`node "a": agent: unknown agent "nope"`}},
		{"missing name and nodes", `nodes: []`, []string{`name: is required`, `nodes: at least one node is required`}},
		{"bad and duplicate id", `
name: p
nodes: [{id: a, agent: load, params: {source: x}}, {id: a, agent: load, params: {source: y}}, {id: "1x", agent: load, params: {source: z}}, {agent: load, params: {source: w}}]`,
			[]string{`node "a": id: is used by more than one node`,
				`node "1x": id: must start with a letter and hold only letters, digits, '_' and '-' (at most 64)`,
				`nodes[3].id: is required`}},
		{"unknown param", `
name: p
nodes: [{id: a, agent: load, params: {source: x, sauce: y}}]`, []string{`node "a": params.sauce: unknown param (known: source, format, limit)`}},
		{"missing required param", `
name: p
nodes: [{id: a, agent: load}]`, []string{`node "a": params.source: is required`}},
		{"ill-typed params", `
name: p
nodes:
  - {id: a, agent: load, params: {source: 3, limit: "ten"}}
  - {id: t, agent: train, params: {lr: "high", fast: 1, epochs: 1.5, metrics: loss, lora: 3}}
edges: [{from: a, to: t}]`, []string{
			`node "a": params.source: must be a string, got a number`,
			`node "a": params.limit: must be an integer, got a string`,
			`node "t": params.lr: must be a number, got a string`,
			`node "t": params.epochs: must be an integer, got 1.5`,
			`node "t": params.fast: must be a boolean, got a number`,
			`node "t": params.metrics: must be an array, got a string`,
			`node "t": params.lora: must be an object, got a number`}},
		{"out of range and enum", `
name: p
nodes:
  - {id: a, agent: load, params: {source: x, format: xml, limit: -1}}
  - {id: t, agent: train, params: {lr: 2, epochs: 0, metrics: [loss, bleu], lora: {rank: 1000, alpha: 3}}}
edges: [{from: a, to: t}]`, []string{
			`node "a": params.format: "xml" is not one of auto, csv, jsonl`,
			`node "a": params.limit: -1 is below the minimum 0`,
			`node "t": params.lr: 2 is above the maximum 1`,
			`node "t": params.epochs: 0 is below the minimum 1`,
			`node "t": params.metrics[1]: "bleu" is not one of loss, rouge_l`,
			`node "t": params.lora.rank: 1000 is above the maximum 512`,
			`node "t": params.lora.alpha: unknown param (known: rank)`}},
		{"dangling edges", `
name: p
nodes: [{id: a, agent: load, params: {source: x}}]
edges: [{from: a, to: ghost}, {from: nowhere, to: a}]`, []string{
			`node "a": edges[0].to: unknown node "ghost"`,
			`node "a": edges[1].from: unknown node "nowhere"`}},
		{"cycle", `
name: p
nodes:
  - {id: a, agent: load, params: {source: x}}
  - {id: t1, agent: train}
  - {id: t2, agent: train}
edges: [{from: a, to: t1}, {from: t1, to: t2}, {from: t2, to: t1}]`, []string{
			`node "t2": edges[1]: incompatible artifacts: t1 (train) outputs model but t2 (train) accepts dataset`,
			`node "t1": edges[2]: incompatible artifacts: t2 (train) outputs model but t1 (train) accepts dataset`,
			`node "t1": edges: cycle: t1 -> t2 -> t1`,
			`node "t2": inputs.train: missing required dataset input: add an edge from a node that outputs a dataset`}},
		{"self edge and duplicate", `
name: p
nodes: [{id: a, agent: load, params: {source: x}}, {id: t, agent: train}]
edges: [{from: a, to: a}, {from: a, to: t}, {from: a, to: t}]`, []string{
			`node "a": edges[0]: an edge cannot join a node to itself`,
			`node "t": edges[2]: duplicate edge a -> t`}},
		{"missing required input", `
name: p
nodes: [{id: t, agent: train}, {id: e, agent: eval}]`, []string{
			`node "t": inputs.train: missing required dataset input: add an edge from a node that outputs a dataset`,
			`node "e": inputs.model: missing required model input: add an edge from a node that outputs a model`}},
		{"incompatible artifacts", `
name: p
nodes: [{id: a, agent: load, params: {source: x}}, {id: e, agent: eval}]
edges: [{from: a, to: e}]`, []string{
			`node "e": inputs.model: missing required model input: add an edge from a node that outputs a model`}},
		{"incompatible artifacts no common type", `
name: p
nodes: [{id: a, agent: load, params: {source: x}}, {id: t, agent: train}, {id: e, agent: eval}, {id: e2, agent: eval}]
edges: [{from: a, to: t}, {from: t, to: e}, {from: e, to: e2}]`, []string{
			`node "e2": edges[2]: incompatible artifacts: e (eval) outputs report but e2 (eval) accepts model, dataset`,
			`node "e2": inputs.model: missing required model input: add an edge from a node that outputs a model`}},
		{"max attempts", `
name: p
nodes: [{id: a, agent: load, max_attempts: 500, params: {source: x}}]`, []string{`node "a": max_attempts: 500 is out of range [1,100]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Validate(s, reg)
			ve, ok := err.(*ValidationError)
			if !ok {
				t.Fatalf("Validate error = %v, want *ValidationError", err)
			}
			var got []string
			for _, fe := range ve.Errors {
				got = append(got, fe.Error())
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("errors (-want +got):\n%s", d)
			}
		})
	}
}

func TestValidateDefaultsAndCoercion(t *testing.T) {
	t.Parallel()
	s, err := Parse([]byte(`{"name": "p", "nodes": [{"id": "a", "agent": "load", "params": {"source": "x"}},
		{"id": "t", "agent": "train", "params": {"epochs": 3.0, "lr": 1, "lora": {}}}],
		"edges": [{"from": "a", "to": "t"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	v, err := Validate(s, registry(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"source": "x", "format": "auto", "limit": int64(0)},
		{"lr": float64(1), "epochs": int64(3), "fast": false, "lora": map[string]any{"rank": int64(8)}},
	}
	for i, n := range v.Nodes {
		if d := cmp.Diff(want[i], n.Params); d != "" {
			t.Errorf("node %s params (-want +got):\n%s", n.ID, d)
		}
	}
	if got := TopoOrder(v); !cmp.Equal(got, []string{"a", "t"}) {
		t.Errorf("TopoOrder = %v", got)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"empty", "  ", "empty document"},
		{"unknown field", "name: p\nnodez: []\n", "[2:1] unknown field \"nodez\""},
		{"bad json", `{"name": "p", "nodes": [}`, "[1:"},
		{"wrong type", "name: p\nnodes: 3\n", "[2:8]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !IsInvalid(err) {
				t.Fatalf("Parse error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestCacheKey(t *testing.T) {
	t.Parallel()
	a := CacheKey("load", map[string]any{"x": int64(1), "y": "z"}, []string{"h1"})
	b := CacheKey("load", map[string]any{"y": "z", "x": float64(1)}, []string{"h1"})
	if a != b {
		t.Errorf("key depends on map order or number type")
	}
	for _, other := range []string{
		CacheKey("train", map[string]any{"x": int64(1), "y": "z"}, []string{"h1"}),
		CacheKey("load", map[string]any{"x": int64(2), "y": "z"}, []string{"h1"}),
		CacheKey("load", map[string]any{"x": int64(1), "y": "z"}, []string{"h2"}),
		CacheKey("load", map[string]any{"x": int64(1), "y": "z"}, nil),
	} {
		if other == a {
			t.Errorf("different inputs gave the same key")
		}
	}
}

func TestExamplesParse(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("../../../shared/examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples found in ../shared/examples")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Parse(b)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(s.Nodes) < 3 || len(s.Edges) < 2 || cycle(s) != nil {
			t.Errorf("%s: parsed %d nodes, %d edges", f, len(s.Nodes), len(s.Edges))
		}
	}
}
