package orchestrate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/auth"
	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/export"
	"github.com/whetstone/whetstone/internal/pipeline"
	"github.com/whetstone/whetstone/internal/store"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

// errNoSource is returned for a stored-object reference team may not read:
// an unknown id and another team's id get the same error, so a refusal
// never tells whether the object exists.
var errNoSource = fmt.Errorf("no uploaded dataset, registered model or job artifact of this team: %w", store.ErrNotFound)

// storedRef reports whether ref names a stored object by id (an uploaded
// dataset ds_..., a registered model mdl_..., or a blob: artifact key)
// rather than a server path.
func storedRef(ref string) bool {
	return strings.HasPrefix(ref, "ds_") || strings.HasPrefix(ref, "mdl_") || strings.HasPrefix(ref, agent.BlobRef)
}

// storedSource is the one place that decides which stored objects a job of
// team may read: it returns the blob key of ref (see storedRef) when it is
// team's, else an error wrapping errNoSource. A blob: key must lie under a
// job or an uploaded dataset of team (jobs/<job>/..., datasets/<ds>/...).
// name is the file name an uploaded dataset keeps ("" for the others).
func (o *Orchestrator) storedSource(ctx context.Context, team, ref string) (key, name string, err error) {
	r := o.st.ForTeam(store.TeamOr(team))
	switch {
	case strings.HasPrefix(ref, "ds_"):
		var ds *store.Dataset
		if ds, err = r.GetDataset(ctx, ref); err == nil {
			key, name = ds.BlobKey, ds.Name
		}
	case strings.HasPrefix(ref, "mdl_"):
		var m *store.Model
		if m, err = r.GetModel(ctx, ref); err == nil {
			key = m.URI
		}
	case strings.HasPrefix(ref, agent.BlobRef):
		key = strings.TrimPrefix(ref, agent.BlobRef)
		if err := blob.ValidPrefix(key); err != nil || key == "" {
			return "", "", agent.Permanent(fmt.Errorf("source %q: %w", ref, blob.ErrInvalidKey))
		}
		top, rest, _ := strings.Cut(key, "/")
		owner, _, _ := strings.Cut(rest, "/")
		switch {
		case owner == "":
			err = store.ErrNotFound
		case top == "jobs":
			_, err = r.GetJob(ctx, owner)
		case top == "datasets":
			_, err = r.GetDataset(ctx, owner)
		default:
			err = store.ErrNotFound
		}
	default:
		return "", "", fmt.Errorf("source %q: not a stored object reference", ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return "", "", fmt.Errorf("%q: %w", ref, errNoSource)
	}
	if err != nil {
		return "", "", fmt.Errorf("source %q: %w", ref, err)
	}
	return key, name, nil
}

// sourceParam reports whether param d may name a source (a server path or
// a stored object), as fileFacts and ResolveSource treat it.
func sourceParam(d agent.Param) bool {
	switch d.Kind {
	case "path", "dataset", "model", "tokenizer":
		return true
	}
	return d.Name == "source"
}

// CheckSources returns a *pipeline.ValidationError naming the node and
// param of every stored-object reference (see storedRef) in v that the
// caller's team (auth.TeamOf) may not read, or that is not what its param
// takes (sourceFits): an uploaded dataset as a model or tokenizer, a
// registered model that keeps no tokenizer as a tokenizer. v must have
// passed validation.
func (o *Orchestrator) CheckSources(ctx context.Context, v *pipeline.Spec) error {
	team := auth.TeamOf(ctx)
	var errs []pipeline.FieldError
	for _, n := range v.Nodes {
		ag, ok := o.reg.Lookup(n.Agent)
		if !ok {
			continue
		}
		for _, d := range ag.Spec().Params {
			if !sourceParam(d) {
				continue
			}
			var refs []string
			var fields []string
			switch val := n.Params[d.Name].(type) {
			case string:
				refs, fields = append(refs, val), append(fields, "params."+d.Name)
			case []any:
				for i, e := range val {
					if s, ok := e.(string); ok {
						refs, fields = append(refs, s), append(fields, fmt.Sprintf("params.%s[%d]", d.Name, i))
					}
				}
			}
			for i, ref := range refs {
				if !storedRef(ref) {
					continue
				}
				_, _, err := o.storedSource(ctx, team, ref)
				if err == nil {
					var msg string
					if msg, err = o.sourceFits(ctx, team, d, ref); msg != "" {
						errs = append(errs, pipeline.FieldError{Node: n.ID, Field: fields[i], Message: msg})
						continue
					}
				}
				switch {
				case errors.Is(err, errNoSource):
					errs = append(errs, pipeline.FieldError{Node: n.ID, Field: fields[i], Message: err.Error()})
				case err != nil && agent.IsPermanent(err):
					errs = append(errs, pipeline.FieldError{Node: n.ID, Field: fields[i], Message: err.Error()})
				case err != nil:
					return fmt.Errorf("check sources: node %s: %w", n.ID, err)
				}
			}
		}
	}
	if len(errs) > 0 {
		return &pipeline.ValidationError{Errors: errs}
	}
	return nil
}

// sourceFits returns why ref, a stored object of team that param d names,
// is not what d takes, or "": a model or tokenizer param takes no uploaded
// dataset, and a tokenizer param takes a registered model only when it
// keeps a tokenizer (tokenizer.Holds on its files: a merged model does, a
// PEFT adapter or a GGUF export does not).
func (o *Orchestrator) sourceFits(ctx context.Context, team string, d agent.Param, ref string) (string, error) {
	if d.Kind != "model" && d.Kind != "tokenizer" {
		return "", nil
	}
	if strings.HasPrefix(ref, "ds_") {
		return fmt.Sprintf("%q is an uploaded dataset, not a %s: name a model folder or a registered model (mdl_...)", ref, d.Kind), nil
	}
	if d.Kind != "tokenizer" || !strings.HasPrefix(ref, "mdl_") {
		return "", nil
	}
	r := o.st.ForTeam(store.TeamOr(team))
	m, err := r.GetModel(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("source %q: %w", ref, err)
	}
	if tokenizer.Holds(m.Files) {
		return "", nil
	}
	hint := "name a merged model (an export node with formats: [merged] registers one) or a tokenizer folder"
	if j, err := r.GetJob(ctx, m.JobID); err == nil {
		for _, n := range j.Nodes {
			for _, a := range n.Outputs {
				if a.Type == agent.Model && a.Name == export.FormatMerged {
					hint = fmt.Sprintf("name the merged model its job registered (%s/%s/%s, on the Models page) or a tokenizer folder", j.Name, n.ID, a.Name)
				}
			}
		}
	}
	return fmt.Sprintf("registered model %s (%s) keeps no tokenizer (%s; a PEFT adapter or a GGUF export has none): %s", ref, m.Name, tokenizer.Needs, hint), nil
}
