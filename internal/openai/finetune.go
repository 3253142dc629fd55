package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/events"
	"github.com/whetstone/whetstone/internal/orchestrate"
	"github.com/whetstone/whetstone/internal/pipeline"
	"github.com/whetstone/whetstone/internal/store"
)

// Hyperparameter defaults that "auto" resolves to.
const (
	// BaseLearningRate is multiplied by learning_rate_multiplier.
	BaseLearningRate = 1e-3
	autoEpochs       = 3
	autoMultiplier   = 1.0
	autoBeta         = 0.1
)

// hyper is one hyperparameter: "auto" or a number.
type hyper struct {
	Auto bool
	Num  float64
	Set  bool
}

func (h *hyper) UnmarshalJSON(b []byte) error {
	h.Set = true
	var s string
	if json.Unmarshal(b, &s) == nil {
		if s != "auto" {
			return fmt.Errorf("want \"auto\" or a number, got %q", s)
		}
		h.Auto = true
		return nil
	}
	return json.Unmarshal(b, &h.Num)
}

type hyperIn struct {
	NEpochs                hyper `json:"n_epochs"`
	BatchSize              hyper `json:"batch_size"`
	LearningRateMultiplier hyper `json:"learning_rate_multiplier"`
	Beta                   hyper `json:"beta"`
}

type createJobReq struct {
	Model           string            `json:"model"`
	TrainingFile    string            `json:"training_file"`
	ValidationFile  *string           `json:"validation_file"`
	Suffix          *string           `json:"suffix"`
	Seed            *int64            `json:"seed"`
	Metadata        map[string]string `json:"metadata"`
	Hyperparameters *hyperIn          `json:"hyperparameters"`
	Method          *struct {
		Type       string `json:"type"`
		Supervised *struct {
			Hyperparameters *hyperIn `json:"hyperparameters"`
		} `json:"supervised"`
		DPO *struct {
			Hyperparameters *hyperIn `json:"hyperparameters"`
		} `json:"dpo"`
	} `json:"method"`
	Integrations json.RawMessage `json:"integrations"`
}

// Hyperparameters are the resolved values a job trains with.
type Hyperparameters struct {
	NEpochs                int      `json:"n_epochs"`
	BatchSize              int      `json:"batch_size"`
	LearningRateMultiplier float64  `json:"learning_rate_multiplier"`
	Beta                   *float64 `json:"beta,omitempty"`
}

// Method is OpenAI's method object.
type Method struct {
	Type       string         `json:"type"`
	Supervised *methodDetails `json:"supervised,omitempty"`
	DPO        *methodDetails `json:"dpo,omitempty"`
}

type methodDetails struct {
	Hyperparameters Hyperparameters `json:"hyperparameters"`
}

// JobError is a failed job's error.
type JobError struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Param   *string `json:"param"`
}

// Job is OpenAI's fine_tuning.job object.
type Job struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	CreatedAt          int64             `json:"created_at"`
	Error              *JobError         `json:"error"`
	FineTunedModel     *string           `json:"fine_tuned_model"`
	FinishedAt         *int64            `json:"finished_at"`
	Hyperparameters    Hyperparameters   `json:"hyperparameters"`
	Model              string            `json:"model"`
	OrganizationID     string            `json:"organization_id"`
	ResultFiles        []string          `json:"result_files"`
	Seed               int64             `json:"seed"`
	Status             string            `json:"status"`
	TrainedTokens      *int64            `json:"trained_tokens"`
	TrainingFile       string            `json:"training_file"`
	ValidationFile     *string           `json:"validation_file"`
	EstimatedFinish    *int64            `json:"estimated_finish"`
	Integrations       []any             `json:"integrations"`
	Metadata           map[string]string `json:"metadata"`
	Method             Method            `json:"method"`
	UserProvidedSuffix *string           `json:"user_provided_suffix"`
	// Whetstone extras: the pipeline runs behind the job (newest last).
	PipelineJobs []string `json:"pipeline_jobs"`
}

// jobRec is the stored job: the object's fixed fields plus what the status
// is derived from.
type jobRec struct {
	Job
	Team      string `json:"team"`
	BaseDir   string `json:"base_dir"`
	Paused    bool   `json:"paused"`
	Cancelled bool   `json:"cancelled"`
	// Final is set once the job ended and its outcome was recorded.
	Final bool `json:"final"`
	// AdapterURI is the blob key of the trained adapter (or full model)
	// folder; Steps its optimiser steps.
	AdapterURI string `json:"adapter_uri,omitempty"`
	Steps      int    `json:"steps,omitempty"`
	// ModelDeleted is set once its model was deleted (DELETE
	// /v1/models/{model}): the name is no longer listed or served.
	ModelDeleted bool `json:"model_deleted,omitempty"`
}

