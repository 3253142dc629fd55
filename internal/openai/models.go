package openai

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/whetstone/whetstone/internal/auth"
	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/pipeline"
	"github.com/whetstone/whetstone/internal/remove"
	"github.com/whetstone/whetstone/internal/serving"
	"github.com/whetstone/whetstone/internal/store"
)

// Model is OpenAI's model object.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func openFile(path string) (*os.File, error) { return os.Open(path) }

// baseModel resolves a model id to fine-tune: a folder under BaseModels, or
// a full model a pipeline exported (a store model id whose folder holds
// config.json). It returns the model's local folder.
func (s *Server) baseModel(ctx context.Context, id string) (string, bool, error) {
	if dir, ok := s.baseDir(id); ok {
		return dir, true, nil
	}
	if strings.HasPrefix(id, "mdl_") {
		m, err := auth.Reader(ctx, s.Store).GetModel(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		dir, err := s.localDir(ctx, m.URI)
		if err != nil {
			return "", false, err
		}
		if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
			return dir, true, nil
		}
	}
	return "", false, nil
}

// baseDir returns BaseModels/id when it is a model folder.
func (s *Server) baseDir(id string) (string, bool) {
	if s.BaseModels == "" || id == "" || id != filepath.Base(id) || strings.HasPrefix(id, ".") {
		return "", false
	}
	dir := filepath.Join(s.BaseModels, id)
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		return "", false
	}
	return dir, true
}

// localDir returns a local folder holding the blob folder uri: the blob
// store's own file when it is local, else a copy under CacheDir.
func (s *Server) localDir(ctx context.Context, uri string) (string, error) {
	key := strings.TrimSuffix(uri, "/") + "/"
	if l, ok := s.Blobs.(blob.Localizer); ok {
		if p, err := l.LocalPath(key); err == nil {
			return p, nil
		}
	}
	dst := filepath.Join(s.CacheDir, "models", filepath.FromSlash(strings.TrimSuffix(key, "/")))
	if _, err := os.Stat(filepath.Join(dst, ".complete")); err == nil {
		return dst, nil
	}
	if _, err := blob.DownloadDir(ctx, s.Blobs, key, dst); err != nil {
		return "", fmt.Errorf("copy %s: %w", key, err)
	}
	return dst, os.WriteFile(filepath.Join(dst, ".complete"), nil, 0o644)
}

// catalogue lists every model the inference API serves.
func (s *Server) catalogue(r *http.Request) ([]Model, error) {
	var out []Model
	if s.BaseModels != "" {
		ents, err := os.ReadDir(s.BaseModels)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("base models: %w", err)
		}
		for _, e := range ents {
			if dir, ok := s.baseDir(e.Name()); ok {
				out = append(out, baseModelOf(e.Name(), dir))
			}
		}
	}
	ids, err := s.listIDs(r.Context(), jobsPrefix)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		rec, err := s.loadJob(r, id)
		var ae *apiError
		if errors.As(err, &ae) {
			continue // another team's
		}
		if err != nil {
			return nil, err
		}
		m, _, err := s.fineTunedModel(r, rec, "")
		if errors.As(err, &ae) {
			continue // not (or no longer) a model
		}
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	// Pages by key (after the last model read), not by offset: a model
	// registered or deleted while the pages are read shifts no later page,
	// so none is skipped or read twice.
	st := auth.Reader(r.Context(), s.Store)
	var after *store.Cursor
	for {
		ms, _, err := st.ListModels(r.Context(), store.ListParams{Limit: modelPage, After: after})
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if servable(m) { // (the store reader is registered's)
				out = append(out, exported(m))
			}
		}
		if len(ms) == 0 { // (not len < modelPage: the store may return fewer)
			break
		}
		after = store.CursorOf(ms[len(ms)-1])
	}
	return out, nil
}

// modelPage is how many registered models one store query reads (the
// store's most).
const modelPage = 1000

