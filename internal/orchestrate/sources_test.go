package orchestrate_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/auth"
	"github.com/whetstone/whetstone/internal/pipeline"
	"github.com/whetstone/whetstone/internal/store"
)

// TestSourcesTeamScoped: a job may name only its own team's uploaded
// datasets, registered models and job artifacts. Another team's id is
// refused at submission, on the node and param, with the very error an
// unknown id gets; and ResolveSource, were validation bypassed, refuses it
// the same way.
func TestSourcesTeamScoped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background() // team A: store.DefaultTeam
	teamB := auth.WithIdentity(ctx, auth.Identity{Actor: "key_b", Team: "teamb", Role: store.RoleMember, Method: "key"})

	ds := &store.Dataset{ID: store.NewID("ds"), Name: "a.jsonl", Size: 3, SHA256: "cd", Format: "jsonl",
		BlobKey: "datasets/x/a.jsonl", CreatedAt: time.Now().UTC(), Version: "sha256:cd"}
	if err := b.p.Store.InTx(ctx, func(tx store.Tx) error { return tx.CreateDataset(ctx, ds) }); err != nil {
		t.Fatal(err)
	}
	if _, err := b.p.Blobs.Put(ctx, ds.BlobKey, strings.NewReader(`{"text":"a"}`+"\n")); err != nil {
		t.Fatal(err)
	}
	j := b.wait(t, b.submit(t, `
name: a-model
nodes: [{id: a, agent: step, params: {weights: "team a weights"}}]
`).ID, 30*time.Second)
	if j.Status != store.Succeeded {
		t.Fatalf("team A job %s: %s", j.Status, j.Error)
	}
	mdl := modelOf(t, b, j.ID, "a")
	// A model that keeps its tokenizer, as a merged model does.
	jt := b.wait(t, b.submit(t, `
name: a-merged
nodes: [{id: a, agent: step, params: {weights: "merged weights", tokenizer_json: "{}"}}]
`).ID, 30*time.Second)
	if jt.Status != store.Succeeded {
		t.Fatalf("team A job %s: %s", jt.Status, jt.Error)
	}
	merged := modelOf(t, b, jt.ID, "a")
	artifact := agent.BlobRef + mdl.URI // blob:jobs/<team A's job>/a/model/
	if !strings.HasPrefix(mdl.URI, "jobs/"+j.ID+"/") {
		t.Fatalf("model URI %q is not under its job", mdl.URI)
	}

	tests := []struct {
		name, param, ref, unknown string
	}{
		{"dataset", "source", ds.ID, "ds_nosuchdataset"},
		{"registered model", "model", mdl.ID, "mdl_nosuchmodel"},
		{"registered model as a tokenizer", "tokenizer", merged.ID, "mdl_nosuchmodel"},
		{"job artifact", "source", artifact, agent.BlobRef + "jobs/job_nosuchjob/a/model/"},
		{"artifact as a model", "model", artifact, agent.BlobRef + "jobs/job_nosuchjob/a/model/"},
	}
	submit := func(ctx context.Context, param, ref string) error {
		s, err := pipeline.Parse([]byte(`{"name": "uses", "nodes": [{"id": "n", "agent": "step", "params": {"` + param + `": "` + ref + `"}}]}`))
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.p.Orch.Submit(ctx, s, "")
		return err
	}
	fieldErr := func(t *testing.T, err error) pipeline.FieldError {
		t.Helper()
		var ve *pipeline.ValidationError
		if !errors.As(err, &ve) || len(ve.Errors) != 1 {
			t.Errorf("error %v, want one *pipeline.ValidationError", err)
			return pipeline.FieldError{}
		}
		return ve.Errors[0]
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := submit(ctx, tt.param, tt.ref); err != nil {
				t.Fatalf("team A naming its own %s: %v", tt.name, err)
			}
			other, unknown := fieldErr(t, submit(teamB, tt.param, tt.ref)), fieldErr(t, submit(teamB, tt.param, tt.unknown))
			if other.Node != "n" || other.Field != "params."+tt.param {
				t.Errorf("refusal on %s.%s, want n.params.%s", other.Node, other.Field, tt.param)
			}
			if got, want := strings.ReplaceAll(other.Message, tt.ref, "ID"), strings.ReplaceAll(unknown.Message, tt.unknown, "ID"); got != want {
				t.Errorf("another team's id: %q\nan unknown id:      %q\nwant the same", got, want)
			}

			// Run time, validation bypassed: team B resolves nothing of team A's.
			work, scratch := t.TempDir(), t.TempDir()
			if p, err := b.p.Orch.ResolveSource(ctx, store.DefaultTeam, tt.ref, tt.param, work, filepath.Join(scratch, "a")); err != nil {
				t.Fatalf("team A resolving its own %s: %v", tt.name, err)
			} else if _, err := os.Stat(p); err != nil {
				t.Errorf("team A's %s resolved to %s: %v", tt.name, p, err)
			}
			_, errOther := b.p.Orch.ResolveSource(ctx, "teamb", tt.ref, tt.param, work, filepath.Join(scratch, "b"))
			_, errUnknown := b.p.Orch.ResolveSource(ctx, "teamb", tt.unknown, tt.param, work, filepath.Join(scratch, "b"))
			if errOther == nil || errUnknown == nil {
				t.Fatalf("team B resolving team A's %s: %v; an unknown id: %v; want both refused", tt.name, errOther, errUnknown)
			}
			if got, want := strings.ReplaceAll(errOther.Error(), tt.ref, "ID"), strings.ReplaceAll(errUnknown.Error(), tt.unknown, "ID"); got != want {
				t.Errorf("resolve another team's id: %q\nan unknown id:              %q\nwant the same", got, want)
			}
			if !agent.IsPermanent(errOther) {
				t.Errorf("refusal %v is not permanent: the node would retry", errOther)
			}
		})
	}
}

