package api

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"

	"github.com/whetstone/whetstone/internal/logging"
)

// observe wraps the whole handler: it gives every request an id (a sane
// incoming X-Request-Id is kept, else a new one; returned in the response's
// X-Request-Id), puts it in the request's context for every log line,
// counts the request in the metrics by route pattern and status, and logs
// one access line when it ends.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !saneRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		r = r.WithContext(logging.With(r.Context(), slog.String("request_id", id)))
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		if s.Metrics != nil {
			s.Metrics.InFlight(1)
			defer s.Metrics.InFlight(-1)
		}
		next.ServeHTTP(rec, r)
		d := time.Since(start)
		// The mux sets r.Pattern on this request when it routes it.
		route := r.Pattern
		if s.Metrics != nil {
			s.Metrics.ObserveRequest(route, rec.status, d)
		}
		if s.AccessLog {
			s.Logger.LogAttrs(r.Context(), slog.LevelInfo, "http request",
				slog.String("method", r.Method), slog.String("route", route), slog.String("path", r.URL.Path),
				slog.Int("status", rec.status), slog.Int64("bytes", rec.bytes),
				slog.Float64("duration_ms", float64(d.Microseconds())/1000), slog.String("remote", r.RemoteAddr))
		}
	})
}

// saneRequestID accepts 1..64 characters of [A-Za-z0-9._-].
func saneRequestID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

// recorder notes the status and body size; Unwrap lets
// http.ResponseController reach Flush and deadlines (SSE).
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
