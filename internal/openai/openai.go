// Package openai serves OpenAI's fine-tuning and inference API under /v1,
// with OpenAI's request and response shapes, so the official clients work
// with only their base URL changed:
//
//   - files: POST/GET /v1/files, GET/DELETE /v1/files/{id}, GET
//     /v1/files/{id}/content; fine-tune files are checked row by row as
//     OpenAI does (chat rows for supervised, preference rows for DPO) and
//     errors name the line.
//   - fine-tuning jobs: POST/GET /v1/fine_tuning/jobs, GET .../{id},
//     POST .../{id}/cancel|pause|resume, GET .../{id}/events and
//     .../{id}/checkpoints. A job is an ordinary Whetstone pipeline (dataset →
//     validate → preprocess → train → evaluate → export) that the web UI
//     shows like any other run; its state is derived from that pipeline.
//   - models: DELETE /v1/models/{model} deletes a fine-tuned model of the
//     caller's team (its ft: name or an exported mdl_ id), as /api/v1 does.
//   - inference: GET /v1/models, POST /v1/chat/completions and
//     /v1/completions (streamed as server-sent events when asked), served by
//     package serving: base models from a folder, fine-tuned ones as LoRA
//     adapters on a shared base, with batching and a bounded queue (429
//     when full).
//
// Errors are {"error": {"message", "type", "param", "code"}} with OpenAI's
// status codes; apiError is the one place that knows them.
package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/whetstone/whetstone/internal/auth"
	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/pipeline"
	"github.com/whetstone/whetstone/internal/redact"
	"github.com/whetstone/whetstone/internal/serving"
	"github.com/whetstone/whetstone/internal/store"
)

// Orchestrator runs pipelines (orchestrate.Orchestrator).
type Orchestrator interface {
	Submit(ctx context.Context, spec *pipeline.Spec, workDir string) (*store.Job, error)
	Cancel(ctx context.Context, jobID string) error
}

// Server holds what the /v1 handlers need.
type Server struct {
	Store store.Store
	Blobs blob.Store
	Orch  Orchestrator
	// Engine generates text; nil disables the inference endpoints (503).
	Engine *serving.Engine
	// BaseModels is a folder whose subfolders are Hugging Face models; each
	// subfolder's name is a model id.
	BaseModels string
	// CacheDir receives model folders copied out of a non-local blob store.
	CacheDir string
	// Team names the caller's team; nil means auth.TeamOf(r.Context())
	// (the auth middleware's identity, "default" without one).
	Team func(r *http.Request) string
	// MaxUploadBytes bounds a file upload. Defaults to 512 MiB.
	MaxUploadBytes int64
	Logger         *slog.Logger
	// HidePaths are the server's own folders (the data folder, the work
	// folder, BaseModels, the temp folder, the allowed roots) that no
	// answer names: a path under one is served as its display name
	// (package redact), as /api/v1 does. Nil hides nothing.
	HidePaths []string

	redact *redact.Paths
	mu     sync.Mutex // serialises read-modify-write of job records
}

// Handler returns the /v1 handler (mount it at "/v1/").
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.MaxUploadBytes <= 0 {
		s.MaxUploadBytes = 512 << 20
	}
	s.redact = redact.NewPaths(s.HidePaths)
	mux := http.NewServeMux()
	h := func(pattern string, fn func(w http.ResponseWriter, r *http.Request) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := fn(w, r); err != nil {
				s.writeError(w, r, err)
			}
		})
	}
	w := func(fn func(w http.ResponseWriter, r *http.Request) error) func(w http.ResponseWriter, r *http.Request) error {
		return func(rw http.ResponseWriter, r *http.Request) error {
			if id, ok := auth.FromContext(r.Context()); ok && id.Method != "none" && !id.CanWrite() {
				return &apiError{Status: http.StatusForbidden, Type: "invalid_request_error", Code: "insufficient_permissions",
					Message: fmt.Sprintf("The key's role (%s) may read but not change anything.", id.Role)}
			}
			return fn(rw, r)
		}
	}
	h("POST /v1/files", w(s.uploadFile))
	h("GET /v1/files", s.listFiles)
	h("GET /v1/files/{id}", s.getFile)
	h("GET /v1/files/{id}/content", s.fileContent)
	h("DELETE /v1/files/{id}", w(s.deleteFile))
	h("POST /v1/fine_tuning/jobs", w(s.createJob))
	h("GET /v1/fine_tuning/jobs", s.listJobs)
	h("GET /v1/fine_tuning/jobs/{id}", s.getJob)
	h("POST /v1/fine_tuning/jobs/{id}/cancel", w(s.cancelJob))
	h("POST /v1/fine_tuning/jobs/{id}/pause", w(s.pauseJob))
	h("POST /v1/fine_tuning/jobs/{id}/resume", w(s.resumeJob))
	h("GET /v1/fine_tuning/jobs/{id}/events", s.jobEvents)
	h("GET /v1/fine_tuning/jobs/{id}/checkpoints", s.jobCheckpoints)
	h("GET /v1/models", s.listModels)
	h("GET /v1/models/{id...}", s.getModel)
	h("DELETE /v1/models/{id...}", w(s.deleteModel))
	h("POST /v1/chat/completions", s.chatCompletions)
	h("POST /v1/completions", s.completions)
	h("POST /v1/playground/eval_samples", w(s.saveSample))
	h("/v1/", func(w http.ResponseWriter, r *http.Request) error {
		return &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "unknown_url",
			Message: fmt.Sprintf("Unknown request URL: %s %s.", r.Method, r.URL.Path)}
	})
	return mux
}

