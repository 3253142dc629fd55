package agent

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type fake struct{ name string }

func (f fake) Spec() Spec { return Spec{Name: f.name} }
func (fake) Run(context.Context, *Env) ([]Artifact, error) {
	return nil, nil
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	var r Registry
	for _, n := range []string{"train", "dataset"} {
		if err := r.Register(fake{n}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Register(fake{"train"}); err == nil {
		t.Error("duplicate name accepted")
	}
	if err := r.Register(fake{""}); err == nil {
		t.Error("empty name accepted")
	}
	if _, ok := r.Lookup("dataset"); !ok {
		t.Error("dataset not found")
	}
	if _, ok := r.Lookup("nope"); ok {
		t.Error("unknown agent found")
	}
	var names []string
	for _, s := range r.Specs() {
		names = append(names, s.Name)
	}
	if diff := cmp.Diff([]string{"dataset", "train"}, names); diff != "" {
		t.Errorf("Specs (-want +got):\n%s", diff)
	}
}

func TestParams(t *testing.T) {
	t.Parallel()
	p := Params{"s": "x", "i": 3.0, "f": 2, "b": true, "l": []any{"a", "b"}, "o": map[string]any{"rank": 8.0}}
	if p.String("s") != "x" || p.Int("i") != 3 || p.Float("f") != 2 || !p.Bool("b") {
		t.Errorf("scalar getters wrong: %v", p)
	}
	if diff := cmp.Diff([]string{"a", "b"}, p.Strings("l")); diff != "" {
		t.Errorf("Strings (-want +got):\n%s", diff)
	}
	if p.Object("o").Int("rank") != 8 {
		t.Error("Object getter wrong")
	}
	if p.String("i") != "" || p.Int("missing") != 0 || p.Has("missing") {
		t.Error("absent or mistyped params must give zero values")
	}
}

func TestPermanent(t *testing.T) {
	t.Parallel()
	base := errors.New("bad file")
	err := fmt.Errorf("node data: %w", Permanent(base))
	if !IsPermanent(err) || !errors.Is(err, base) {
		t.Errorf("IsPermanent/Is lost through wrapping: %v", err)
	}
	if IsPermanent(base) || Permanent(nil) != nil {
		t.Error("plain error reported permanent, or Permanent(nil) not nil")
	}
}

func TestEnvInputs(t *testing.T) {
	t.Parallel()
	e := &Env{Inputs: []Artifact{{Type: Report, Name: "r"}, {Type: Dataset, Name: "a"}, {Type: Dataset, Name: "b"}}}
	if a, ok := e.Input(Dataset); !ok || a.Name != "a" {
		t.Errorf("Input(Dataset) = %v, %v", a, ok)
	}
	if _, ok := e.Input(Model); ok {
		t.Error("Input(Model) found something")
	}
	if n := len(e.InputsOf(Dataset)); n != 2 {
		t.Errorf("InputsOf(Dataset) has %d", n)
	}
}
