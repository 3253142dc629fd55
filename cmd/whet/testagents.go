//go:build whet_testagents

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
)

// The sleep agent exists only in binaries built with -tags whet_testagents,
// for the integration tests that kill a server mid-node.
func init() {
	agentConstructors = append(agentConstructors, func() agent.Agent { return sleepAgent{} }, func() agent.Agent { return hogAgent{} })
}

type sleepAgent struct{}

func (sleepAgent) Spec() agent.Spec {
	return agent.Spec{Name: "sleep", Description: "Test agent: sleeps, reporting progress, then writes a file.",
		Params: []agent.Param{
			{Name: "seconds", Type: agent.Number, Default: 1.0, Min: agent.F64(0)},
			{Name: "steps", Type: agent.Integer, Default: int64(10), Min: agent.F64(1)},
		},
		Inputs:  []agent.Port{{Type: agent.Dataset, Name: "in", Multiple: true}},
		Outputs: []agent.Port{{Type: agent.Dataset, Name: "out"}},
	}
}

func (sleepAgent) Run(ctx context.Context, env *agent.Env) ([]agent.Artifact, error) {
	steps := env.Params.Int("steps")
	per := time.Duration(env.Params.Float("seconds") * float64(time.Second) / float64(steps))
	for i := range steps {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(per):
		}
		env.Emit.Progress(float64(i+1)/float64(steps), per*time.Duration(steps-i-1), fmt.Sprintf("step %d/%d", i+1, steps))
		env.Emit.Metrics(i+1, map[string]float64{"loss": 1 / float64(i+1)})
	}
	text := env.NodeID + " attempt " + fmt.Sprint(env.Attempt) + "\n"
	if err := os.WriteFile(filepath.Join(env.OutDir, "out.txt"), []byte(text), 0o644); err != nil {
		return nil, err
	}
	return []agent.Artifact{{Type: agent.Dataset, Name: "out", Path: "out.txt"}}, nil
}

// The hog agent allocates (and touches) memory until it has mb megabytes or
// is stopped: what a model config or data file that makes an agent allocate
// without bound does, for the tests of agent isolation.
type hogAgent struct{}

func (hogAgent) Spec() agent.Spec {
	return agent.Spec{Name: "hog", Description: "Test agent: allocates memory until it holds mb megabytes, then writes a file.",
		Params: []agent.Param{
			{Name: "mb", Type: agent.Integer, Default: int64(1 << 20), Min: agent.F64(1), Max: agent.F64(1 << 24)},
		},
		Outputs: []agent.Port{{Type: agent.Dataset, Name: "out"}},
	}
}

func (hogAgent) Run(ctx context.Context, env *agent.Env) ([]agent.Artifact, error) {
	const chunk = 16 << 20
	var keep [][]byte
	for len(keep)*chunk < env.Params.Int("mb")<<20 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b := make([]byte, chunk)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		keep = append(keep, b)
		env.Emit.Progress(0, 0, fmt.Sprintf("holding %d MB", len(keep)*chunk>>20))
		time.Sleep(2 * time.Millisecond)
	}
	if err := os.WriteFile(filepath.Join(env.OutDir, "out.txt"), []byte(fmt.Sprint(len(keep))), 0o644); err != nil {
		return nil, err
	}
	return []agent.Artifact{{Type: agent.Dataset, Name: "out", Path: "out.txt"}}, nil
}
