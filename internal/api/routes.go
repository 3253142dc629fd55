package api

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/auth"
	"github.com/whetstone/whetstone/internal/orchestrate"
	"github.com/whetstone/whetstone/internal/pipeline"
	"github.com/whetstone/whetstone/internal/store"
)

const prefix = "/api/v1"

type healthOutput struct {
	Status int `json:"-"`
	Body   struct {
		Status string            `json:"status" enum:"ok,unavailable"`
		Checks map[string]string `json:"checks"`
	}
}

type livezOutput struct {
	Body struct {
		Status string `json:"status" enum:"ok"`
	}
}

type submitInput struct {
	ContentType string `header:"Content-Type"`
	RawBody     []byte
}

// submitJobInput is POST /jobs: a pipeline spec, or its dry run.
type submitJobInput struct {
	ContentType string `header:"Content-Type"`
	DryRun      bool   `query:"dry_run" doc:"plan the job without running it: 200 with its nodes in execution order, which would come from the cache, and what each train node will need (memory, tokens, steps, seconds from a short measured warm-up)"`
	RawBody     []byte
}

type submitOutput struct {
	Status int
	Body   struct {
		JobID  string       `json:"job_id,omitempty" doc:"the queued job (not on a dry run)"`
		Status store.Status `json:"status,omitempty" doc:"pending (not on a dry run)"`
		// Nodes is the dry run's plan.
		Nodes []orchestrate.PlanNode `json:"nodes,omitempty" doc:"dry_run=true only: the nodes in execution order"`
	}
}

// rawJSONOutput is a JSON body encoded by the handler.
type rawJSONOutput struct {
	ContentType string `header:"Content-Type"`
	Body        []byte
}

// jobJSONer is the optional store capability behind GET /jobs/{id}: the
// job encoded as json.Marshal would encode GetJob's, followed by a newline
// (sqlitestore.DB has it).
type jobJSONer interface {
	GetJobJSON(ctx context.Context, id string) ([]byte, error)
}

// jobJSON returns job id as JSON.
func (s *Server) jobJSON(ctx context.Context, id string) ([]byte, error) {
	rd := auth.Reader(ctx, s.Store)
	if js, ok := rd.(jobJSONer); ok {
		return js.GetJobJSON(ctx, id)
	}
	j, err := rd.GetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("encode job %q: %w", id, err)
	}
	return append(b, '\n'), nil
}

type idInput struct {
	ID string `path:"id" maxLength:"100"`
}

type listInput struct {
	Limit  int `query:"limit" minimum:"1" maximum:"1000" default:"50"`
	Offset int `query:"offset" minimum:"0" default:"0"`
}

// listModelsInput repeats listInput's fields (see listJobsInput).
type listModelsInput struct {
	Limit  int      `query:"limit" minimum:"1" maximum:"1000" default:"50"`
	Offset int      `query:"offset" minimum:"0" default:"0"`
	Q      string   `query:"q" maxLength:"200" doc:"keep models whose name, model_id or job_id contains this text, ignoring the case of ASCII letters"`
	Format []string `query:"format" maxItems:"20" doc:"keep models of these formats, comma-separated: peft-lora, hf (trained), adapter, merged, gguf (exported); a model without a recorded format has its output's name"`
}

// listDatasetsInput repeats listInput's fields (see listJobsInput).
type listDatasetsInput struct {
	Limit  int      `query:"limit" minimum:"1" maximum:"1000" default:"50"`
	Offset int      `query:"offset" minimum:"0" default:"0"`
	Q      string   `query:"q" maxLength:"200" doc:"keep datasets whose name or dataset_id contains this text, ignoring the case of ASCII letters"`
	Format []string `query:"format" maxItems:"20" doc:"keep datasets whose detected record format (summary.format, not the file type) is one of these, comma-separated: alpaca, sharegpt, messages, completion, text, preference, kto"`
}

