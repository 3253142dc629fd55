package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/pipeline"
	"github.com/whetstone/whetstone/internal/sandbox"
)

// TestEveryParamIsBounded walks every agent's params schema: each integer
// and number has a maximum (and a minimum), each array an item type and each
// object its fields or its value type, so no param can ask for unbounded
// work ("workers: 100000000") or carry an unchecked shape ("columns: [[...]]").
func TestEveryParamIsBounded(t *testing.T) {
	reg, err := newRegistry()
	if err != nil {
		t.Fatal(err)
	}
	var walk func(agentName, path string, ps []agent.Param)
	walk = func(agentName, path string, ps []agent.Param) {
		for _, p := range ps {
			f := agentName + ": " + path + p.Name
			switch p.Type {
			case agent.Integer, agent.Number:
				if p.Max == nil {
					t.Errorf("%s: %s has no maximum", f, p.Type)
				}
				if p.Min == nil {
					t.Errorf("%s: %s has no minimum", f, p.Type)
				}
			case agent.Array:
				if p.Items == "" {
					t.Errorf("%s: array without an item type", f)
				}
				if (p.Items == agent.Integer || p.Items == agent.Number) && (p.Max == nil || p.Min == nil) {
					t.Errorf("%s: array of %s without bounds", f, p.Items)
				}
			case agent.Object:
				if len(p.Fields) == 0 && p.Values == "" {
					t.Errorf("%s: object without fields or a value type", f)
				}
				walk(agentName, path+p.Name+".", p.Fields)
			}
		}
	}
	for _, sp := range reg.Specs() {
		walk(sp.Name, "", sp.Params)
	}
}

// TestEveryPathParamIsSandboxed walks every agent's params schema: each
// param that may name a server path (kind path, dataset, model or
// tokenizer, a string or an array of them, at any depth) is refused at
// validation when it names a file outside the allowed folders, on its own
// field, as the sandbox decides; an uploaded dataset id in a dataset or
// path param is left to the team check. A param whose kind the validator
// forgot (eval_sets' items were once) reached the agent unchecked.
func TestEveryPathParamIsSandboxed(t *testing.T) {
	reg, err := newRegistry()
	if err != nil {
		t.Fatal(err)
	}
	allowed := t.TempDir()
	pol, err := sandbox.New(allowed, []string{allowed})
	if err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "secret.jsonl")
	os.WriteFile(outside, []byte("{}\n"), 0o600)
	type found struct{ agent, field string }
	var params []found
	var set func(vals map[string]any, path []string, p agent.Param, v string)
	set = func(vals map[string]any, path []string, p agent.Param, v string) {
		if len(path) > 0 {
			m, _ := vals[path[0]].(map[string]any)
			if m == nil {
				m = map[string]any{}
				vals[path[0]] = m
			}
			set(m, path[1:], p, v)
			return
		}
		if p.Type == agent.Array {
			vals[p.Name] = []any{v}
		} else {
			vals[p.Name] = v
		}
	}
	validate := func(agentName string, path []string, p agent.Param, v string) []pipeline.FieldError {
		params := map[string]any{}
		set(params, path, p, v)
		spec := &pipeline.Spec{Name: "s", Nodes: []pipeline.Node{{ID: "n", Agent: agentName, Params: params}}}
		_, err := pipeline.ValidateWith(spec, reg, pipeline.Options{Paths: pol})
		var ve *pipeline.ValidationError
		if err != nil && !errors.As(err, &ve) {
			t.Fatalf("%s: %v", agentName, err)
		}
		if ve == nil {
			return nil
		}
		return ve.Errors
	}
	var walk func(agentName string, path []string, ps []agent.Param)
	walk = func(agentName string, path []string, ps []agent.Param) {
		for _, p := range ps {
			if p.Type == agent.Object {
				walk(agentName, append(slices.Clone(path), p.Name), p.Fields)
				continue
			}
			switch p.Kind {
			case "path", "dataset", "model", "tokenizer":
			default:
				continue
			}
			if p.Type != agent.String && !(p.Type == agent.Array && p.Items == agent.String) {
				t.Errorf("%s: %s of kind %s is a %s: the sandbox checks strings", agentName, p.Name, p.Kind, p.Type)
				continue
			}
			field := "params." + strings.Join(append(slices.Clone(path), p.Name), ".")
			if p.Type == agent.Array {
				field += "[0]"
			}
			params = append(params, found{agentName, field})
			refused := false
			for _, fe := range validate(agentName, path, p, outside) {
				if fe.Node == "n" && fe.Field == field && strings.Contains(fe.Message, "not under a folder this server allows") {
					refused = true
				}
			}
			if !refused {
				t.Errorf("%s: %s = %s (outside the allowed folder) is not refused on its field", agentName, field, outside)
			}
			if p.Kind == "dataset" || p.Kind == "path" {
				for _, fe := range validate(agentName, path, p, "ds_0123456789abcdef") {
					if fe.Field == field {
						t.Errorf("%s: %s = an uploaded dataset id: %s", agentName, field, fe.Message)
					}
				}
			}
		}
	}
	for _, sp := range reg.Specs() {
		walk(sp.Name, nil, sp.Params)
	}
	t.Logf("sandboxed params: %v", params)
	for _, want := range []found{{"dataset", "params.source"}, {"train", "params.base_model"}, {"validate", "params.eval_sets[0]"}, {"preprocess", "params.tokenizer"}} {
		if !slices.Contains(params, want) {
			t.Errorf("the walk missed %s %s", want.agent, want.field)
		}
	}
}
