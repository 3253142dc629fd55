package main

import (
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"github.com/whetstone/whetstone/internal/config"
	"github.com/whetstone/whetstone/internal/openai"
	"github.com/whetstone/whetstone/internal/platform"
	"github.com/whetstone/whetstone/internal/serving"
)

// v1Handler builds the OpenAI-compatible API (fine-tuning and inference)
// mounted at /v1/ by `whet serve`. The returned stop ends the inference
// engine.
func v1Handler(cfg config.Config, p *platform.Platform, log *slog.Logger) (http.Handler, func(), error) {
	cache := filepath.Join(cfg.DataDir, "tmp", "v1")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, nil, err
	}
	eng := serving.New(serving.Options{MaxBatch: cfg.InferenceBatch, MaxQueue: cfg.InferenceQueue, Logger: log})
	s := &openai.Server{Store: p.Store, Blobs: p.Blobs, Orch: p.Orch, Engine: eng, BaseModels: cfg.BaseModels,
		CacheDir: cache, Logger: log.With(slog.String("api", "v1")), HidePaths: hidePaths(cfg)}
	return s.Handler(), eng.Close, nil
}
