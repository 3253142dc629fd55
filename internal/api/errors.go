package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/orchestrate"
	"github.com/whetstone/whetstone/internal/pipeline"
	"github.com/whetstone/whetstone/internal/store"
)

// Errors the handlers return for request problems.
var (
	errUnsupportedMedia = errors.New("unsupported media type")
	errTooLarge         = errors.New("request entity too large")
	errBadRequest       = errors.New("bad request")
)

// badRequest wraps msg as an errBadRequest.
func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

// problem maps err to an RFC 9457 problem with the right status. It is the
// only place that knows statuses. 5xx are logged at Error, 4xx at Debug.
func (s *Server) problem(ctx context.Context, err error) error {
	var (
		ve     *pipeline.ValidationError
		se     *pipeline.SyntaxError
		mbe    *http.MaxBytesError
		status int
		msg    = err.Error()
		det    []error
	)
	switch {
	case errors.As(err, &ve):
		status, msg = http.StatusUnprocessableEntity, "invalid pipeline"
		for _, fe := range ve.Errors {
			loc := fe.Field
			if fe.Node != "" {
				loc = "nodes[" + fe.Node + "]." + fe.Field
			}
			det = append(det, &huma.ErrorDetail{Location: loc, Message: fe.Error()})
		}
	case errors.As(err, &se):
		status = http.StatusBadRequest
	case errors.As(err, &mbe), errors.Is(err, errTooLarge):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, errUnsupportedMedia):
		status = http.StatusUnsupportedMediaType
	case errors.Is(err, errBadRequest), errors.Is(err, blob.ErrInvalidKey):
		status = http.StatusBadRequest
	case errors.Is(err, store.ErrNotFound), errors.Is(err, blob.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, errForbidden):
		status = http.StatusForbidden
	case errors.Is(err, store.ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, orchestrate.ErrDryRunTimeout):
		status = http.StatusGatewayTimeout
	case errors.Is(err, context.Canceled):
		status, msg = 499, "client closed request"
	default:
		status, msg = http.StatusInternalServerError, "internal error"
	}
	if status >= 500 {
		s.Logger.ErrorContext(ctx, "request failed", slog.Any("error", err))
	} else {
		s.Logger.DebugContext(ctx, "request rejected", slog.Int("status", status), slog.Any("error", err))
	}
	// A 4xx names what was wrong, never where the server keeps it.
	for _, d := range det {
		if ed, ok := d.(*huma.ErrorDetail); ok {
			ed.Message = s.redact.String(ed.Message)
		}
	}
	return huma.NewError(status, s.redact.String(msg), det...)
}

// Error bodies repeat at most maxEcho characters of a request's value (a
// detail's value) and maxMessage of a message: huma echoed a 900 KB query
// value back in full.
const (
	maxEcho    = 200
	maxMessage = 2000
)

// capErrors is the API's transformer of error bodies (every problem, from
// problem or from huma's own validation, is written through it): it cuts
// long echoed values and messages to a prefix, an ellipsis and the
// original length (capText).
func capErrors(_ huma.Context, _ string, v any) (any, error) {
	em, ok := v.(*huma.ErrorModel)
	if !ok {
		return v, nil
	}
	em.Detail = capText(em.Detail, maxMessage)
	for _, d := range em.Errors {
		if d == nil {
			continue
		}
		d.Message = capText(d.Message, maxMessage)
		d.Value = capValue(d.Value)
	}
	return em, nil
}

// capValue returns v, or, when v (a string, or written as JSON) is longer
// than maxEcho characters, its capped text.
func capValue(v any) any {
	switch x := v.(type) {
	case nil, bool, int, int64, float64:
		return v
	case string:
		return capText(x, maxEcho)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	if len(b) <= maxEcho {
		return v
	}
	return capText(string(b), maxEcho)
}

// capText returns s, or, when s has more than n characters, its first n,
// an ellipsis and how many characters s had.
func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i, count := 0, 0
	for j := range s {
		if count == n {
			i = j
		}
		count++
	}
	if count <= n {
		return s
	}
	return fmt.Sprintf("%s… (%d characters)", s[:i], count)
}