func jobKey(id string) string { return jobsPrefix + id + ".json" }

var suffixRe = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

func (s *Server) createJob(w http.ResponseWriter, r *http.Request) error {
	var req createJobReq
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.Model == "" {
		return invalid("model", "missing_required_parameter", "Missing required parameter: 'model'.")
	}
	if req.TrainingFile == "" {
		return invalid("training_file", "missing_required_parameter", "Missing required parameter: 'training_file'.")
	}
	base, ok, err := s.baseModel(r.Context(), req.Model)
	if err != nil {
		return err
	}
	if !ok {
		return invalid("model", "model_not_available", "Model %s is not available for fine-tuning or does not exist.", req.Model)
	}
	methodType := "supervised"
	hp := req.Hyperparameters
	if req.Method != nil {
		switch req.Method.Type {
		case "supervised":
			if req.Method.Supervised != nil && req.Method.Supervised.Hyperparameters != nil {
				hp = req.Method.Supervised.Hyperparameters
			}
		case "dpo":
			methodType = "dpo"
			if req.Method.DPO != nil && req.Method.DPO.Hyperparameters != nil {
				hp = req.Method.DPO.Hyperparameters
			}
		case "":
			return invalid("method.type", "missing_required_parameter", "Missing required parameter: 'method.type'.")
		default:
			return invalid("method.type", "invalid_value", "Invalid value for 'method.type': %q; supported values are 'supervised' and 'dpo'.", req.Method.Type)
		}
	}
	train, err := s.loadFile(r, req.TrainingFile)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return invalid("training_file", "invalid_training_file", "Invalid training_file: %s (no such file).", req.TrainingFile)
		}
		return err
	}
	if train.Purpose != "fine-tune" {
		return invalid("training_file", "invalid_training_file", "Invalid training_file: %s has purpose %q, not fine-tune.", train.ID, train.Purpose)
	}
	if train.Kind != methodType {
		return invalid("training_file", "invalid_training_file", "Invalid training_file: %s holds %s rows but the method is %s.", train.ID, train.Kind, methodType)
	}
	var val *fileRec
	if req.ValidationFile != nil && *req.ValidationFile != "" {
		if val, err = s.loadFile(r, *req.ValidationFile); err != nil {
			var ae *apiError
			if errors.As(err, &ae) {
				return invalid("validation_file", "invalid_validation_file", "Invalid validation_file: %s (no such file).", *req.ValidationFile)
			}
			return err
		}
		if val.Kind != methodType {
			return invalid("validation_file", "invalid_validation_file", "Invalid validation_file: %s holds %s rows but the method is %s.", val.ID, val.Kind, methodType)
		}
	}
	if req.Suffix != nil && *req.Suffix != "" && !suffixRe.MatchString(*req.Suffix) {
		return invalid("suffix", "invalid_value", "Invalid 'suffix': up to 64 letters, digits, '-' and '_'.")
	}
	if len(req.Metadata) > 16 {
		return invalid("metadata", "invalid_value", "Invalid 'metadata': at most 16 keys.")
	}
	res, err := resolveHyper(hp, methodType, train.Rows)
	if err != nil {
		return err
	}
	now := time.Now()
	seed := now.UnixNano() % 1_000_000
	if req.Seed != nil {
		seed = *req.Seed
	}
	rec := &jobRec{Job: Job{ID: newID("ftjob", now.UnixNano()), Object: "fine_tuning.job", CreatedAt: now.Unix(), Model: req.Model,
		OrganizationID: "org-" + s.team(r), ResultFiles: []string{}, Seed: seed, Status: "validating_files",
		TrainingFile: train.ID, Integrations: []any{}, Metadata: req.Metadata, Hyperparameters: res,
		Method: Method{Type: methodType}}, Team: s.team(r), BaseDir: base}
	if val != nil {
		rec.ValidationFile = &val.ID
	}
	if req.Suffix != nil && *req.Suffix != "" {
		rec.UserProvidedSuffix = req.Suffix
	}
	if methodType == "dpo" {
		rec.Method.DPO = &methodDetails{Hyperparameters: res}
	} else {
		rec.Method.Supervised = &methodDetails{Hyperparameters: res}
	}
	var made []*store.Dataset
	spec, err := s.pipelineSpec(r, rec, train, val, &made)
	if err != nil {
		s.dropDatasets(r.Context(), made)
		return err
	}
	pj, err := s.Orch.Submit(r.Context(), spec, "")
	if err != nil {
		s.dropDatasets(r.Context(), made) // no job reads them: this request made them for its pipeline alone
		var ve *pipeline.ValidationError
		if errors.As(err, &ve) {
			return invalid("", "invalid_request", "The fine-tuning pipeline is invalid: %v", err)
		}
		return err
	}
	rec.PipelineJobs = []string{pj.ID}
	if err := s.putJSON(r.Context(), jobKey(rec.ID), rec); err != nil {
		return err
	}
	out, err := s.refresh(r, rec)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, out)
	return nil
}