func (s *Server) team(r *http.Request) string {
	if s.Team != nil {
		if t := s.Team(r); t != "" {
			return t
		}
	}
	return auth.TeamOf(r.Context())
}

// owns reports whether a /v1 record (file or fine-tuning job) of team is
// the caller's. A record without a team, written before teams existed, is
// store.DefaultTeam's, as the stores' migration made every row of that
// time (team_id 'default'): the default team keeps it (and a server with
// auth off, whose caller is that team's admin), no other team sees it.
func (s *Server) owns(r *http.Request, team string) bool {
	return store.TeamOr(team) == store.TeamOr(s.team(r))
}

// apiError is an error in OpenAI's shape with its HTTP status.
type apiError struct {
	Status  int
	Message string
	Type    string
	Param   string
	Code    string
}

func (e *apiError) Error() string { return e.Message }

// invalid is a 400 invalid_request_error naming param.
func invalid(param, code, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: param, Code: code, Message: fmt.Sprintf(format, args...)}
}

// notFound is a 404 for an unknown id.
func notFound(param, code, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Param: param, Code: code, Message: fmt.Sprintf(format, args...)}
}

// writeError maps err to OpenAI's error body. Only *apiError carries a
// client status; anything else is a 500 (logged) or 499 for a gone client.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &mbe):
		ae = &apiError{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error", Code: "file_too_large",
			Message: fmt.Sprintf("The request is larger than the limit of %d bytes.", mbe.Limit)}
	case errors.Is(err, serving.ErrBusy):
		ae = &apiError{Status: http.StatusTooManyRequests, Type: "rate_limit_exceeded", Code: "rate_limit_exceeded",
			Message: "The server is at capacity for generation requests; retry after a short wait."}
		w.Header().Set("Retry-After", "1")
	case errors.Is(err, serving.ErrContext):
		ae = invalid("messages", "context_length_exceeded", "%s", err.Error())
	case errors.Is(err, context.Canceled):
		ae = &apiError{Status: 499, Type: "invalid_request_error", Message: "client closed request"}
	default:
		s.Logger.ErrorContext(r.Context(), "v1 request failed", slog.String("path", r.URL.Path), slog.Any("error", err))
		ae = &apiError{Status: http.StatusInternalServerError, Type: "server_error", Message: "The server had an error while processing your request."}
	}
	if ae.Status < 500 {
		s.Logger.DebugContext(r.Context(), "v1 request rejected", slog.Int("status", ae.Status), slog.String("error", ae.Message))
	}
	body := map[string]any{"error": map[string]any{"message": ae.Message, "type": ae.Type, "param": nullable(ae.Param), "code": nullable(ae.Code)}}
	s.writeJSON(w, ae.Status, body)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// writeJSON writes v as the answer with the server's folders redacted
// (HidePaths): every JSON answer of /v1, errors included, goes through
// here, and every server-sent event through sse.send.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.Logger.Error("v1 answer", slog.Any("error", err))
		status, b = http.StatusInternalServerError, []byte(`{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(s.redact.Bytes(b), '\n'))
}

// decodeBody reads a JSON request body into v (at most 16 MiB).
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<20)
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return invalid("", "invalid_json", "We could not parse the JSON body of your request: %v.", err)
	}
	return nil
}

// list is OpenAI's list envelope.
type list[T any] struct {
	Object  string  `json:"object"`
	Data    []T     `json:"data"`
	HasMore bool    `json:"has_more"`
	FirstID *string `json:"first_id,omitempty"`
	LastID  *string `json:"last_id,omitempty"`
}

func newList[T any](data []T, hasMore bool, id func(T) string) list[T] {
	if data == nil {
		data = []T{}
	}
	l := list[T]{Object: "list", Data: data, HasMore: hasMore}
	if len(data) > 0 && id != nil {
		f, la := id(data[0]), id(data[len(data)-1])
		l.FirstID, l.LastID = &f, &la
	}
	return l
}
