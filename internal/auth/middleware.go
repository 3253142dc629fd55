package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/whetstone/whetstone/internal/store"
)

// Config configures the middleware.
type Config struct {
	// Required turns authentication on; when false every request acts as
	// an admin of store.DefaultTeam (writes are still audited).
	Required bool
	Store    store.Store
	JWT      JWTConfig
	// RateLimit is requests per second per key or token subject (0: none);
	// RateBurst the bucket's size (defaults to 2×RateLimit).
	RateLimit float64
	RateBurst int
	Logger    *slog.Logger
}

// Middleware authenticates requests, enforces roles and rate limits and
// writes the audit log.
type Middleware struct {
	cfg Config
	jwt *jwtVerifier
	log *slog.Logger

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
	touched  map[string]time.Time
}

// New returns the middleware.
func New(cfg Config) *Middleware {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.RateLimit > 0 && cfg.RateBurst <= 0 {
		cfg.RateBurst = int(math.Ceil(2 * cfg.RateLimit))
	}
	m := &Middleware{cfg: cfg, log: log, limiters: map[string]*rate.Limiter{}, touched: map[string]time.Time{}}
	if len(cfg.JWT.Secret) > 0 || cfg.JWT.JWKSURL != "" {
		m.jwt = newJWTVerifier(cfg.JWT)
	}
	return m
}

// Required reports whether requests must authenticate.
func (m *Middleware) Required() bool { return m.cfg.Required }

// Open reports whether path is served without credentials: health probes,
// the API description and the web UI's static files (the UI signs in
// itself). /metrics, /api/ and /v1/ need credentials.
func Open(path string) bool {
	switch path {
	case "/health", "/livez", "/readyz", "/api/v1/health", "/openapi.json", "/openapi.yaml", "/docs":
		return true
	}
	return !strings.HasPrefix(path, "/api/") && !strings.HasPrefix(path, "/v1/") && path != "/metrics" &&
		!strings.HasPrefix(path, "/openapi")
}

// ErrUnauthenticated is a missing, malformed, unknown, expired or revoked
// credential.
var ErrUnauthenticated = errors.New("unauthenticated")

// ParseAuthorization returns the bearer token of an Authorization header
// value; "" and an error when it is not one.
func ParseAuthorization(h string) (string, error) {
	if h == "" {
		return "", fmt.Errorf("%w: no credentials: send Authorization: Bearer KEY", ErrUnauthenticated)
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("%w: Authorization must be \"Bearer TOKEN\"", ErrUnauthenticated)
	}
	token = strings.TrimSpace(token)
	if token == "" || len(token) > 8192 || strings.ContainsAny(token, " \t\r\n") {
		return "", fmt.Errorf("%w: malformed bearer token", ErrUnauthenticated)
	}
	return token, nil
}

// token finds the request's credential: the Authorization header, or for
// GET requests (EventSource streams and download links, which cannot send
// headers) an access_token query parameter, which is then removed from the
// request so that nothing downstream logs it.
func token(r *http.Request) (string, error) {
	if h := r.Header.Get("Authorization"); h != "" || r.Method != http.MethodGet {
		return ParseAuthorization(h)
	}
	q := r.URL.Query()
	t := q.Get("access_token")
	if t == "" {
		return ParseAuthorization("")
	}
	q.Del("access_token")
	r.URL.RawQuery = q.Encode()
	r.RequestURI = r.URL.RequestURI()
	return ParseAuthorization("Bearer " + t)
}

// Authenticate returns the identity of token.
func (m *Middleware) Authenticate(ctx context.Context, tok string) (Identity, error) {
	if looksLikeKey(tok) {
		k, err := m.cfg.Store.KeyByHash(ctx, HashKey(tok))
		if errors.Is(err, store.ErrNotFound) {
			return Identity{}, fmt.Errorf("%w: unknown API key", ErrUnauthenticated)
		}
		if err != nil {
			return Identity{}, err
		}
		now := time.Now()
		if k.RevokedAt != nil {
			return Identity{Actor: k.ID, Team: k.Team}, fmt.Errorf("%w: API key %s was revoked", ErrUnauthenticated, k.ID)
		}
		if k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) {
			return Identity{Actor: k.ID, Team: k.Team}, fmt.Errorf("%w: API key %s expired", ErrUnauthenticated, k.ID)
		}
		m.touch(ctx, k.ID, now)
		return Identity{Actor: k.ID, Team: k.Team, Role: k.Role, Method: "key"}, nil
	}
	if m.jwt.enabled() && strings.Count(tok, ".") == 2 {
		id, err := m.jwt.verify(ctx, tok)
		if err != nil {
			return Identity{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
		}
		return id, nil
	}
	return Identity{}, fmt.Errorf("%w: not an API key (whet_...) or a JWT this server accepts", ErrUnauthenticated)
}

