package main

import (
	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/compare"
	"github.com/whetstone/whetstone/internal/agents/evaluate"
	"github.com/whetstone/whetstone/internal/agents/export"
	"github.com/whetstone/whetstone/internal/agents/ingest"
	"github.com/whetstone/whetstone/internal/agents/preprocess"
	"github.com/whetstone/whetstone/internal/agents/train"
	"github.com/whetstone/whetstone/internal/agents/validate"
)

// agentConstructors lists the agents `whet` runs. Add new agents here.
var agentConstructors = []func() agent.Agent{
	ingest.New, // the "dataset" agent
	validate.New,
	preprocess.New,
	train.New,
	func() agent.Agent { return evaluate.New(nil) }, // nil: the Go engine loads models
	func() agent.Agent { return compare.New(nil) },
	export.New,
}

// newRegistry returns a registry of every agent.
func newRegistry() (*agent.Registry, error) {
	var reg agent.Registry
	for _, newAgent := range agentConstructors {
		if err := reg.Register(newAgent()); err != nil {
			return nil, err
		}
	}
	return &reg, nil
}
