package evaluate_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/compare"
	"github.com/whetstone/whetstone/internal/agents/evaluate"
	"github.com/whetstone/whetstone/internal/agents/train"
	"github.com/whetstone/whetstone/internal/pipeline"
)

// TestDeviceParamValidatedAtSubmit: the device param of evaluate, compare
// and train is checked when the pipeline is validated (submit time), and a
// bad name is an error on the node's params.device field naming the
// choices; good names pass and a missing one defaults to auto.
func TestDeviceParamValidatedAtSubmit(t *testing.T) {
	t.Parallel()
	var reg agent.Registry
	for _, a := range []agent.Agent{evaluate.New(nil), compare.New(nil), train.New()} {
		if err := reg.Register(a); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range reg.Specs() {
		var found bool
		for _, p := range s.Params {
			if p.Name == "device" {
				found = true
				if p.Default != "auto" || p.Type != agent.String || p.Check == nil {
					t.Errorf("%s: device param %+v: want a checked string defaulting to auto", s.Name, p)
				}
			}
		}
		if !found {
			t.Errorf("%s has no device param", s.Name)
		}
	}
	for _, tc := range []struct {
		value any // nil: not set
		bad   string
	}{
		{nil, ""},
		{"auto", ""},
		{"", ""},
		{"cpu", ""},
		{"CPU", ""},
		{"cuda", ""},
		{"cuda:0", ""},
		{"cuda:7", ""},
		{"tpu", `bad device "tpu": want auto, cpu, cuda or cuda:N`},
		{"cuda:-1", `bad device "cuda:-1"`},
		{"cuda:x", `bad device "cuda:x"`},
		{"cuda0", `bad device "cuda0"`},
		{int64(0), "must be a string"},
	} {
		for _, ag := range []string{"evaluate", "compare", "train"} {
			name := ag + "/" + strings.ReplaceAll(strings.TrimSpace(anyString(tc.value)), ":", "_")
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				params := map[string]any{}
				if tc.value != nil {
					params["device"] = tc.value
				}
				spec := &pipeline.Spec{Name: "p", Nodes: []pipeline.Node{{ID: "n", Agent: ag, Params: params}}}
				_, err := pipeline.Validate(spec, &reg)
				var ve *pipeline.ValidationError
				var devErr *pipeline.FieldError
				if errors.As(err, &ve) {
					for i, fe := range ve.Errors {
						if fe.Field == "params.device" {
							devErr = &ve.Errors[i]
						}
					}
				} else if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if tc.bad == "" {
					if devErr != nil {
						t.Fatalf("device %v rejected: %v", tc.value, devErr)
					}
					return
				}
				if devErr == nil || devErr.Node != "n" || !strings.Contains(devErr.Message, tc.bad) {
					t.Fatalf("device %v: error %v, want one on node n's params.device containing %q (all: %v)", tc.value, devErr, tc.bad, err)
				}
			})
		}
	}
}

func anyString(v any) string {
	switch x := v.(type) {
	case nil:
		return "unset"
	case string:
		if x == "" {
			return "empty"
		}
		return x
	}
	return "number"
}
