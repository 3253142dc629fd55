package pipeline_test

import (
	"context"
	"fmt"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/pipeline"
)

type loader struct{}

func (loader) Spec() agent.Spec {
	return agent.Spec{Name: "load",
		Params:  []agent.Param{{Name: "source", Type: agent.String, Required: true}, {Name: "limit", Type: agent.Integer, Default: int64(0), Min: agent.F64(0)}},
		Outputs: []agent.Port{{Type: agent.Dataset, Name: "data"}}}
}

func (loader) Run(context.Context, *agent.Env) ([]agent.Artifact, error) { return nil, nil }

func ExampleValidate() {
	var reg agent.Registry
	reg.Register(loader{})
	spec, err := pipeline.Parse([]byte(`
name: demo
nodes:
  - {id: a, agent: load, params: {source: data.jsonl}}
  - {id: b, agent: load, params: {limit: -1}}
  - {id: c, agent: nope}
edges: [{from: a, to: b}]
`))
	if err != nil {
		panic(err)
	}
	_, err = pipeline.Validate(spec, &reg)
	for _, fe := range err.(*pipeline.ValidationError).Errors {
		fmt.Println(fe)
	}
	// Output:
	// node "b": params.source: is required
	// node "b": params.limit: -1 is below the minimum 0
	// node "c": agent: unknown agent "nope"
	// node "b": edges[0]: incompatible artifacts: a (load) outputs dataset but b (load) accepts nothing
}