// formats are the non-empty, trimmed items of a comma-separated format param.
func formats(in []string) []string {
	var out []string
	for _, f := range in {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// listJobsInput repeats listInput's fields: huma does not read query
// params of an embedded struct here, and the limit was silently ignored.
type listJobsInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"50"`
	Offset int    `query:"offset" minimum:"0" default:"0"`
	Status string `query:"status" enum:"pending,running,succeeded,failed,cancelled"`
}

type page struct {
	Total  int `json:"total"`
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
}

type listJobsOutput struct {
	Body struct {
		Jobs []jobListItem `json:"jobs"`
		page
	}
}

type cancelOutput struct {
	Body struct {
		JobID  string       `json:"job_id"`
		Status store.Status `json:"status"`
	}
}

type datasetOutput struct{ Body *store.Dataset }

type datasetCreated struct {
	Status int `json:"-"`
	Body   *store.Dataset
}

type listDatasetsOutput struct {
	Body struct {
		Datasets []*store.Dataset `json:"datasets"`
		page
	}
}

type modelOutput struct{ Body *store.Model }

type listModelsOutput struct {
	Body struct {
		Models []*store.Model `json:"models"`
		page
	}
}

type historyInput struct {
	JobID string `path:"job_id" maxLength:"100"`
	After int64  `query:"after" minimum:"0" doc:"return events with seq greater than this"`
	Limit int    `query:"limit" minimum:"1" maximum:"10000" default:"1000"`
}

type historyOutput struct {
	Body struct {
		Events []store.Event `json:"events"`
		// Next is the after value for the next page (the last seq returned).
		Next int64 `json:"next"`
	}
}

type agentsOutput struct {
	Body struct {
		Agents []agent.Spec `json:"agents"`
	}
}

func (s *Server) routes(api huma.API) {
	tags := func(t string) []string { return []string{t} }
	health := func(ctx context.Context, _ *struct{}) (*healthOutput, error) {
		out := &healthOutput{Status: http.StatusOK}
		checks, ok := map[string]string{"database": "ok", "blob_store": "ok", "queue": "ok"}, true
		if s.Health != nil {
			checks, ok = s.Health(ctx)
		}
		out.Body.Status, out.Body.Checks = "ok", checks
		if !ok {
			out.Status, out.Body.Status = http.StatusServiceUnavailable, "unavailable"
		}
		return out, nil
	}
	huma.Register(api, huma.Operation{OperationID: "health", Method: http.MethodGet, Path: prefix + "/health", Tags: tags("system"),
		Summary: "Check the database, blob store and queue", Description: "503 when one is down."}, health)
	huma.Register(api, huma.Operation{OperationID: "health-root", Method: http.MethodGet, Path: "/health", Tags: tags("system"),
		Summary: "Health for load balancers", Description: "The same document as /api/v1/health: 503 when a dependency is down."}, health)
	huma.Register(api, huma.Operation{OperationID: "readyz", Method: http.MethodGet, Path: "/readyz", Tags: tags("system"),
		Summary: "Ready to take traffic", Description: "Migrations are done (the server started) and every backend answers; 503 otherwise."}, health)
	huma.Register(api, huma.Operation{OperationID: "livez", Method: http.MethodGet, Path: "/livez", Tags: tags("system"),
		Summary: "The process answers", Description: "Always 200 while the process serves HTTP; checks no backend."},
		func(ctx context.Context, _ *struct{}) (*livezOutput, error) {
			out := &livezOutput{}
			out.Body.Status = "ok"
			return out, nil
		})

	submit := huma.Operation{OperationID: "submit-job", Method: http.MethodPost, Path: prefix + "/jobs", Tags: tags("jobs"),
		Summary: "Submit a pipeline",
		Description: "The body is a pipeline spec, JSON or YAML: {name, nodes: [{id, agent, params}], edges: [{from, to}]}. It is validated before anything is queued; 422 lists every error with the node and field. " +
			"With ?dry_run=true nothing is queued or stored: 200 {nodes: [{id, agent, cached, estimate: {device, memory_bytes, tokens, steps, seconds, fits, ...}}]} in execution order " +
			"(data agents ahead of a train node run in a scratch folder to count its tokens; the train node runs a few warm-up steps to time this machine). " +
			"The dry run works inside the request: a client that goes away stops it, and past --dry-run-timeout (default 5m) it is stopped with 504. " +
			"At most --concurrency dry runs work at once; the others wait their turn, for --dry-run-timeout at most (then 504).",
		DefaultStatus: http.StatusAccepted, MaxBodyBytes: 1 << 20}
	huma.Register(api, submit, func(ctx context.Context, in *submitJobInput) (*submitOutput, error) {
		mt, _, _ := mime.ParseMediaType(in.ContentType)
		switch mt {
		case "application/json", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml":
		default:
			return nil, s.problem(ctx, badMedia(in.ContentType, "application/json or application/yaml"))
		}
		spec, err := pipeline.Parse(in.RawBody)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		if err := s.check(ctx, spec); err != nil {
			return nil, s.problem(ctx, err)
		}
		out := &submitOutput{Status: http.StatusAccepted}
		if in.DryRun {
			p, err := s.dryRun(ctx, spec)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			for i := range p.Nodes { // a node run in a scratch folder may fail naming it
				p.Nodes[i].Error = s.redact.String(p.Nodes[i].Error)
			}
			out.Status, out.Body.Nodes = http.StatusOK, p.Nodes
			return out, nil
		}
		j, err := s.Orch.Submit(ctx, spec, "")
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		// The status the job was accepted in: a worker may already have started it by
		// the time the store is read back, and clients poll GET /jobs/{id} for the rest.
		out.Body.JobID, out.Body.Status = j.ID, store.Pending
		return out, nil
	})
	specSchema := api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[pipeline.Spec](), true, "PipelineSpec")
	api.OpenAPI().Paths[submit.Path].Post.RequestBody = &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
		"application/json": {Schema: specSchema}, "application/yaml": {Schema: specSchema},
	}}
	if r := api.OpenAPI().Paths[submit.Path].Post.Responses; r["202"] != nil {
		r["200"] = &huma.Response{Description: "dry_run=true: the plan (nodes)", Content: r["202"].Content}
	}

	huma.Register(api, huma.Operation{OperationID: "list-jobs", Method: http.MethodGet, Path: prefix + "/jobs", Tags: tags("jobs"),
		Summary: "List jobs, newest first", Description: "Each job has a summary: node counts, base model, method, final loss and its primary metric."},
		func(ctx context.Context, in *listJobsInput) (*listJobsOutput, error) {
			rd := auth.Reader(ctx, s.Store)
			jobs, total, err := rd.ListJobs(ctx, store.ListParams{Limit: in.Limit, Offset: in.Offset, Status: store.Status(in.Status)})
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			out := &listJobsOutput{}
			out.Body.Jobs, out.Body.page = s.listItems(ctx, rd, jobs), page{total, in.Limit, in.Offset}
			for i := range out.Body.Jobs {
				out.Body.Jobs[i].Error = s.redact.String(out.Body.Jobs[i].Error)
			}
			return out, nil
		})

	// The hottest read: the body is the encoded store.Job, built by the store
	// without decoding params and outputs when it can (jobJSONer); the
	// OpenAPI response keeps the Job schema.
	getJob := huma.Operation{OperationID: "get-job", Method: http.MethodGet, Path: prefix + "/jobs/{id}", Tags: tags("jobs"),
		Summary: "Get a job and its nodes"}
	huma.Register(api, getJob, func(ctx context.Context, in *idInput) (*rawJSONOutput, error) {
		b, err := s.jobJSON(ctx, in.ID)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		return &rawJSONOutput{ContentType: "application/json", Body: s.redact.Job(b)}, nil
	})
	ok := api.OpenAPI().Paths[getJob.Path].Get.Responses["200"]
	ok.Headers = nil
	ok.Content = map[string]*huma.MediaType{"application/json": {
		Schema: api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[*store.Job](), true, "Job")}}

	huma.Register(api, huma.Operation{OperationID: "cancel-job", Method: http.MethodDelete, Path: prefix + "/jobs/{id}", Tags: tags("jobs"),
		Summary: "Cancel a job", Description: "Running agents stop within seconds. 409 when the job already ended."},
		func(ctx context.Context, in *idInput) (*cancelOutput, error) {
			if _, err := auth.Reader(ctx, s.Store).GetJob(ctx, in.ID); err != nil {
				return nil, s.problem(ctx, err)
			}
			if err := s.Orch.Cancel(ctx, in.ID); err != nil {
				return nil, s.problem(ctx, err)
			}
			out := &cancelOutput{}
			out.Body.JobID, out.Body.Status = in.ID, store.Cancelled
			return out, nil
		})

	s.registerUpload(api)
	s.registerValidate(api)

	huma.Register(api, huma.Operation{OperationID: "list-datasets", Method: http.MethodGet, Path: prefix + "/datasets", Tags: tags("datasets"),
		Summary:     "List uploaded datasets, newest first",
		Description: "q and format filter the list; total counts every dataset the filters keep. Page with limit and offset."},
		func(ctx context.Context, in *listDatasetsInput) (*listDatasetsOutput, error) {
			p := store.ListParams{Limit: in.Limit, Offset: in.Offset, Query: strings.TrimSpace(in.Q), Formats: formats(in.Format)}
			l, total, err := auth.Reader(ctx, s.Store).ListDatasets(ctx, p)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			out := &listDatasetsOutput{}
			out.Body.Datasets, out.Body.page = l, page{total, in.Limit, in.Offset}
			return out, nil
		})
	huma.Register(api, huma.Operation{OperationID: "get-dataset", Method: http.MethodGet, Path: prefix + "/datasets/{id}", Tags: tags("datasets"),
		Summary: "Get an uploaded dataset"},
		func(ctx context.Context, in *idInput) (*datasetOutput, error) {
			d, err := auth.Reader(ctx, s.Store).GetDataset(ctx, in.ID)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			d.Profile, d.Sample = s.redact.Bytes(d.Profile), s.redact.Bytes(d.Sample)
			return &datasetOutput{Body: d}, nil
		})

	huma.Register(api, huma.Operation{OperationID: "list-models", Method: http.MethodGet, Path: prefix + "/models", Tags: tags("models"),
		Summary:     "List models produced by jobs, newest first",
		Description: "q and format filter the list; total counts every model the filters keep. Page with limit and offset."},
		func(ctx context.Context, in *listModelsInput) (*listModelsOutput, error) {
			p := store.ListParams{Limit: in.Limit, Offset: in.Offset, Query: strings.TrimSpace(in.Q), Formats: formats(in.Format)}
			l, total, err := auth.Reader(ctx, s.Store).ListModels(ctx, p)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			for _, m := range l {
				s.publicModel(m)
			}
			out := &listModelsOutput{}
			out.Body.Models, out.Body.page = l, page{total, in.Limit, in.Offset}
			return out, nil
		})
	huma.Register(api, huma.Operation{OperationID: "get-model", Method: http.MethodGet, Path: prefix + "/models/{id}", Tags: tags("models"),
		Summary: "Get a model"},
		func(ctx context.Context, in *idInput) (*modelOutput, error) {
			m, err := auth.Reader(ctx, s.Store).GetModel(ctx, in.ID)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			s.publicModel(m)
			return &modelOutput{Body: m}, nil
		})
	s.registerDelete(api)
	s.registerDownload(api)
	s.registerStream(api)
	s.registerOutputs(api)

	huma.Register(api, huma.Operation{OperationID: "job-history", Method: http.MethodGet, Path: prefix + "/logs/history/{job_id}", Tags: tags("logs"),
		Summary: "A job's stored events, in order, paged by seq"},
		func(ctx context.Context, in *historyInput) (*historyOutput, error) {
			rd := auth.Reader(ctx, s.Store)
			if _, err := rd.GetJob(ctx, in.JobID); err != nil {
				return nil, s.problem(ctx, err)
			}
			evs, err := rd.ListEvents(ctx, in.JobID, in.After, in.Limit)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			out := &historyOutput{}
			for i := range evs {
				evs[i].Data = s.redact.Bytes(evs[i].Data)
			}
			out.Body.Events, out.Body.Next = evs, in.After
			if out.Body.Events == nil {
				out.Body.Events = []store.Event{}
			}
			if len(evs) > 0 {
				out.Body.Next = evs[len(evs)-1].Seq
			}
			return out, nil
		})

	huma.Register(api, huma.Operation{OperationID: "list-agents", Method: http.MethodGet, Path: prefix + "/agents", Tags: tags("agents"),
		Summary: "The agent palette with each agent's params schema"},
		func(ctx context.Context, _ *struct{}) (*agentsOutput, error) {
			out := &agentsOutput{}
			out.Body.Agents = s.Agents.Specs()
			return out, nil
		})
	s.registerGPUs(api)
}

func badMedia(got, want string) error {
	if strings.TrimSpace(got) == "" {
		got = "none"
	}
	return &mediaError{got: got, want: want}
}

type mediaError struct{ got, want string }

func (e *mediaError) Error() string {
	return "content type " + e.got + " is not supported; send " + e.want
}
func (e *mediaError) Unwrap() error { return errUnsupportedMedia }

// publicModel is m as the API serves it: its lineage by names
// (publicLineage) and no server folder in its meta.
func (s *Server) publicModel(m *store.Model) {
	publicLineage(m)
	s.redact.Any(map[string]any(m.Meta))
	if l := m.Lineage; l != nil {
		// a dataset file the pipeline named by its absolute path
		for i := range l.Datasets {
			l.Datasets[i].Source = s.redact.String(l.Datasets[i].Source)
		}
		for i := range l.Chain {
			for j := range l.Chain[i].Datasets {
				l.Chain[i].Datasets[j].Source = s.redact.String(l.Chain[i].Datasets[j].Source)
			}
		}
	}
}

// publicLineage names the base model of a lineage recorded before lineage
// named base models by folder (a server path) by its folder name, in
// Lineage (with its chain's original base) and in Meta["lineage"]: lineage
// in the API never shows a server path.
func publicLineage(m *store.Model) {
	name := func(s string) string {
		if strings.ContainsAny(s, `/\`) {
			return filepath.Base(filepath.Clean(s))
		}
		return s
	}
	if m.Lineage != nil {
		m.Lineage.BaseModel = name(m.Lineage.BaseModel)
		for i := range m.Lineage.Chain {
			m.Lineage.Chain[i].BaseModel = name(m.Lineage.Chain[i].BaseModel)
		}
	}
	if l, ok := m.Meta["lineage"].(map[string]any); ok {
		if b, ok := l["base_model"].(string); ok {
			l["base_model"] = name(b)
		}
		chain, _ := l["chain"].([]any)
		for _, a := range chain {
			if a, ok := a.(map[string]any); ok {
				if b, ok := a["base_model"].(string); ok {
					a["base_model"] = name(b)
				}
			}
		}
	}
}

// dryRun plans spec inside the request, bounded by DryRunTimeout
// (orchestrate.PlanWithin): a client that goes away cancels it
// (context.Canceled, 499), and past the timeout it is cancelled too and the
// error wraps orchestrate.ErrDryRunTimeout (504). At most MaxDryRuns work
// at once, each running agent processes over whole sources (unbounded, a
// few callers could start enough to exhaust the machine's memory); the
// others wait their turn, as long as DryRunTimeout at most.
func (s *Server) dryRun(ctx context.Context, spec *pipeline.Spec) (*orchestrate.Plan, error) {
	wait := time.NewTimer(s.DryRunTimeout)
	defer wait.Stop()
	select {
	case s.dryRuns <- struct{}{}:
		defer func() { <-s.dryRuns }()
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-wait.C:
		return nil, fmt.Errorf("%w: this dry run waited %s (--dry-run-timeout) for a turn: the server works at most %d dry runs at once and they were busy; try again later",
			orchestrate.ErrDryRunTimeout, s.DryRunTimeout, cap(s.dryRuns))
	}
	return s.Orch.PlanWithin(ctx, spec, "", s.DryRunTimeout)
}
