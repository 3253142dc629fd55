package api

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"reflect"

	"github.com/danielgtaylor/huma/v2"

	"github.com/whetstone/whetstone/internal/pipeline"
)

// Preflighter checks a valid spec against the world it will run in (files,
// models, datasets, cross-field rules); it returns a
// *pipeline.ValidationError listing the problems (internal/preflight).
type Preflighter interface {
	Check(ctx context.Context, spec *pipeline.Spec) error
}

// check validates spec and preflights it: nil, a *pipeline.ValidationError,
// or another error.
func (s *Server) check(ctx context.Context, spec *pipeline.Spec) error {
	if s.Agents == nil {
		return nil
	}
	var opts pipeline.Options
	if s.Orch != nil {
		opts.Paths = s.Orch.Paths() // the sandbox speaks first: no file is looked at outside it
	}
	v, err := pipeline.ValidateWith(spec, s.Agents, opts)
	if err != nil {
		return err
	}
	var errs []pipeline.FieldError
	if s.Orch != nil {
		// Stored datasets, models and artifacts: only the team's.
		var ve *pipeline.ValidationError
		if err := s.Orch.CheckSources(ctx, v); errors.As(err, &ve) {
			errs = ve.Errors
		} else if err != nil {
			return err
		}
	}
	if s.Preflight != nil {
		var ve *pipeline.ValidationError
		if err := s.Preflight.Check(ctx, v); errors.As(err, &ve) {
			errs = append(errs, ve.Errors...)
		} else if err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return &pipeline.ValidationError{Errors: errs}
	}
	return nil
}

type validateOutput struct {
	Body struct {
		Valid  bool                  `json:"valid" doc:"true when the pipeline would be accepted by POST /jobs"`
		Errors []pipeline.FieldError `json:"errors" doc:"every problem, with the node and the field (params.x) it is on"`
	}
}

func (s *Server) registerValidate(api huma.API) {
	op := huma.Operation{OperationID: "validate-pipeline", Method: http.MethodPost, Path: prefix + "/pipelines/validate", Tags: []string{"jobs"},
		Summary: "Check a pipeline without running it",
		Description: "The checks POST /jobs makes before queueing: the spec's shape and params, then files, uploaded datasets, model and tokenizer " +
			"folders, LoRA targets and cross-field rules. 200 with valid and every error on its node and field; 400 for a spec that does not parse.",
		MaxBodyBytes: 1 << 20}
	huma.Register(api, op, func(ctx context.Context, in *submitInput) (*validateOutput, error) {
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
		out := &validateOutput{}
		out.Body.Errors = []pipeline.FieldError{}
		var ve *pipeline.ValidationError
		switch err := s.check(ctx, spec); {
		case err == nil:
			out.Body.Valid = true
		case errors.As(err, &ve):
			out.Body.Errors = ve.Errors
		default:
			return nil, s.problem(ctx, err)
		}
		return out, nil
	})
	specSchema := api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[pipeline.Spec](), true, "PipelineSpec")
	api.OpenAPI().Paths[op.Path].Post.RequestBody = &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
		"application/json": {Schema: specSchema}, "application/yaml": {Schema: specSchema},
	}}
}