// resolveHyper turns "auto" (or absent) values into the ones the job uses.
func resolveHyper(h *hyperIn, method string, rows int) (Hyperparameters, error) {
	if h == nil {
		h = &hyperIn{}
	}
	var out Hyperparameters
	num := func(name string, v hyper, auto float64, lo, hi float64, integer bool) (float64, error) {
		if !v.Set || v.Auto {
			return auto, nil
		}
		if v.Num < lo || v.Num > hi || math.IsNaN(v.Num) || (integer && v.Num != math.Trunc(v.Num)) {
			kind := "a number"
			if integer {
				kind = "an integer"
			}
			return 0, invalid("hyperparameters."+name, "invalid_value", "Invalid 'hyperparameters.%s': %v; expected \"auto\" or %s from %g to %g.", name, v.Num, kind, lo, hi)
		}
		return v.Num, nil
	}
	// batch_size auto: about 0.2% of the rows, from 1 to 8, as OpenAI's
	// heuristic grows with the dataset.
	autoBatch := math.Max(1, math.Min(8, math.Round(float64(rows)*0.002)))
	e, err := num("n_epochs", h.NEpochs, autoEpochs, 1, 50, true)
	if err != nil {
		return out, err
	}
	b, err := num("batch_size", h.BatchSize, autoBatch, 1, 256, true)
	if err != nil {
		return out, err
	}
	m, err := num("learning_rate_multiplier", h.LearningRateMultiplier, autoMultiplier, 1e-6, 100, false)
	if err != nil {
		return out, err
	}
	out = Hyperparameters{NEpochs: int(e), BatchSize: int(b), LearningRateMultiplier: m}
	if method == "dpo" {
		beta, err := num("beta", h.Beta, autoBeta, 1e-6, 100, false)
		if err != nil {
			return out, err
		}
		out.Beta = &beta
	} else if h.Beta.Set {
		return out, invalid("hyperparameters.beta", "invalid_value", "'beta' applies to the dpo method only.")
	}
	return out, nil
}

// pipelineSpec writes the training data as a dataset and returns the
// pipeline: dataset → validate → preprocess → train → evaluate → export.
// The datasets it registers are appended to *made, even when it fails.
func (s *Server) pipelineSpec(r *http.Request, rec *jobRec, train, val *fileRec, made *[]*store.Dataset) (*pipeline.Spec, error) {
	ds, err := s.datasetFrom(r, rec, train, made)
	if err != nil {
		return nil, err
	}
	h := rec.Hyperparameters
	method := map[string]any{"method": "lora"}
	if rec.Method.Type == "dpo" {
		method = map[string]any{"method": "dpo", "beta": *h.Beta, "dpo_weights": "lora"}
	}
	maxLen := 512
	if c, err := readMaxPos(rec.BaseDir); err == nil && c > 0 {
		maxLen = min(c, 1024)
	}
	// A --base-models folder by its path; a registered model by its id,
	// which the orchestrator checks is the team's and fetches on the
	// worker (its folder in the blob store is no path a job may name).
	base := rec.BaseDir
	if strings.HasPrefix(rec.Model, "mdl_") {
		base = rec.Model
	}
	tune := map[string]any{"base_model": base, "lora": map[string]any{"rank": 8, "alpha": 16, "targets": "all-linear"},
		"epochs": h.NEpochs, "batch_size": h.BatchSize, "learning_rate": BaseLearningRate * h.LearningRateMultiplier,
		"max_seq_len": maxLen, "seed": rec.Seed, "schedule": "linear"}
	for k, v := range method {
		tune[k] = v
	}
	split := 0.1
	if val != nil {
		split = 0 // the validation file is the held-out set (see datasetFrom)
	}
	prep := map[string]any{"tokenizer": base, "max_tokens": maxLen, "validation_split": split, "seed": rec.Seed % 1_000_000}
	metrics := []any{"loss", "perplexity"}
	spec := &pipeline.Spec{Name: "fine-tune " + rec.ID, Nodes: []pipeline.Node{
		{ID: "data", Agent: "dataset", Params: map[string]any{"source": ds}},
		{ID: "check", Agent: "validate", Params: map[string]any{}},
		{ID: "prep", Agent: "preprocess", Params: prep},
		{ID: "tune", Agent: "train", Params: tune},
		{ID: "score", Agent: "evaluate", Params: map[string]any{"metrics": metrics, "samples": 20, "max_new_tokens": 32}},
		{ID: "ship", Agent: "export", Params: map[string]any{"formats": []any{"adapter"}}},
	}, Edges: []pipeline.Edge{{From: "data", To: "check"}, {From: "check", To: "prep"}, {From: "prep", To: "tune"},
		{From: "tune", To: "score"}, {From: "prep", To: "score"}, {From: "tune", To: "ship"}}}
	if val != nil {
		// The validation file goes through the same checks and template
		// into its own folder; evaluate scores it.
		vds, err := s.datasetFrom(r, rec, val, made)
		if err != nil {
			return nil, err
		}
		vprep := map[string]any{}
		for k, v := range prep {
			vprep[k] = v
		}
		vprep["validation_split"] = 0.9
		spec.Nodes = append(spec.Nodes, pipeline.Node{ID: "vdata", Agent: "dataset", Params: map[string]any{"source": vds}},
			pipeline.Node{ID: "vprep", Agent: "preprocess", Params: vprep})
		spec.Edges = []pipeline.Edge{{From: "data", To: "check"}, {From: "check", To: "prep"}, {From: "prep", To: "tune"},
			{From: "tune", To: "score"}, {From: "vdata", To: "vprep"}, {From: "vprep", To: "score"}, {From: "tune", To: "ship"}}
	}
	return spec, nil
}

