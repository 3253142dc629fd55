package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/api"
	"github.com/whetstone/whetstone/internal/config"
	"github.com/whetstone/whetstone/internal/metrics"
	"github.com/whetstone/whetstone/internal/platform"
	"github.com/whetstone/whetstone/internal/preflight"
)

func init() {
	register(&command{name: "serve", summary: "run the API server with an embedded worker", run: serve})
	register(&command{name: "worker", summary: "run a worker only (no API), sharing the server's database", run: worker})
}

func serve(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(io.err, "Usage: whet serve [flags]\n\nServes the API under /api/v1 (docs at /docs) and runs pipeline nodes.\n\nFlags:")
		fs.PrintDefaults()
	}
	noWorker := fs.Bool("no-worker", false, "API only: run no nodes here (workers are `whet worker` processes on the same database)")
	m := metrics.New()
	m.CollectGPUs(sampleGPUs)
	cfg, log, reg, p, err := startPlatform(ctx, fs, args, io, m, noWorker)
	if err != nil {
		return err
	}
	srv := &api.Server{Store: p.Store, Blobs: p.Blobs, Bus: p.Bus, Orch: p.Orch, Agents: reg, Health: p.Health,
		MaxUploadBytes: cfg.MaxUploadBytes, Heartbeat: cfg.Heartbeat, DryRunTimeout: cfg.DryRunTimeout, MaxDryRuns: cfg.Concurrency, Web: webHandler, Version: version, Logger: log,
		Metrics: m, MetricsOnSeparateAddr: cfg.MetricsAddr != "", AccessLog: true,
		HidePaths: hidePaths(cfg)}
	if err := configureAuth(ctx, srv, cfg, p.Store, log); err != nil {
		p.Stop(ctx)
		return err
	}
	v1, stopV1, err := v1Handler(cfg, p, log)
	if err != nil {
		p.Stop(ctx)
		return err
	}
	defer stopV1()
	srv.Mounts = map[string]http.Handler{"/v1/": v1}
	// No Datasets: the orchestrator checks uploaded dataset, model and
	// artifact references for the caller's team (api: CheckSources).
	checker := &preflight.Checker{WorkDir: cfg.WorkDir}
	if paths := p.Orch.Paths(); paths != nil {
		checker.Files = paths // the server's file sandbox: refusals never say whether a file exists
	}
	srv.Preflight = checker
	stopMetrics, err := serveMetrics(ctx, cfg.MetricsAddr, m, log)
	if err != nil {
		p.Stop(ctx)
		return err
	}
	defer stopMetrics()
	hs := &http.Server{Addr: cfg.Addr, Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		p.Stop(ctx)
		return err
	}
	log.Info("whet serving", slog.String("addr", ln.Addr().String()), slog.String("data_dir", cfg.DataDir), slog.String("version", version), slog.Bool("worker", !*noWorker),
		slog.Bool("tls", srv.TLS), slog.Bool("auth", srv.Auth != nil && srv.Auth.Required()))
	errc := make(chan error, 1)
	if srv.TLS {
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		go func() { errc <- hs.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey) }()
	} else {
		go func() { errc <- hs.Serve(ln) }()
	}
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	log.Info("whet stopping")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hs.Shutdown(sctx)
	if perr := p.Stop(sctx); perr != nil {
		log.Error("stop", slog.Any("error", perr))
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// hidePaths are the server's own folders that neither /api/v1 nor /v1
// names in an answer (package redact): the data folder, the work folder,
// the base models, the temp folder and the allowed roots.
func hidePaths(cfg config.Config) []string {
	return append([]string{cfg.DataDir, cfg.WorkDir, cfg.BaseModels, os.TempDir()}, cfg.AllowPath...)
}

func worker(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(io.err, "Usage: whet worker [flags]\n\nRuns pipeline nodes from the shared database, without the API.\n\nFlags:")
		fs.PrintDefaults()
	}
	m := metrics.New()
	m.CollectGPUs(sampleGPUs)
	cfg, log, _, p, err := startPlatform(ctx, fs, args, io, m, nil)
	if err != nil {
		return err
	}
	stopMetrics, err := serveMetrics(ctx, cfg.MetricsAddr, m, log)
	if err != nil {
		p.Stop(ctx)
		return err
	}
	defer stopMetrics()
	log.Info("whet worker running", slog.String("data_dir", cfg.DataDir), slog.Int("concurrency", cfg.Concurrency), slog.String("worker_id", p.WorkerID))
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return p.Stop(sctx)
}

// startPlatform parses the shared configuration flags, then opens and starts
// the platform (store, blobs, queue, a worker) with every agent registered.
// The caller stops it.
func startPlatform(ctx context.Context, fs *flag.FlagSet, args []string, io stdio, m *metrics.Metrics, noWorker *bool) (config.Config, *slog.Logger, *agent.Registry, *platform.Platform, error) {
	cfg, err := parseFlags(fs, args, io.err)
	if err != nil {
		return cfg, nil, nil, nil, err
	}
	log := newLogger(io.err, cfg.LogLevel, cfg.LogFormat)
	reg, err := newRegistry()
	if err != nil {
		return cfg, nil, nil, nil, err
	}
	work := noWorker == nil || !*noWorker
	// Isolated even without a worker: a dry run (POST /jobs?dry_run=true)
	// runs the data agents and train's warm-up, which belong in a child
	// process too.
	if cfg.Isolated() {
		if reg, err = isolateAgents(reg, cfg, log); err != nil {
			return cfg, nil, nil, nil, err
		}
	}
	authOn, err := cfg.AuthRequired(cfg.Addr)
	if err != nil {
		return cfg, nil, nil, nil, err
	}
	p, err := platform.Open(ctx, cfg, reg, platform.Options{Work: work, Logger: log, Metrics: m, Sandbox: true, AuthOn: authOn})
	if err != nil {
		return cfg, nil, nil, nil, err
	}
	if err := p.Start(ctx); err != nil {
		p.Stop(ctx)
		return cfg, nil, nil, nil, err
	}
	return cfg, log, reg, p, nil
}

// serveMetrics serves /metrics (and /livez) on addr when it is set; the
// returned func stops it.
func serveMetrics(ctx context.Context, addr string, m *metrics.Metrics, log *slog.Logger) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"ok"}`)
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	go hs.Serve(ln)
	log.Info("metrics serving", slog.String("addr", ln.Addr().String()))
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}, nil
}
