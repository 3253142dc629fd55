package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/whetstone/whetstone/internal/auth"
	"github.com/whetstone/whetstone/internal/events"
)

type streamInput struct {
	JobID       string `path:"job_id" maxLength:"100"`
	LastEventID string `header:"Last-Event-ID" doc:"replay the events after this seq"`
	After       int64  `query:"after" minimum:"0" doc:"like Last-Event-ID, for clients that cannot set headers"`
}

func (s *Server) registerStream(api huma.API) {
	op := huma.Operation{OperationID: "stream-job", Method: http.MethodGet, Path: prefix + "/logs/stream/{job_id}", Tags: []string{"logs"},
		Summary: "Stream a job's events (Server-Sent Events)",
		Description: "Each event has `id:` (the job's monotonic seq), `event:` (log, progress, metric, node, status) and a JSON `data:` " +
			"(job_id, seq, type, node, time, data). History after Last-Event-ID is replayed first; comments keep the connection alive; " +
			"the stream ends after the job's final status event.",
		Responses: map[string]*huma.Response{"200": {Description: "an event stream", Content: map[string]*huma.MediaType{"text/event-stream": {}}}},
	}
	huma.Register(api, op, func(ctx context.Context, in *streamInput) (*huma.StreamResponse, error) {
		after := in.After
		if in.LastEventID != "" {
			n, err := strconv.ParseInt(strings.TrimSpace(in.LastEventID), 10, 64)
			if err != nil || n < 0 {
				return nil, s.problem(ctx, badRequest("Last-Event-ID %q: want a non-negative integer", in.LastEventID))
			}
			after = n
		}
		job, err := auth.Reader(ctx, s.Store).GetJob(ctx, in.JobID)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			r, w := humago.Unwrap(hctx)
			s.stream(r, w, job.ID, after)
		}}, nil
	})
}

func (s *Server) stream(r *http.Request, w http.ResponseWriter, jobID string, after int64) {
	ctx := r.Context()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	// A client that stops reading (a hung tab, a stalled proxy) would
	// block a write, and with it this handler and its subscription, for
	// as long as its connection stays up: each write and flush may block
	// for StreamWriteTimeout, and one that takes longer ends the stream.
	// When the stream ends otherwise the deadline is cleared, so the
	// connection's next request is not bound by it.
	var werr error
	defer func() {
		if werr == nil {
			rc.SetWriteDeadline(time.Time{})
		} else if ctx.Err() == nil {
			s.Logger.InfoContext(ctx, "sse client not reading; stream dropped", slog.String("job_id", jobID), slog.Int64("after", after), slog.Any("error", werr))
		}
	}()
	send := func(format string, args ...any) bool {
		rc.SetWriteDeadline(time.Now().Add(s.StreamWriteTimeout))
		_, werr = fmt.Fprintf(w, format, args...)
		return werr == nil
	}
	flush := func() bool {
		rc.SetWriteDeadline(time.Now().Add(s.StreamWriteTimeout))
		werr = rc.Flush()
		return werr == nil
	}
	if !send("retry: 2000\n\n") || !flush() {
		return
	}
	sub := s.Bus.Subscribe(jobID, after)
	defer sub.Close()
	if j, err := s.Store.GetJob(ctx, jobID); err == nil && j.Status.Terminal() {
		if more, _ := s.Store.ListEvents(ctx, jobID, after, 1); len(more) == 0 {
			return // replay past the final event: nothing more will come
		}
	}
	for {
		evs, err := sub.Next(ctx, s.Heartbeat)
		if err != nil {
			return
		}
		if len(evs) == 0 {
			if j, err := s.Store.GetJob(ctx, jobID); err == nil && j.Status.Terminal() {
				// The final event is behind Last-Event-ID: nothing more will come.
				if more, _ := s.Store.ListEvents(ctx, jobID, after, 1); len(more) == 0 {
					return
				}
			}
			if !send(": heartbeat\n\n") || !flush() {
				return
			}
			continue
		}
		for _, e := range evs {
			e.Data = s.redact.Bytes(e.Data)
			b, _ := json.Marshal(e)
			after = e.Seq
			if !send("id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Type, b) {
				return
			}
			if events.IsFinal(e) {
				flush()
				return
			}
		}
		if !flush() {
			return
		}
	}
}