func readMaxPos(dir string) (int, error) {
	var c struct {
		MaxPos int `json:"max_position_embeddings"`
	}
	b, err := readFileLimited(dir+"/config.json", 1<<20)
	if err != nil {
		return 0, err
	}
	return c.MaxPos, json.Unmarshal(b, &c)
}

// datasetFrom converts a fine-tuning file into rows the dataset agent reads
// (chat rows as they are; DPO rows as {"prompt", "chosen", "rejected"}
// message lists), stores them as an uploaded dataset, appends it to *made
// and returns its id.
func (s *Server) datasetFrom(r *http.Request, rec *jobRec, f *fileRec, made *[]*store.Dataset) (string, error) {
	o, err := s.Blobs.Open(r.Context(), contentKey(f.ID))
	if err != nil {
		return "", fmt.Errorf("open %s: %w", f.ID, err)
	}
	defer o.Close()
	var buf bytes.Buffer
	sc := bufio.NewScanner(o)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	type msg struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	conv := func(ms []chatMessage) []msg {
		out := make([]msg, 0, len(ms))
		for _, m := range ms {
			t, _ := contentText(m.Content)
			out = append(out, msg{m.Role, t})
		}
		return out
	}
	for sc.Scan() {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var row fileRow
		if err := json.Unmarshal(b, &row); err != nil {
			return "", fmt.Errorf("re-read %s: %w", f.ID, err)
		}
		var v any
		if f.Kind == "dpo" {
			v = map[string]any{"prompt": conv(row.Input.Messages), "chosen": conv(row.PreferredOutput), "rejected": conv(row.NonPreferredOutput)}
		} else {
			// Every assistant turn is learnt (OpenAI's per-message weight is
			// checked but not applied).
			v = map[string]any{"messages": conv(row.Messages)}
		}
		line, _ := json.Marshal(v)
		buf.Write(line)
		buf.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	key := "datasets/" + rec.ID + "/" + f.ID + ".jsonl"
	info, err := s.Blobs.Put(r.Context(), key, bytes.NewReader(buf.Bytes()))
	if err != nil {
		return "", fmt.Errorf("store dataset: %w", err)
	}
	d := &store.Dataset{ID: store.NewID("ds"), Name: f.Filename, Size: info.Size, SHA256: info.SHA256, Format: "jsonl", BlobKey: key,
		CreatedAt: time.Now().UTC(), Team: rec.Team}
	if err := s.Store.InTx(r.Context(), func(tx store.Tx) error { return tx.CreateDataset(r.Context(), d) }); err != nil {
		s.dropDatasets(r.Context(), []*store.Dataset{{ID: d.ID, BlobKey: key}}) // the blob: the record is not there
		return "", fmt.Errorf("register dataset: %w", err)
	}
	*made = append(*made, d)
	return d.ID, nil
}

// dropDatasets deletes datasets a job creation registered before it failed:
// their records and files. Failures are logged: the error the client sees is
// the creation's; a file left behind lies under datasets/ftjob-…/.
func (s *Server) dropDatasets(ctx context.Context, ds []*store.Dataset) {
	ctx = context.WithoutCancel(ctx)
	for _, d := range ds {
		err := s.Store.InTx(ctx, func(tx store.Tx) error { return tx.DeleteDataset(ctx, d.ID) })
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.Logger.ErrorContext(ctx, "fine-tuning job not created; its dataset record not deleted",
				slog.String("dataset_id", d.ID), slog.Any("error", err))
		}
		if err := s.Blobs.Delete(ctx, d.BlobKey); err != nil && !errors.Is(err, blob.ErrNotFound) {
			s.Logger.ErrorContext(ctx, "fine-tuning job not created; its dataset file not deleted",
				slog.String("dataset_id", d.ID), slog.String("key", d.BlobKey), slog.Any("error", err))
		}
	}
}

