package main

import (
	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/dataset"
)

// agentConstructors lists the agents `whet` runs. Add new agents here.
var agentConstructors = []func() agent.Agent{
	dataset.New,
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