// touch records a key's last use at most once a minute per key, so reads
// do not queue behind a write each.
func (m *Middleware) touch(ctx context.Context, id string, now time.Time) {
	m.mu.Lock()
	last := m.touched[id]
	due := now.Sub(last) > time.Minute
	if due {
		m.touched[id] = now
	}
	m.mu.Unlock()
	if due {
		if err := m.cfg.Store.TouchKey(context.WithoutCancel(ctx), id, now.UTC()); err != nil {
			m.log.WarnContext(ctx, "record key use", slog.String("key_id", id), slog.Any("error", err))
		}
	}
}

func (m *Middleware) limiter(actor string) *rate.Limiter {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.limiters[actor]
	if !ok {
		l = rate.NewLimiter(rate.Limit(m.cfg.RateLimit), m.cfg.RateBurst)
		m.limiters[actor] = l
	}
	return l
}

// Wrap returns next behind authentication, roles, rate limits and the
// audit log.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if Open(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		var id Identity
		if !m.cfg.Required {
			id = Identity{Team: store.DefaultTeam, Role: store.RoleAdmin, Method: "none"}
		} else {
			tok, err := token(r)
			if err == nil {
				id, err = m.Authenticate(r.Context(), tok)
			}
			if err != nil {
				status := http.StatusUnauthorized
				if !errors.Is(err, ErrUnauthenticated) {
					status = http.StatusServiceUnavailable
					m.log.ErrorContext(r.Context(), "authenticate", slog.Any("error", err))
				}
				m.audit(w, r, id, status, "auth.failed", err.Error())
				w.Header().Set("WWW-Authenticate", `Bearer realm="whetstone"`)
				writeProblem(w, status, err.Error())
				return
			}
		}
		if m.cfg.RateLimit > 0 && id.Method != "none" {
			l := m.limiter(id.Actor)
			res := l.Reserve()
			delay := res.Delay()
			w.Header().Set("RateLimit-Limit", strconv.Itoa(m.cfg.RateBurst))
			remaining := int(l.Tokens())
			if delay > 0 {
				res.Cancel()
				retry := int(math.Ceil(delay.Seconds()))
				w.Header().Set("Retry-After", strconv.Itoa(retry))
				w.Header().Set("RateLimit-Remaining", "0")
				w.Header().Set("RateLimit-Reset", strconv.Itoa(retry))
				writeProblem(w, http.StatusTooManyRequests, fmt.Sprintf("rate limit: %g requests/s per key (burst %d); retry after %ds", m.cfg.RateLimit, m.cfg.RateBurst, retry))
				return
			}
			w.Header().Set("RateLimit-Remaining", strconv.Itoa(max(remaining, 0)))
			w.Header().Set("RateLimit-Reset", strconv.Itoa(int(math.Ceil(float64(m.cfg.RateBurst-max(remaining, 0))/m.cfg.RateLimit))))
		}
		write := r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions
		if write && !id.CanWrite() {
			m.audit(w, r, id, http.StatusForbidden, r.Method+" "+r.URL.Path, "")
			writeProblem(w, http.StatusForbidden, fmt.Sprintf("role %s is read-only", id.Role))
			return
		}
		orig := r
		r = r.WithContext(WithIdentity(r.Context(), id))
		// The mux notes the route on the request it serves; hand it back
		// to the outer middleware (metrics by route).
		defer func() { orig.Pattern = r.Pattern }()
		if !write {
			next.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		m.audit(w, r, id, rec.status, r.Method+" "+r.URL.Path, rec.Header().Get("X-Resource-Id"))
	})
}

// audit records one entry in the store and in the log.
func (m *Middleware) audit(w http.ResponseWriter, r *http.Request, id Identity, status int, action, detail string) {
	resource := r.PathValue("id")
	if resource == "" {
		resource = r.PathValue("job_id")
	}
	if action == "auth.failed" {
		resource = r.Method + " " + r.URL.Path
	} else if detail != "" {
		resource = detail
	}
	client, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		client = r.RemoteAddr
	}
	e := &store.AuditEntry{Time: time.Now().UTC(), Actor: id.Actor, Team: id.Team, Action: action, Resource: resource, Status: status,
		Client: client, RequestID: w.Header().Get("X-Request-Id")}
	ctx := context.WithoutCancel(r.Context())
	if err := m.cfg.Store.AppendAudit(ctx, e); err != nil {
		m.log.ErrorContext(ctx, "audit", slog.Any("error", err))
	}
	attrs := []slog.Attr{slog.String("actor", e.Actor), slog.String("team", e.Team), slog.String("action", e.Action),
		slog.String("resource", e.Resource), slog.Int("status", e.Status), slog.String("client", e.Client)}
	if action == "auth.failed" {
		attrs = append(attrs, slog.String("reason", detail))
	}
	m.log.LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
}

func writeProblem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"title": http.StatusText(status), "status": status, "detail": detail})
}

type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