// loadJob reads a job record, or a 404.
func (s *Server) loadJob(r *http.Request, id string) (*jobRec, error) {
	var rec jobRec
	ok := false
	var err error
	if validID(id, "ftjob") {
		ok, err = s.getJSON(r.Context(), jobKey(id), &rec)
	}
	if err != nil {
		return nil, err
	}
	if !ok || !s.owns(r, rec.Team) { // another team's job does not exist for the caller
		return nil, notFound("fine_tuning_job_id", "fine_tuning_job_not_found", "No such fine-tuning job: %s", id)
	}
	return &rec, nil
}

// refresh derives the job's status from its current pipeline and, the
// first time it has ended, records the outcome (model, tokens, result file).
func (s *Server) refresh(r *http.Request, rec *jobRec) (*Job, error) {
	if rec.Final {
		return &rec.Job, nil
	}
	pid := rec.PipelineJobs[len(rec.PipelineJobs)-1]
	pj, err := s.Store.GetJob(r.Context(), pid)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", pid, err)
	}
	node := map[string]*store.Node{}
	for _, n := range pj.Nodes {
		node[n.ID] = n
	}
	done := func(id string) bool { n := node[id]; return n != nil && n.Status == store.Succeeded }
	switch pj.Status {
	case store.Pending, store.Running:
		switch {
		case !done("data") || !done("check"):
			rec.Status = "validating_files"
		case node["tune"] != nil && node["tune"].Status == store.Pending:
			rec.Status = "queued"
		default:
			rec.Status = "running"
		}
		return &rec.Job, nil
	case store.Cancelled:
		if rec.Paused {
			rec.Status = "paused"
			return &rec.Job, nil
		}
		rec.Status = "cancelled"
	case store.Failed:
		rec.Status = "failed"
		e := &JobError{Code: "training_failed", Message: pj.Error}
		for _, id := range []string{"data", "check", "prep", "vdata", "vprep", "tune", "score", "ship"} {
			if n := node[id]; n != nil && n.Status == store.Failed {
				e.Message = fmt.Sprintf("pipeline step %s (%s) failed: %s", n.ID, n.Agent, n.Error)
				switch id {
				case "data", "check", "prep":
					p := "training_file"
					e.Code, e.Param = "invalid_training_file", &p
				case "vdata", "vprep":
					p := "validation_file"
					e.Code, e.Param = "invalid_validation_file", &p
				}
				break
			}
		}
		rec.Error = e
	case store.Succeeded:
		if err := s.finish(r, rec, node["tune"]); err != nil {
			return nil, err
		}
		rec.Status = "succeeded"
	}
	if pj.FinishedAt != nil {
		t := pj.FinishedAt.Unix()
		rec.FinishedAt = &t
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur jobRec
	if ok, err := s.getJSON(r.Context(), jobKey(rec.ID), &cur); err == nil && ok && (cur.Final || len(cur.PipelineJobs) != len(rec.PipelineJobs)) {
		return &cur.Job, nil // someone else recorded it, or resumed it
	}
	rec.Final = true
	if err := s.putJSON(r.Context(), jobKey(rec.ID), rec); err != nil {
		return nil, err
	}
	return &rec.Job, nil
}