// servable reports whether a registered model is one /v1 serves (chat,
// completions, GET /v1/models): a trained model (a PEFT LoRA adapter or a
// full Hugging Face model) or an exported adapter or merged model; not a
// GGUF export, nor any other node output, which the engine cannot load.
func servable(m *store.Model) bool {
	switch m.Format() {
	case "peft-lora", "hf", "adapter", "merged":
		return true
	}
	return false
}

// registered returns the registered model id as /v1 serves it to the
// caller: one the caller may read (auth.Reader: its team's, every team's
// for an admin) that is servable, else model_not_found. It is the one
// place that decides which mdl_ ids exist for /v1: chat and completions
// (target), GET and DELETE /v1/models/{id} ask it, and the list
// (catalogue) reads through the same reader with the same servable.
func (s *Server) registered(ctx context.Context, id string) (*store.Model, error) {
	m, err := auth.Reader(ctx, s.Store).GetModel(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !servable(m)) {
		return nil, modelNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// fineTunedModel returns the model fine-tuning job rec (the caller's: see
// loadJob) serves under id, its fine_tuned_model or that name's checkpoint
// (NAME:ckpt-step-N), "" meaning the name itself, with the job's current
// record; model_not_found when the job has no such model (not succeeded,
// its model deleted, another name). The one place that decides which ft:
// names exist for /v1: chat and completions (target), GET /v1/models/{id}
// and the list (catalogue) ask it.
func (s *Server) fineTunedModel(r *http.Request, rec *jobRec, id string) (Model, *jobRec, error) {
	j, err := s.refresh(r, rec)
	if err != nil {
		return Model{}, nil, err
	}
	if j.Status != "succeeded" || j.FineTunedModel == nil {
		return Model{}, nil, modelNotFound(cmp.Or(id, rec.ID))
	}
	name := *j.FineTunedModel
	if id == "" {
		id = name
	}
	if step, ok := strings.CutPrefix(id, name+":ckpt-step-"); id != name && (!ok || !digits(step)) {
		return Model{}, nil, modelNotFound(id)
	}
	var cur jobRec
	if ok, err := s.getJSON(r.Context(), jobKey(rec.ID), &cur); err != nil {
		return Model{}, nil, err
	} else if !ok || cur.ModelDeleted {
		return Model{}, nil, modelNotFound(id)
	}
	created := j.CreatedAt
	if j.FinishedAt != nil {
		created = *j.FinishedAt
	}
	return Model{ID: id, Object: "model", Created: created, OwnedBy: store.TeamOr(rec.Team)}, &cur, nil
}

// fineTunedJob returns the fine-tuning job of the caller's team an ft:
// model id names, or model_not_found.
func (s *Server) fineTunedJob(r *http.Request, id string) (*jobRec, error) {
	parts := strings.Split(id, ":")
	jobID := "ftjob-" + parts[len(parts)-1]
	if len(parts) == 6 && strings.HasPrefix(parts[5], "ckpt-step-") {
		jobID = "ftjob-" + parts[4]
	}
	rec, err := s.loadJob(r, jobID)
	var ae *apiError
	if errors.As(err, &ae) {
		return nil, modelNotFound(id)
	}
	return rec, err
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// baseModelOf is base model id (in folder dir) as a model object.
func baseModelOf(id, dir string) Model {
	var created int64
	if fi, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		created = fi.ModTime().Unix()
	}
	return Model{ID: id, Object: "model", Created: created, OwnedBy: "system"}
}

func exported(m *store.Model) Model {
	return Model{ID: m.ID, Object: "model", Created: m.CreatedAt.Unix(), OwnedBy: "whetstone"}
}

func modelIDOf(m Model) string { return m.ID }

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.catalogue(r)
	if err != nil {
		return err
	}
	sort.SliceStable(ms, func(a, b int) bool { return ms[a].Created > ms[b].Created })
	s.writeJSON(w, http.StatusOK, newList(ms, false, nil))
	return nil
}

// getModel is GET /v1/models/{id}: the model chat would serve under id
// (the same lookups as target), in OpenAI's model shape.
func (s *Server) getModel(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	switch {
	case strings.HasPrefix(id, "mdl_"):
		m, err := s.registered(r.Context(), id)
		if err != nil {
			return err
		}
		s.writeJSON(w, http.StatusOK, exported(m))
		return nil
	case strings.HasPrefix(id, "ft:"):
		rec, err := s.fineTunedJob(r, id)
		if err != nil {
			return err
		}
		m, _, err := s.fineTunedModel(r, rec, id)
		if err != nil {
			return err
		}
		s.writeJSON(w, http.StatusOK, m)
		return nil
	}
	if dir, ok := s.baseDir(id); ok {
		s.writeJSON(w, http.StatusOK, baseModelOf(id, dir))
		return nil
	}
	return modelNotFound(id)
}

func modelNotFound(id string) error {
	return &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Param: "model", Code: "model_not_found",
		Message: fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", id)}
}

// target resolves a model id to what the engine loads: a base folder, a
// fine-tuned job's adapter on its base, or an exported model.
func (s *Server) target(r *http.Request, id string) (serving.Target, error) {
	if dir, ok := s.baseDir(id); ok {
		return serving.Target{Base: dir}, nil
	}
	if strings.HasPrefix(id, "ft:") {
		rec, err := s.fineTunedJob(r, id)
		if err != nil {
			return serving.Target{}, err
		}
		_, cur, err := s.fineTunedModel(r, rec, id)
		if err != nil {
			return serving.Target{}, err
		}
		dir, err := s.localDir(r.Context(), cur.AdapterURI)
		if err != nil {
			return serving.Target{}, err
		}
		return adapterOrModel(dir, cur.BaseDir), nil
	}
	if strings.HasPrefix(id, "mdl_") {
		m, err := s.registered(r.Context(), id)
		if err != nil {
			return serving.Target{}, err
		}
		dir, err := s.localDir(r.Context(), m.URI)
		if err != nil {
			return serving.Target{}, err
		}
		base, _ := m.Meta["base_model"].(string)
		t := adapterOrModel(dir, base)
		if t.Adapter == "" {
			return t, nil
		}
		b, ok, err := s.adapterBase(r.Context(), m, t.Base)
		if err != nil {
			return serving.Target{}, err
		}
		if !ok {
			return serving.Target{}, modelNotFound(id)
		}
		t.Base = b
		return t, nil
	}
	return serving.Target{}, modelNotFound(id)
}

// adapterBase returns the local folder of the base model of adapter m, as
// its pipeline named it (base): a registered model of the caller's team by
// its id (a continued fine-tune: loading the id as a path failed with a
// 500), or a server path, a relative one
// in the folder of m's job, that the server's file sandbox allows (it was
// allowed at submission, against that folder, not the server's working
// folder). false when there is no such base.
func (s *Server) adapterBase(ctx context.Context, m *store.Model, base string) (string, bool, error) {
	if base == "" {
		return "", false, nil
	}
	if strings.HasPrefix(base, "mdl_") {
		return s.baseModel(ctx, base)
	}
	p := base
	if !filepath.IsAbs(p) {
		j, err := auth.Reader(ctx, s.Store).GetJob(ctx, m.JobID)
		if errors.Is(err, store.ErrNotFound) {
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		p = filepath.Join(j.WorkDir, p)
	}
	if o, ok := s.Orch.(interface{ Paths() pipeline.PathPolicy }); ok && o.Paths() != nil {
		if _, err := o.Paths().Resolve(p); err != nil {
			return "", false, nil
		}
	}
	return p, true, nil
}

// adapterOrModel reads a trained folder: a PEFT adapter (served on base, or
// on the base its adapter_config.json names) or a full model.
func adapterOrModel(dir, base string) serving.Target {
	b, err := os.ReadFile(filepath.Join(dir, "adapter_config.json"))
	if err != nil {
		return serving.Target{Base: dir}
	}
	if base == "" {
		var ac struct {
			Base string `json:"base_model_name_or_path"`
		}
		json.Unmarshal(b, &ac)
		base = ac.Base
	}
	return serving.Target{Base: base, Adapter: dir}
}

// deleteModel is DELETE /v1/models/{model}: a fine-tuned model of the
// caller's team, by its ft: name (the job's trained model and the models
// its pipeline exported) or as an exported mdl_ id, through the one
// deleter (package remove) /api/v1 uses. Base models are not deletable
// (403); a model a queued or running job uses is a 409 naming the job.
func (s *Server) deleteModel(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	d := &remove.Deleter{Store: s.Store, Blobs: s.Blobs, Logger: s.Logger}
	rd := auth.Reader(r.Context(), s.Store)
	var err error
	switch {
	case strings.HasPrefix(id, "mdl_"):
		if _, gerr := s.registered(r.Context(), id); gerr != nil {
			return gerr
		}
		_, err = d.Model(r.Context(), rd, id, false)
	case strings.HasPrefix(id, "ft:"):
		err = s.deleteFineTuned(r, d, rd, id)
	default:
		if _, ok := s.baseDir(id); ok {
			return &apiError{Status: http.StatusForbidden, Type: "invalid_request_error", Param: "model", Code: "model_not_deletable",
				Message: fmt.Sprintf("The model `%s` is a base model and cannot be deleted; only fine-tuned models your team owns can.", id)}
		}
		return modelNotFound(id)
	}
	var inUse *remove.InUseError
	switch {
	case errors.As(err, &inUse):
		return &apiError{Status: http.StatusConflict, Type: "invalid_request_error", Param: "model", Code: "model_in_use", Message: inUse.Error() + "."}
	case errors.Is(err, store.ErrNotFound):
		return modelNotFound(id)
	case err != nil:
		return err
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "model", "deleted": true})
	return nil
}

// deleteFineTuned deletes the model a fine-tuning job of the caller's team
// made (id is its fine_tuned_model exactly; a checkpoint is not deletable
// alone): the trained model the ft: name serves first (nothing is deleted
// when it is refused), then the job is marked so the name is gone from
// /v1/models, then the models its pipeline exported (one refused is kept,
// logged: it stays listed by its mdl_ id).
func (s *Server) deleteFineTuned(r *http.Request, d *remove.Deleter, rd store.Reader, id string) error {
	// The same lookups as chat and GET /v1/models/{id} (a failure to read
	// the job's record is the server's, not a 404).
	rec, err := s.fineTunedJob(r, id)
	if err != nil {
		return err
	}
	_, cur, err := s.fineTunedModel(r, rec, id)
	if err != nil {
		return err
	}
	if cur.FineTunedModel == nil || *cur.FineTunedModel != id {
		return modelNotFound(id) // a checkpoint is not deletable alone
	}
	// The registered models of its pipeline runs: the trained one (at
	// AdapterURI) first.
	var ms []*store.Model
	for _, pid := range cur.PipelineJobs {
		l, _, err := rd.ListModels(r.Context(), store.ListParams{Query: pid, Limit: 1000})
		if err != nil {
			return err
		}
		for _, m := range l {
			if m.JobID == pid {
				ms = append(ms, m)
			}
		}
	}
	sort.SliceStable(ms, func(a, b int) bool { return ms[a].URI == cur.AdapterURI && ms[b].URI != cur.AdapterURI })
	for i, m := range ms {
		if _, err := d.Model(r.Context(), rd, m.ID, false); err != nil && !errors.Is(err, store.ErrNotFound) {
			if i == 0 && m.URI == cur.AdapterURI {
				return err
			}
			s.Logger.WarnContext(r.Context(), "fine-tuned model deleted; one of its exported models kept",
				slog.String("model", id), slog.String("model_id", m.ID), slog.Any("error", err))
		}
		if i == 0 {
			if err := s.markDeleted(r, rec.ID); err != nil {
				return err
			}
		}
	}
	if len(ms) == 0 {
		return s.markDeleted(r, rec.ID)
	}
	return nil
}

// markDeleted records that fine-tuning job id's model is deleted.
func (s *Server) markDeleted(r *http.Request, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur jobRec
	if _, err := s.getJSON(r.Context(), jobKey(id), &cur); err != nil {
		return err
	}
	cur.ModelDeleted = true
	return s.putJSON(r.Context(), jobKey(id), cur)
}
