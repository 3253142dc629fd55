package orchestrate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/auth"
	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/pipeline"
	"github.com/whetstone/whetstone/internal/store"
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
	return d.Kind == "path" || d.Kind == "dataset" || d.Kind == "model" || d.Name == "source"
}

// CheckSources returns a *pipeline.ValidationError naming the node and
// param of every stored-object reference (see storedRef) in v that the
// caller's team (auth.TeamOf) may not read. v must have passed validation.
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
