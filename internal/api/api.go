// Package api is Whetstone's REST API under /api/v1: jobs, datasets,
// models, event streams and the agent palette, described by OpenAPI 3.1 at
// /openapi.json with browsable docs at /docs (docs.go, rendered server-side,
// self-contained). Errors are RFC 9457 problem
// documents; problem (errors.go) is the only place that maps errors to
// HTTP statuses.
package api

import (
	"context"
	"github.com/whetstone/whetstone/internal/gpus"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/auth"
	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/events"
	"github.com/whetstone/whetstone/internal/metrics"
	"github.com/whetstone/whetstone/internal/orchestrate"
	"github.com/whetstone/whetstone/internal/redact"
	"github.com/whetstone/whetstone/internal/store"
)

// Server holds what the handlers need.
type Server struct {
	Store  store.Store
	Blobs  blob.Store
	Bus    *events.Bus
	Orch   *orchestrate.Orchestrator
	Agents *agent.Registry
	// Health checks the backends; nil reports ok.
	Health func(ctx context.Context) (map[string]string, bool)
	// MaxUploadBytes bounds a dataset upload. Defaults to 10 GiB.
	MaxUploadBytes int64
	// Heartbeat is the SSE keep-alive interval. Defaults to 15s.
	Heartbeat time.Duration
	// StreamWriteTimeout is how long one write to an SSE client may block
	// (the client stopped reading) before its stream is dropped; each
	// write gets it afresh, so a live stream has no overall limit.
	// Defaults to 1 minute.
	StreamWriteTimeout time.Duration
	// DryRunTimeout bounds a dry run (POST /jobs?dry_run=true), which runs
	// inside the request: past it the plan's work is stopped and the
	// request answers 504. Defaults to 5 minutes.
	DryRunTimeout time.Duration
	// MaxDryRuns bounds the dry runs working at once (each runs data
	// agents and a training warm-up, in agent processes): the others wait
	// for a turn within their DryRunTimeout. Defaults to 2 (whet serve:
	// --concurrency, as for nodes).
	MaxDryRuns int
	// Web, when set, serves everything outside the API (the web UI) at /.
	Web     http.Handler
	Version string
	Logger  *slog.Logger
	// Metrics, when set, counts requests and is served at /metrics (unless
	// MetricsOnSeparateAddr).
	Metrics *metrics.Metrics
	// MetricsOnSeparateAddr keeps /metrics off this handler (it is served
	// on --metrics-addr instead).
	MetricsOnSeparateAddr bool
	// AccessLog logs one line per request (route, status, bytes, duration).
	AccessLog bool
	// Mounts are more handlers by ServeMux pattern, served behind the same
	// middleware (e.g. "/v1/": the OpenAI-compatible API).
	Mounts map[string]http.Handler
	// Preflight, when set, checks every submitted pipeline against files,
	// datasets and models before it is queued, and backs
	// POST /pipelines/validate.
	Preflight Preflighter
	// GPUs lists the machine's GPUs for GET /api/v1/gpus; nil uses
	// gpus.List (NVML; an empty list without a GPU).
	GPUs func() ([]gpus.GPU, error)
	// Auth authenticates every request outside the open paths (auth.Open),
	// enforces roles and rate limits and writes the audit log; nil serves
	// everything as store.DefaultTeam with no audit (tests).
	Auth *auth.Middleware
	// TLS adds HSTS; CORSOrigins allows those origins (none by default).
	TLS         bool
	CORSOrigins []string
	// QuotaBytes bounds a team's stored datasets and models (0: none).
	QuotaBytes int64
	// HidePaths are the server's own folders (the data folder, the work
	// folder, the allowed roots) that no response names: a path under one
	// is served as its display name (package redact). Nil hides nothing.
	HidePaths []string

	redact *redact.Paths
	// dryRuns holds a token per dry run working (MaxDryRuns).
	dryRuns chan struct{}

	// summaries holds the GET /jobs summaries of ended jobs (they no longer change).
	summaries summaryCache
}

// Handler returns the HTTP handler: the API, /openapi.json, /docs and the
// web UI at /.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.MaxUploadBytes <= 0 {
		s.MaxUploadBytes = 10 << 30
	}
	if s.Heartbeat <= 0 {
		s.Heartbeat = 15 * time.Second
	}
	if s.StreamWriteTimeout <= 0 {
		s.StreamWriteTimeout = time.Minute
	}
	if s.DryRunTimeout <= 0 {
		s.DryRunTimeout = 5 * time.Minute
	}
	if s.MaxDryRuns <= 0 {
		s.MaxDryRuns = 2
	}
	s.dryRuns = make(chan struct{}, s.MaxDryRuns)
	s.redact = redact.NewPaths(s.HidePaths)
	mux := http.NewServeMux()
	cfg := huma.DefaultConfig("Whetstone API", s.Version)
	cfg.CreateHooks = nil // no $schema links in bodies
	cfg.DocsPath = ""     // huma's page loads its renderer from a CDN; ours is self-contained
	// pipeline.Node and store.Node would share the name "Node".
	cfg.Components.Schemas = huma.NewMapRegistry("#/components/schemas/", func(t reflect.Type, hint string) string {
		name := huma.DefaultSchemaNamer(t, hint)
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if strings.HasSuffix(t.PkgPath(), "/pipeline") && !strings.HasPrefix(name, "Pipeline") {
			name = "Pipeline" + name
		}
		return name
	})
	// Error bodies repeat no long request value (capErrors).
	cfg.Transformers = append(cfg.Transformers, capErrors)
	cfg.Info.Description = "Run LLM fine-tuning pipelines (DAGs of agents) on a durable queue and stream their events."
	api := humago.New(mux, cfg)
	s.routes(api)
	s.registerAccess(api)
	mux.Handle("GET /docs", docsHandler(api.OpenAPI()))
	if s.Metrics != nil && !s.MetricsOnSeparateAddr {
		mux.Handle("GET /metrics", s.Metrics.Handler())
	}
	for pattern, h := range s.Mounts {
		mux.Handle(pattern, h)
	}
	if s.Web != nil {
		mux.Handle("/", s.Web)
	}
	var h http.Handler = mux
	if s.Auth != nil {
		h = s.Auth.Wrap(h)
	}
	return s.observe(auth.Headers(h, s.TLS, s.CORSOrigins))
}
