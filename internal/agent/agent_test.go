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

func TestArtifactRef(t *testing.T) {
	t.Parallel()
	folder := Artifact{Path: "/w/a/blobs/jobs/j1/tune/model", URI: "jobs/j1/tune/model/"}
	file := Artifact{Path: "/w/a/scratch/j1/score-1/in/prep/train.jsonl", URI: "jobs/j1/prep/train/train.jsonl"}
	local := Artifact{Path: "/home/me/model"} // not stored: the user's own files
	tests := []struct {
		name  string
		a     Artifact
		local string
		want  string
	}{
		{"folder itself", folder, folder.Path, "blob:jobs/j1/tune/model/"},
		{"folder itself, trailing slash", folder, folder.Path + "/", "blob:jobs/j1/tune/model/"},
		{"file in folder", folder, folder.Path + "/history.json", "blob:jobs/j1/tune/model/history.json"},
		{"nested file in folder", folder, folder.Path + "/a/b.bin", "blob:jobs/j1/tune/model/a/b.bin"},
		{"file artifact", file, file.Path, "blob:jobs/j1/prep/train/train.jsonl"},
		{"under a file artifact", file, file.Path + "/x", file.Path + "/x"},
		{"outside the artifact", folder, "/srv/models/stories260K", "/srv/models/stories260K"},
		{"sibling with a common prefix", folder, folder.Path + "2/x", folder.Path + "2/x"},
		{"not stored", local, local.Path + "/history.json", "/home/me/model/history.json"},
		{"empty", folder, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Ref(tt.local); got != tt.want {
				t.Errorf("Ref(%q) = %q, want %q", tt.local, got, tt.want)
			}
		})
	}
	for s, want := range map[string]bool{"blob:jobs/j/n/o/": true, "mdl_123": true, "/srv/m": false, "models/m": false, "": false} {
		if got := IsRef(s); got != want {
			t.Errorf("IsRef(%q) = %v, want %v", s, got, want)
		}
	}
}