// modelOf returns the model job's node registered.
func modelOf(t *testing.T, b *bundle, jobID, nodeID string) *store.Model {
	t.Helper()
	models, _, err := b.p.Store.ListModels(context.Background(), store.ListParams{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range models {
		if m.JobID == jobID && m.NodeID == nodeID {
			return m
		}
	}
	t.Fatalf("no model of job %s node %s", jobID, nodeID)
	return nil
}

// TestSourcesFit: a stored object of the team is refused at submission,
// on its node and param, when it is not what the param takes: a registered
// model that keeps no tokenizer (a PEFT adapter, a GGUF export) as a
// tokenizer, with what is missing and what to name instead; an uploaded
// dataset as a model or a tokenizer.
func TestSourcesFit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	j := b.wait(t, b.submit(t, `
name: adapter
nodes: [{id: tune, agent: step, params: {weights: "adapter weights"}}]
`).ID, 30*time.Second)
	if j.Status != store.Succeeded {
		t.Fatalf("job %s: %s", j.Status, j.Error)
	}
	adapter := modelOf(t, b, j.ID, "tune")
	ds := &store.Dataset{ID: store.NewID("ds"), Name: "a.jsonl", Size: 3, SHA256: "cd", Format: "jsonl",
		BlobKey: "datasets/x/a.jsonl", CreatedAt: time.Now().UTC(), Version: "sha256:cd"}
	if err := b.p.Store.InTx(ctx, func(tx store.Tx) error { return tx.CreateDataset(ctx, ds) }); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, param, ref string
		want             []string // parts of the message
	}{
		{"adapter as a tokenizer", "tokenizer", adapter.ID,
			[]string{"registered model " + adapter.ID, "(adapter/tune/model)", "keeps no tokenizer (tokenizer.json or tokenizer.model;", "merged model"}},
		{"dataset as a tokenizer", "tokenizer", ds.ID, []string{`"` + ds.ID + `" is an uploaded dataset, not a tokenizer`}},
		{"dataset as a model", "model", ds.ID, []string{`"` + ds.ID + `" is an uploaded dataset, not a model`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := pipeline.Parse([]byte(`{"name": "uses", "nodes": [{"id": "prep", "agent": "step", "params": {"` + tt.param + `": "` + tt.ref + `"}}]}`))
			if err != nil {
				t.Fatal(err)
			}
			_, err = b.p.Orch.Submit(ctx, s, "")
			var ve *pipeline.ValidationError
			if !errors.As(err, &ve) || len(ve.Errors) != 1 {
				t.Fatalf("error %v, want one *pipeline.ValidationError", err)
			}
			e := ve.Errors[0]
			if e.Node != "prep" || e.Field != "params."+tt.param {
				t.Errorf("refusal on %s.%s, want prep.params.%s", e.Node, e.Field, tt.param)
			}
			for _, w := range tt.want {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q lacks %q", e.Message, w)
				}
			}
		})
	}
}
