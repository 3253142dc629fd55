// Package pipeline parses and validates pipeline specs: a named DAG of
// nodes, each running one agent with typed params, joined by edges that
// carry artifacts. Validation runs before anything is queued and reports
// every error at once, each naming the node and the field.
package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml"
)

// Spec is a pipeline as users write it (YAML or JSON).
type Spec struct {
	Name  string `json:"name" yaml:"name"`
	Nodes []Node `json:"nodes" yaml:"nodes"`
	Edges []Edge `json:"edges,omitempty" yaml:"edges"`
}

// Node runs one agent.
type Node struct {
	ID     string         `json:"id" yaml:"id"`
	Agent  string         `json:"agent" yaml:"agent"`
	Params map[string]any `json:"params,omitempty" yaml:"params"`
	// MaxAttempts overrides the default number of tries (1 means no retry).
	MaxAttempts int `json:"max_attempts,omitempty" yaml:"max_attempts"`
	// Cache, when false, always runs the node even if an identical run
	// already succeeded. Defaults to true.
	Cache *bool `json:"cache,omitempty" yaml:"cache"`
	// Requires is what a worker must have to run the node; a node waits
	// for a worker that fits.
	Requires *Requires `json:"requires,omitempty" yaml:"requires"`
}

// Requires is a node's resource needs, matched against what each worker
// advertises (CPU cores, memory, GPUs, labels).
type Requires struct {
	CPUs     int      `json:"cpus,omitempty" yaml:"cpus"`
	MemoryGB float64  `json:"memory_gb,omitempty" yaml:"memory_gb"`
	GPUs     int      `json:"gpus,omitempty" yaml:"gpus"`
	Labels   []string `json:"labels,omitempty" yaml:"labels"`
}

// Edge hands every output of From to To.
type Edge struct {
	From string `json:"from" yaml:"from"`
	To   string `json:"to" yaml:"to"`
}

// SyntaxError is a spec that cannot be decoded; Msg names line and column.
type SyntaxError struct{ Msg string }

func (e *SyntaxError) Error() string { return "pipeline spec: " + e.Msg }

// Parse decodes a YAML or JSON spec strictly: unknown fields are errors
// reported with line and column.
func Parse(data []byte) (*Spec, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &SyntaxError{Msg: "empty document"}
	}
	if err := checkShape(data); err != nil {
		return nil, err
	}
	var s Spec
	if err := yaml.UnmarshalWithOptions(data, &s, yaml.Strict()); err != nil {
		return nil, &SyntaxError{Msg: strings.TrimSpace(yaml.FormatError(err, false, false))}
	}
	for i := range s.Nodes {
		s.Nodes[i].Params = normalizeValue(s.Nodes[i].Params).(map[string]any)
	}
	return &s, nil
}

// normalizeValue turns decoded YAML values into JSON-like ones: integers
// become int64, maps map[string]any, nil maps an empty map.
func normalizeValue(v any) any {
	switch x := v.(type) {
	case nil:
		return map[string]any(nil)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalizeElem(e)
		}
		return out
	}
	return v
}

func normalizeElem(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return normalizeValue(x)
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = normalizeElem(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeElem(e)
		}
		return out
	case uint64:
		if x <= 1<<63-1 {
			return int64(x)
		}
		return float64(x)
	case int:
		return int64(x)
	case uint:
		return int64(x)
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

// JSON encodes the spec.
func (s *Spec) JSON() []byte {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // params are plain JSON values after Parse/Validate
	}
	return b
}

// Node returns the node called id.
func (s *Spec) Node(id string) (*Node, bool) {
	for i := range s.Nodes {
		if s.Nodes[i].ID == id {
			return &s.Nodes[i], true
		}
	}
	return nil, false
}

// Preds returns the predecessors of node id, in edge order.
func (s *Spec) Preds(id string) []string {
	var out []string
	for _, e := range s.Edges {
		if e.To == id {
			out = append(out, e.From)
		}
	}
	return out
}

// Succs returns the successors of node id, in edge order.
func (s *Spec) Succs(id string) []string {
	var out []string
	for _, e := range s.Edges {
		if e.From == id {
			out = append(out, e.To)
		}
	}
	return out
}

// FieldError is one validation error.
type FieldError struct {
	// Node is the node id ("" for pipeline-level errors).
	Node string `json:"node,omitempty"`
	// Field is a path such as "params.lora.rank", "agent", "edges[2].to".
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e FieldError) Error() string {
	if e.Node != "" {
		return fmt.Sprintf("node %q: %s: %s", e.Node, e.Field, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Message)
}

// ValidationError lists every problem found in a spec.
type ValidationError struct{ Errors []FieldError }

func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		msgs[i] = fe.Error()
	}
	return "invalid pipeline: " + strings.Join(msgs, "; ")
}

// IsInvalid reports whether err is a syntax or validation error in a spec.
func IsInvalid(err error) bool {
	var v *ValidationError
	var s *SyntaxError
	return errors.As(err, &v) || errors.As(err, &s)
}
