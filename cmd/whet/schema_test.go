package main

import (
	"testing"

	"github.com/whetstone/whetstone/internal/agent"
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