// finish records a succeeded job's model, trained tokens and result file.
func (s *Server) finish(r *http.Request, rec *jobRec, tune *store.Node) error {
	if tune == nil {
		return errors.New("pipeline has no tune node")
	}
	for _, a := range tune.Outputs {
		if a.Type == agent.Model {
			rec.AdapterURI = a.URI
			if st, ok := a.Meta["steps"].(float64); ok {
				rec.Steps = int(st)
			}
		}
	}
	suffix := ""
	if rec.UserProvidedSuffix != nil {
		suffix = *rec.UserProvidedSuffix
	}
	name := fmt.Sprintf("ft:%s:%s:%s:%s", rec.Model, rec.Team, suffix, strings.TrimPrefix(rec.ID, "ftjob-"))
	rec.FineTunedModel = &name
	metrics, err := s.metricEvents(r, rec)
	if err != nil {
		return err
	}
	var tokens int64
	var csv strings.Builder
	dpo := rec.Method.Type == "dpo"
	csv.WriteString("step,train_loss,valid_loss,learning_rate")
	if dpo {
		csv.WriteString(",reward_accuracy,reward_margin,valid_reward_accuracy")
	}
	csv.WriteString("\n")
	for _, m := range metrics {
		tokens += int64(num(m.Values["tokens"]))
		fmt.Fprintf(&csv, "%d,%s,%s,%s", m.Step, fmtNum(m.Values["loss"]), fmtNum(m.Values["val_loss"]), fmtNum(m.Values["learning_rate"]))
		if dpo {
			fmt.Fprintf(&csv, ",%s,%s,%s", fmtNum(m.Values["reward_accuracy"]), fmtNum(m.Values["reward_margin"]), fmtNum(m.Values["val_reward_accuracy"]))
		}
		csv.WriteString("\n")
	}
	rec.TrainedTokens = &tokens
	f, err := s.putFile(r, "step_metrics.csv", "fine-tune-results", []byte(csv.String()))
	if err != nil {
		return err
	}
	rec.ResultFiles = []string{f.ID}
	return nil
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

func fmtNum(v any) string {
	f, ok := v.(float64)
	if !ok {
		return ""
	}
	return strconv.FormatFloat(f, 'g', 8, 64)
}

// metricEvents returns the tune node's metric events of the job's last
// pipeline, in order.
func (s *Server) metricEvents(r *http.Request, rec *jobRec) ([]events.MetricData, error) {
	var out []events.MetricData
	pid := rec.PipelineJobs[len(rec.PipelineJobs)-1]
	var after int64
	for {
		evs, err := s.Store.ListEvents(r.Context(), pid, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			if e.Type == events.Metric && e.Node == "tune" {
				var m events.MetricData
				if json.Unmarshal(e.Data, &m) == nil {
					out = append(out, m)
				}
			}
			after = e.Seq
		}
		if len(evs) < 1000 {
			return out, nil
		}
	}
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.loadJob(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	j, err := s.refresh(r, rec)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, j)
	return nil
}

func jobIDOf(j *Job) string { return j.ID }

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := limitParam(q.Get("limit"), 20, 100)
	if err != nil {
		return err
	}
	ids, err := s.listIDs(r.Context(), jobsPrefix)
	if err != nil {
		return err
	}
	var mine []string
	for _, id := range ids {
		var rec jobRec
		if ok, err := s.getJSON(r.Context(), jobKey(id), &rec); err != nil {
			return err
		} else if ok && s.owns(r, rec.Team) {
			mine = append(mine, id)
		}
	}
	ids, more := page(mine, q.Get("after"), limit)
	var out []*Job
	for _, id := range ids {
		rec, err := s.loadJob(r, id)
		if err != nil {
			return err
		}
		j, err := s.refresh(r, rec)
		if err != nil {
			return err
		}
		out = append(out, j)
	}
	s.writeJSON(w, http.StatusOK, newList(out, more, jobIDOf))
	return nil
}

// transition applies a state change under the records lock.
func (s *Server) transition(w http.ResponseWriter, r *http.Request, fn func(rec *jobRec, j *Job) error) error {
	s.mu.Lock()
	rec, err := s.loadJob(r, r.PathValue("id"))
	if err != nil {
		s.mu.Unlock()
		return err
	}
	s.mu.Unlock()
	j, err := s.refresh(r, rec)
	if err != nil {
		return err
	}
	s.mu.Lock()
	// refresh may have stored a final outcome: re-read.
	if rec, err = s.loadJob(r, rec.ID); err != nil {
		s.mu.Unlock()
		return err
	}
	rec.Status = j.Status
	err = fn(rec, j)
	if err == nil {
		err = s.putJSON(r.Context(), jobKey(rec.ID), rec)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	out, err := s.refresh(r, rec)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, out)
	return nil
}

func terminal(status string) bool {
	return status == "succeeded" || status == "failed" || status == "cancelled"
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) error {
	return s.transition(w, r, func(rec *jobRec, j *Job) error {
		if terminal(j.Status) {
			return invalid("", "invalid_state", "Cannot cancel a job that has already %s.", j.Status)
		}
		rec.Cancelled, rec.Paused = true, false
		if j.Status == "paused" {
			rec.Status, rec.Final = "cancelled", true
			now := time.Now().Unix()
			rec.FinishedAt = &now
			return nil
		}
		return s.cancelPipeline(r, rec)
	})
}

