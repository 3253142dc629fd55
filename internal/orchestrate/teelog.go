package orchestrate

import (
	"context"
	"log/slog"

	"github.com/whetstone/whetstone/internal/agent"
)

// teeHandler sends an agent's log records (the engine's lines among them)
// both to the server's log and, at Info and above, to the job's event log,
// so a run page shows what the server's stderr shows.
type teeHandler struct {
	inner slog.Handler
	emit  agent.Emitter
	attrs []slog.Attr
	group string
}

func teeLogger(log *slog.Logger, emit agent.Emitter) *slog.Logger {
	return slog.New(&teeHandler{inner: log.Handler(), emit: emit})
}

func (h *teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.inner.Enabled(ctx, l)
}

func (h *teeHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelInfo {
		attrs := make([]slog.Attr, 0, len(h.attrs)+r.NumAttrs())
		attrs = append(attrs, h.attrs...)
		r.Attrs(func(a slog.Attr) bool {
			if h.group != "" {
				a.Key = h.group + "." + a.Key
			}
			attrs = append(attrs, a)
			return true
		})
		h.emit.Log(r.Level, r.Message, attrs...)
	}
	if h.inner.Enabled(ctx, r.Level) {
		return h.inner.Handle(ctx, r)
	}
	return nil
}

func (h *teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.inner = h.inner.WithAttrs(as)
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

func (h *teeHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.inner = h.inner.WithGroup(name)
	if c.group != "" {
		name = c.group + "." + name
	}
	c.group = name
	return &c
}
