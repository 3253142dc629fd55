// Package remove deletes registered models and uploaded datasets: the one
// place that does it, for /api/v1 (DELETE /models/{id}, /datasets/{id}) and
// OpenAI's DELETE /v1/models/{model}.
//
// A deletion is refused (*InUseError, which wraps store.ErrConflict) while
// a pending or running job of the item's team names it in a node's params
// (by id, or by a blob: reference under its files) or, for a model, is the
// job that made it (its later nodes read it), and, for a model, while
// another model of its team is a LoRA adapter trained on it (its
// meta.base_model names it): an adapter cannot be loaded without its base.
// Force skips that second check only: the adapters stay, their files still
// downloadable, but they can no longer be served or trained further here.
// Models trained on a deleted dataset or on a deleted full model keep
// working: their files are self-contained; their lineage keeps naming it.
//
// A paused fine-tuning job of the OpenAI API (its record
// openai/jobs/ID.json says paused; its pipeline was cancelled, and resume
// submits that pipeline again) counts as using what its last pipeline's
// params name, as a pending or running job does: the refusal names the
// ftjob-… id (InUseError.Paused). Its record is read outside the
// transaction: a job paused in the same instant may be missed.
//
// The record goes first, in one transaction with the checks (so no job
// started after them is missed by SQLite; on PostgreSQL a job submitted in
// the same instant fails when it reads the source, with "not found"). Then
// the files: a blob that fails to go is logged, not retried; the record is
// already gone, and the files lie under their job's folder (jobs/ID/), which
// retention removes with the job (a job whose models are all deleted is no
// longer kept for them), or under datasets/ID/, which its orphan sweep
// removes.
package remove

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/store"
)

// InUseError is a deletion refused because something still needs the item.
// It wraps store.ErrConflict.
type InUseError struct {
	Kind string // "model" or "dataset"
	ID   string
	// Jobs are the pending or running jobs that use it.
	Jobs []string
	// Paused are the paused (resumable) OpenAI fine-tuning jobs (ftjob-…)
	// whose pipeline uses it.
	Paused []string
	// Adapters are the models (id and name) that need it as their base.
	Adapters []string
}

func (e *InUseError) Error() string {
	switch {
	case len(e.Jobs) > 0 && len(e.Paused) > 0:
		return fmt.Sprintf("%s %s is in use by queued or running job %s and paused fine-tuning job %s: cancel them or wait for the running ones to end, then delete it",
			e.Kind, e.ID, some(e.Jobs), some(e.Paused))
	case len(e.Jobs) > 0:
		return fmt.Sprintf("%s %s is in use by queued or running job %s: cancel %s or wait for %s to end, then delete it",
			e.Kind, e.ID, some(e.Jobs), them(len(e.Jobs), "it"), them(len(e.Jobs), "it"))
	case len(e.Paused) > 0:
		verb := "resumes"
		if len(e.Paused) > 1 {
			verb = "resume"
		}
		return fmt.Sprintf("%s %s is in use by paused fine-tuning job %s, which %s with it: cancel %s, then delete it",
			e.Kind, e.ID, some(e.Paused), verb, them(len(e.Paused), "it"))
	}
	return fmt.Sprintf("%s %s is the base model of LoRA adapter %s, which cannot be used without it: delete %s first, or delete with force=true to keep %s without a base",
		e.Kind, e.ID, some(e.Adapters), them(len(e.Adapters), "it"), them(len(e.Adapters), "it"))
}

// maxNamed is how many jobs or adapters a refusal's text names: the API
// cuts error messages past 2,000 characters, which took the force=true
// hint (that the web UI looks for) off the end of a long list.
const maxNamed = 5