func (s *Server) cancelPipeline(r *http.Request, rec *jobRec) error {
	err := s.Orch.Cancel(r.Context(), rec.PipelineJobs[len(rec.PipelineJobs)-1])
	if err != nil && !errors.Is(err, orchestrate.ErrFinished) {
		return err
	}
	return nil
}

func (s *Server) pauseJob(w http.ResponseWriter, r *http.Request) error {
	return s.transition(w, r, func(rec *jobRec, j *Job) error {
		if terminal(j.Status) || j.Status == "paused" {
			return invalid("", "invalid_state", "Cannot pause a job that is %s.", j.Status)
		}
		rec.Paused = true
		return s.cancelPipeline(r, rec)
	})
}

func (s *Server) resumeJob(w http.ResponseWriter, r *http.Request) error {
	return s.transition(w, r, func(rec *jobRec, j *Job) error {
		if j.Status != "paused" {
			return invalid("", "invalid_state", "Cannot resume a job that is %s (only paused jobs resume).", j.Status)
		}
		// Re-run the same pipeline: finished data steps come from the
		// output cache; training starts again from its first step.
		pj, err := s.Store.GetJob(r.Context(), rec.PipelineJobs[len(rec.PipelineJobs)-1])
		if err != nil {
			return err
		}
		var spec pipeline.Spec
		if err := json.Unmarshal(pj.Spec, &spec); err != nil {
			return fmt.Errorf("resume %s: %w", rec.ID, err)
		}
		nj, err := s.Orch.Submit(r.Context(), &spec, "")
		if err != nil {
			return err
		}
		rec.PipelineJobs = append(rec.PipelineJobs, nj.ID)
		rec.Paused, rec.Final = false, false
		return nil
	})
}

// Event is OpenAI's fine_tuning.job.event.
type Event struct {
	ID        string         `json:"id"`
	Object    string         `json:"object"`
	CreatedAt int64          `json:"created_at"`
	Level     string         `json:"level"`
	Message   string         `json:"message"`
	Type      string         `json:"type"`
	Data      map[string]any `json:"data"`
}

func eventIDOf(e Event) string { return e.ID }

// jobEvents lists the job's events newest first: training metrics as
// "metrics" events and everything else the pipeline reported as "message"
// events.
func (s *Server) jobEvents(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.loadJob(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	limit, err := limitParam(q.Get("limit"), 20, 1000)
	if err != nil {
		return err
	}
	j, err := s.refresh(r, rec)
	if err != nil {
		return err
	}
	short := strings.TrimPrefix(rec.ID, "ftjob-")
	all := []Event{{ID: fmt.Sprintf("ftevent-%s-0000-000000000", short), Object: "fine_tuning.job.event", CreatedAt: rec.CreatedAt,
		Level: "info", Message: "Created fine-tuning job: " + rec.ID, Type: "message", Data: map[string]any{}}}
	for pi, pid := range rec.PipelineJobs {
		var after int64
		for {
			evs, err := s.Store.ListEvents(r.Context(), pid, after, 1000)
			if err != nil {
				return err
			}
			for _, e := range evs {
				after = e.Seq
				ev, ok := toEvent(e, j)
				if !ok {
					continue
				}
				ev.ID = fmt.Sprintf("ftevent-%s-%04d-%09d", short, pi+1, e.Seq)
				all = append(all, ev)
			}
			if len(evs) < 1000 {
				break
			}
		}
	}
	if terminal(j.Status) && j.FinishedAt != nil {
		msg := map[string]string{"succeeded": "The job has successfully completed", "failed": "The job has failed", "cancelled": "The job was cancelled"}[j.Status]
		if j.FineTunedModel != nil {
			msg += ": new model " + *j.FineTunedModel
		}
		all = append(all, Event{ID: fmt.Sprintf("ftevent-%s-9999-999999999", short), Object: "fine_tuning.job.event", CreatedAt: *j.FinishedAt,
			Level: "info", Message: msg, Type: "message", Data: map[string]any{}})
	}
	// Newest first, then the page after the cursor.
	sort.SliceStable(all, func(a, b int) bool { return all[a].ID > all[b].ID })
	if after := q.Get("after"); after != "" {
		i := sort.Search(len(all), func(i int) bool { return all[i].ID < after })
		all = all[i:]
	}
	more := len(all) > limit
	if more {
		all = all[:limit]
	}
	s.writeJSON(w, http.StatusOK, newList(all, more, eventIDOf))
	return nil
}

// toEvent maps a pipeline event to an OpenAI event; progress and noise
// are dropped.
func toEvent(e store.Event, j *Job) (Event, bool) {
	ev := Event{Object: "fine_tuning.job.event", CreatedAt: e.Time.Unix(), Level: "info", Type: "message", Data: map[string]any{}}
	switch e.Type {
	case events.Metric:
		var m events.MetricData
		if json.Unmarshal(e.Data, &m) != nil || e.Node != "tune" {
			return ev, false
		}
		ev.Type = "metrics"
		d := map[string]any{"step": m.Step}
		for k, name := range map[string]string{"loss": "train_loss", "val_loss": "valid_loss", "learning_rate": "learning_rate",
			"reward_accuracy": "reward_accuracy", "reward_margin": "reward_margin", "val_reward_accuracy": "valid_reward_accuracy", "tokens": "tokens"} {
			if v, ok := m.Values[k]; ok && v != nil {
				d[name] = v
			}
		}
		ev.Data = d
		ev.Message = fmt.Sprintf("Step %d: training loss=%s", m.Step, fmtNum(m.Values["loss"]))
		if v, ok := m.Values["val_loss"].(float64); ok {
			ev.Message += ", validation loss=" + strconv.FormatFloat(v, 'g', 6, 64)
		}
	case events.Log:
		var l events.LogData
		if json.Unmarshal(e.Data, &l) != nil {
			return ev, false
		}
		ev.Level = strings.ToLower(l.Level)
		if ev.Level == "warning" {
			ev.Level = "warn"
		}
		ev.Message = l.Msg
		if e.Node != "" {
			ev.Message = e.Node + ": " + l.Msg
		}
	case events.Node:
		var n events.NodeData
		if json.Unmarshal(e.Data, &n) != nil {
			return ev, false
		}
		ev.Message = fmt.Sprintf("Step %s is %s", e.Node, n.Status)
		if n.Error != "" {
			ev.Level, ev.Message = "error", ev.Message+": "+n.Error
		}
	default:
		return ev, false
	}
	return ev, true
}

// Checkpoint is OpenAI's fine_tuning.job.checkpoint.
type Checkpoint struct {
	ID                       string         `json:"id"`
	Object                   string         `json:"object"`
	CreatedAt                int64          `json:"created_at"`
	FineTunedModelCheckpoint string         `json:"fine_tuned_model_checkpoint"`
	FineTuningJobID          string         `json:"fine_tuning_job_id"`
	Metrics                  map[string]any `json:"metrics"`
	StepNumber               int            `json:"step_number"`
}

func ckptIDOf(c Checkpoint) string { return c.ID }

// jobCheckpoints lists the saved model of a finished job (the adapter at
// its last step) with the metrics of that step.
func (s *Server) jobCheckpoints(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.loadJob(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	limit, err := limitParam(q.Get("limit"), 10, 100)
	if err != nil {
		return err
	}
	j, err := s.refresh(r, rec)
	if err != nil {
		return err
	}
	var out []Checkpoint
	if j.Status == "succeeded" && j.FineTunedModel != nil {
		var cur jobRec
		if _, err := s.getJSON(r.Context(), jobKey(rec.ID), &cur); err != nil {
			return err
		}
		ms, err := s.metricEvents(r, &cur)
		if err != nil {
			return err
		}
		metrics := map[string]any{}
		step := cur.Steps
		if len(ms) > 0 {
			last := ms[len(ms)-1]
			step = last.Step
			metrics["step"] = float64(last.Step)
			for k, name := range map[string]string{"loss": "train_loss", "val_loss": "valid_loss", "reward_accuracy": "reward_accuracy",
				"reward_margin": "reward_margin", "val_reward_accuracy": "valid_reward_accuracy"} {
				if v, ok := last.Values[k]; ok && v != nil {
					metrics[name] = v
				}
			}
		}
		created := rec.CreatedAt
		if j.FinishedAt != nil {
			created = *j.FinishedAt
		}
		out = append(out, Checkpoint{ID: "ftckpt-" + strings.TrimPrefix(rec.ID, "ftjob-") + "-" + strconv.Itoa(step),
			Object: "fine_tuning.job.checkpoint", CreatedAt: created, FineTunedModelCheckpoint: fmt.Sprintf("%s:ckpt-step-%d", *j.FineTunedModel, step),
			FineTuningJobID: rec.ID, Metrics: metrics, StepNumber: step})
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	s.writeJSON(w, http.StatusOK, newList(out, more, ckptIDOf))
	return nil
}

func readFileLimited(path string, n int64) ([]byte, error) {
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n))
}