// some joins the first maxNamed of l and says how many more there are.
func some(l []string) string {
	if len(l) <= maxNamed {
		return strings.Join(l, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(l[:maxNamed], ", "), len(l)-maxNamed)
}

func them(n int, it string) string {
	if n == 1 {
		return it
	}
	return "them"
}

// Unwrap makes an InUseError a store.ErrConflict.
func (e *InUseError) Unwrap() error { return store.ErrConflict }

// Deleter deletes models and datasets from Store and their files from Blobs.
type Deleter struct {
	Store store.Store
	Blobs blob.Store
	// Logger receives the files that could not be deleted; nil discards.
	Logger *slog.Logger
}

// Model deletes model id as rd (the caller's reader: auth.Reader) sees it:
// ErrNotFound (wrapped) when rd does not see it, an *InUseError when a job
// or, unless force, an adapter needs it. It returns the deleted model.
func (d *Deleter) Model(ctx context.Context, rd store.Reader, id string, force bool) (*store.Model, error) {
	m, err := rd.GetModel(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("delete model %q: %w", id, err)
	}
	shared := false
	err = d.Store.InTx(ctx, func(tx store.Tx) error {
		if _, err := tx.GetModel(ctx, id); err != nil {
			return err
		}
		jobs, err := usedBy(ctx, tx, m.Team, m.JobID, id, m.URI)
		if err != nil {
			return err
		}
		paused, err := d.pausedUsers(ctx, tx, m.Team, id, m.URI)
		if err != nil {
			return err
		}
		if len(jobs) > 0 || len(paused) > 0 {
			return &InUseError{Kind: "model", ID: id, Jobs: jobs, Paused: paused}
		}
		var adapters []string
		shared, adapters, err = others(ctx, tx, m)
		if err != nil {
			return err
		}
		if len(adapters) > 0 && !force {
			return &InUseError{Kind: "model", ID: id, Adapters: adapters}
		}
		return tx.DeleteModel(ctx, id)
	})
	if err != nil {
		return nil, fmt.Errorf("delete model %q: %w", id, err)
	}
	if shared {
		d.log().WarnContext(ctx, "deleted model's files kept: another model's files lie in the same folder",
			slog.String("model_id", id), slog.String("uri", m.URI))
		return m, nil
	}
	d.deleteFiles(ctx, "model", id, m.URI)
	return m, nil
}

// Dataset deletes uploaded dataset id as rd sees it: ErrNotFound (wrapped)
// when rd does not see it, an *InUseError when a pending or running job
// reads it. It returns the deleted dataset.
func (d *Deleter) Dataset(ctx context.Context, rd store.Reader, id string) (*store.Dataset, error) {
	ds, err := rd.GetDataset(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("delete dataset %q: %w", id, err)
	}
	err = d.Store.InTx(ctx, func(tx store.Tx) error {
		if _, err := tx.GetDataset(ctx, id); err != nil {
			return err
		}
		jobs, err := usedBy(ctx, tx, ds.Team, "", id, ds.BlobKey, "datasets/"+id+"/")
		if err != nil {
			return err
		}
		paused, err := d.pausedUsers(ctx, tx, ds.Team, id, ds.BlobKey, "datasets/"+id+"/")
		if err != nil {
			return err
		}
		if len(jobs) > 0 || len(paused) > 0 {
			return &InUseError{Kind: "dataset", ID: id, Jobs: jobs, Paused: paused}
		}
		return tx.DeleteDataset(ctx, id)
	})
	if err != nil {
		return nil, fmt.Errorf("delete dataset %q: %w", id, err)
	}
	d.deleteFiles(ctx, "dataset", id, ds.BlobKey)
	// An upload's folder (datasets/ID/) holds nothing else of anyone's.
	d.deleteFiles(ctx, "dataset", id, "datasets/"+id+"/")
	return ds, nil
}

func (d *Deleter) log() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

// deleteFiles deletes key, or every object under it when it ends in "/".
// Failures are logged (see the package comment).
func (d *Deleter) deleteFiles(ctx context.Context, kind, id, key string) {
	if key == "" {
		return
	}
	ctx = context.WithoutCancel(ctx) // the record is gone: finish even if the client left
	fail := func(key string, err error) {
		d.log().ErrorContext(ctx, "deleted "+kind+"'s file not deleted; retention removes it with its folder",
			slog.String(kind+"_id", id), slog.String("key", key), slog.Any("error", err))
	}
	if !strings.HasSuffix(key, "/") {
		if err := d.Blobs.Delete(ctx, key); err != nil {
			fail(key, err)
		}
		return
	}
	l, err := d.Blobs.List(ctx, key)
	if err != nil {
		fail(key, err)
		return
	}
	for _, i := range l {
		if err := d.Blobs.Delete(ctx, i.Key); err != nil {
			fail(i.Key, err)
		}
	}
}

// usedBy returns the pending or running jobs of team whose node params
// name id, or a blob: reference to one of keys or to an object under one
// of them (those ending in "/"), and job owner ("" for none) while it is
// pending or running: the job that made a model passes it to its later
// nodes (evaluate, export) as an artifact, named in no params.
func usedBy(ctx context.Context, tx store.Tx, team, owner, id string, keys ...string) ([]string, error) {
	active, err := tx.ActiveJobs(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, jid := range active {
		j, err := tx.GetJob(ctx, jid)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if store.TeamOr(j.Team) != store.TeamOr(team) {
			continue // another team's job can read none of team's objects
		}
		if owner != "" && j.ID == owner {
			out = append(out, j.ID)
			continue
		}
		for _, n := range j.Nodes {
			if names(n.Params, id, keys) {
				out = append(out, j.ID)
				break
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// FineTuningJobs is where the OpenAI API keeps its fine-tuning job
// records (package openai): openai/jobs/ID.json.
const FineTuningJobs = "openai/jobs/"

// fineTuningJob is what pausedUsers reads of a record: the fields package
// openai's job record stores under these names.
type fineTuningJob struct {
	ID           string   `json:"id"`
	Team         string   `json:"team"`
	Paused       bool     `json:"paused"`
	Cancelled    bool     `json:"cancelled"`
	Final        bool     `json:"final"`
	PipelineJobs []string `json:"pipeline_jobs"`
}

// pausedUsers returns the paused fine-tuning jobs of team (their records
// under FineTuningJobs) whose last pipeline's node params name id or keys,
// as usedBy reads them: resume submits that pipeline again. A pipeline
// still pending or running is usedBy's; a job cancelled or ended is not
// resumable.
func (d *Deleter) pausedUsers(ctx context.Context, tx store.Tx, team, id string, keys ...string) ([]string, error) {
	l, err := d.Blobs.List(ctx, FineTuningJobs)
	if err != nil {
		return nil, fmt.Errorf("list fine-tuning jobs: %w", err)
	}
	var out []string
	for _, i := range l {
		name := strings.TrimPrefix(i.Key, FineTuningJobs)
		if strings.Contains(name, "/") || !strings.HasSuffix(name, ".json") {
			continue
		}
		rec, err := d.readJob(ctx, i.Key)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			continue
		}
		if !rec.Paused || rec.Cancelled || rec.Final || len(rec.PipelineJobs) == 0 || store.TeamOr(rec.Team) != store.TeamOr(team) {
			continue
		}
		j, err := tx.GetJob(ctx, rec.PipelineJobs[len(rec.PipelineJobs)-1])
		if errors.Is(err, store.ErrNotFound) {
			continue // retention removed it: resume cannot read it either
		}
		if err != nil {
			return nil, err
		}
		if j.Status == store.Pending || j.Status == store.Running {
			continue // usedBy names it
		}
		for _, n := range j.Nodes {
			if names(n.Params, id, keys) {
				out = append(out, rec.ID)
				break
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// readJob reads a fine-tuning job record; nil when it is gone or
// unreadable JSON (logged: one broken record must not refuse every
// deletion).
func (d *Deleter) readJob(ctx context.Context, key string) (*fineTuningJob, error) {
	o, err := d.Blobs.Open(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, nil // deleted since the listing
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	defer o.Close()
	var rec fineTuningJob
	if err := json.NewDecoder(io.LimitReader(o, 1<<20)).Decode(&rec); err != nil {
		d.log().WarnContext(ctx, "fine-tuning job record unreadable; not counted as using anything", slog.String("key", key), slog.Any("error", err))
		return nil, nil
	}
	return &rec, nil
}

// names reports whether v (a params value) holds a string that is id, a
// blob: reference to keys or to a folder holding one of them.
func names(v any, id string, keys []string) bool {
	switch v := v.(type) {
	case string:
		return refers(v, id, keys) || holds(v, keys)
	case map[string]any:
		for _, e := range v {
			if names(e, id, keys) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if names(e, id, keys) {
				return true
			}
		}
	case []string:
		for _, e := range v {
			if refers(e, id, keys) || holds(e, keys) {
				return true
			}
		}
	}
	return false
}

func refers(s, id string, keys []string) bool {
	if s == id {
		return true
	}
	k, ok := strings.CutPrefix(s, agent.BlobRef)
	if !ok {
		return false
	}
	for _, key := range keys {
		if key == "" {
			continue
		}
		if k == key || strings.TrimSuffix(k, "/") == strings.TrimSuffix(key, "/") ||
			(strings.HasSuffix(key, "/") && strings.HasPrefix(k, key)) {
			return true
		}
	}
	return false
}

// holds reports whether s is a blob: reference to a folder that holds one
// of keys (a job's folder source, blob:jobs/J/, reads every model in it).
func holds(s string, keys []string) bool {
	k, ok := strings.CutPrefix(s, agent.BlobRef)
	if !ok || k == "" {
		return false
	}
	dir := strings.TrimSuffix(k, "/") + "/"
	for _, key := range keys {
		if key != "" && strings.HasPrefix(key, dir) {
			return true
		}
	}
	return false
}

// adapterFormats are the model formats that need their base to load.
var adapterFormats = []string{"peft-lora", "adapter"}

// BaseOf returns the base model m needs to load, as its pipeline named it
// (meta.base_model: a registered model's id, a blob: reference to its
// files, or a server path), when m is a LoRA adapter; "" for any other
// model, which needs none. A registered base (mdl_ id) may be gone: Model
// with force deletes it and keeps its adapters.
func BaseOf(m *store.Model) string {
	if !slices.Contains(adapterFormats, m.Format()) {
		return ""
	}
	b, _ := m.Meta["base_model"].(string)
	return b
}

// others reads every other model: whether one's files overlap m's (the
// same key, or one folder inside the other), and which of m's team are
// adapters whose base is m ("ID (NAME)").
func others(ctx context.Context, tx store.Tx, m *store.Model) (shared bool, adapters []string, err error) {
	var after *store.Cursor
	for {
		l, _, err := tx.ListModels(ctx, store.ListParams{Limit: 1000, After: after})
		if err != nil {
			return false, nil, err
		}
		if len(l) == 0 {
			break
		}
		for _, o := range l {
			if o.ID == m.ID {
				continue
			}
			if overlap(o.URI, m.URI) {
				shared = true
			}
			if store.TeamOr(o.Team) == store.TeamOr(m.Team) && baseIs(o, m) {
				adapters = append(adapters, fmt.Sprintf("%s (%s)", o.ID, o.Name))
			}
		}
		after = store.CursorOf(l[len(l)-1])
	}
	slices.Sort(adapters)
	return shared, adapters, nil
}

// baseIs reports whether o was trained on m: its meta.base_model names m
// (by id, or by a blob: reference to m's files, as a node after m's in the
// same job names it).
func baseIs(o, m *store.Model) bool {
	b := BaseOf(o)
	return b != "" && refers(b, m.ID, []string{m.URI})
}

// overlap reports whether blob keys a and b are the same object or one
// folder ("…/") holds the other.
func overlap(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	if a == b {
		return true
	}
	return (strings.HasSuffix(a, "/") && strings.HasPrefix(b, a)) || (strings.HasSuffix(b, "/") && strings.HasPrefix(a, b))
}
