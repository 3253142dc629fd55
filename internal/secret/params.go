package secret

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
)

// walk returns a copy of params with f applied to every string value that
// decls (and the Fields of object params) declare with Kind "secret".
func walk(decls []agent.Param, params map[string]any, path string, f func(field, v string) (string, error)) (map[string]any, error) {
	if params == nil {
		return nil, nil
	}
	out := make(map[string]any, len(params))
	for k, v := range params {
		out[k] = v
	}
	for _, d := range decls {
		v, ok := params[d.Name]
		if !ok {
			continue
		}
		field := path + d.Name
		switch {
		case d.Kind == "secret":
			s, ok := v.(string)
			if !ok || s == "" {
				continue
			}
			t, err := f(field, s)
			if err != nil {
				return nil, err
			}
			out[d.Name] = t
		case d.Type == agent.Object && len(d.Fields) > 0:
			m, ok := v.(map[string]any)
			if !ok {
				continue
			}
			t, err := walk(d.Fields, m, field+".", f)
			if err != nil {
				return nil, err
			}
			out[d.Name] = t
		}
	}
	return out, nil
}

// SealParams returns params with each secret value sealed for team. A nil
// Box leaves them as they are.
func (b *Box) SealParams(decls []agent.Param, params map[string]any, team string) (map[string]any, error) {
	if b == nil {
		return params, nil
	}
	return walk(decls, params, "params.", func(field, v string) (string, error) {
		s, err := b.Seal(v, team)
		if err != nil {
			return "", fmt.Errorf("%s: %w", field, err)
		}
		return s, nil
	})
}

// OpenParams returns params with each secret team sealed opened. A nil Box
// leaves them as they are.
func (b *Box) OpenParams(decls []agent.Param, params map[string]any, team string) (map[string]any, error) {
	if b == nil {
		return params, nil
	}
	return walk(decls, params, "params.", func(field, v string) (string, error) {
		s, err := b.Open(v, team)
		if err != nil {
			return "", fmt.Errorf("%s: %w", field, err)
		}
		return s, nil
	})
}

// RedactParams returns params with each secret value replaced by Redacted,
// for anything shown or logged where a reference is not wanted.
func RedactParams(decls []agent.Param, params map[string]any) map[string]any {
	out, _ := walk(decls, params, "", func(string, string) (string, error) { return Redacted, nil })
	return out
}

// Values returns the secret values in params (plaintexts once opened), for
// a Redactor.
func Values(decls []agent.Param, params map[string]any) []string {
	var vals []string
	walk(decls, params, "", func(_, v string) (string, error) {
		vals = append(vals, v)
		return v, nil
	})
	return vals
}

// Redactor replaces secret values in text. The zero value replaces nothing.
type Redactor struct{ r *strings.Replacer }

// NewRedactor returns a Redactor for values (values shorter than 4 bytes are
// ignored: they would redact ordinary words).
func NewRedactor(values []string) Redactor {
	var pairs []string
	for _, v := range values {
		if len(v) >= 4 {
			pairs = append(pairs, v, Redacted)
		}
	}
	if len(pairs) == 0 {
		return Redactor{}
	}
	return Redactor{strings.NewReplacer(pairs...)}
}

// String returns s with every secret replaced.
func (r Redactor) String(s string) string {
	if r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// Error returns err with its message redacted, still wrapping err (so
// errors.Is and errors.As see through it); nil for nil.
func (r Redactor) Error(err error) error {
	if err == nil || r.r == nil {
		return err
	}
	msg := r.String(err.Error())
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Emitter returns e with secrets removed from log messages and string
// attributes and progress messages.
func (r Redactor) Emitter(e agent.Emitter) agent.Emitter {
	if r.r == nil {
		return e
	}
	return redactingEmitter{e: e, r: r}
}

type redactingEmitter struct {
	e agent.Emitter
	r Redactor
}

func (x redactingEmitter) Log(level slog.Level, msg string, attrs ...slog.Attr) {
	for i, a := range attrs {
		if a.Value.Kind() == slog.KindString || a.Value.Kind() == slog.KindAny {
			attrs[i] = slog.String(a.Key, x.r.String(a.Value.String()))
		}
	}
	x.e.Log(level, x.r.String(msg), attrs...)
}

func (x redactingEmitter) Progress(f float64, eta time.Duration, msg string) {
	x.e.Progress(f, eta, x.r.String(msg))
}

func (x redactingEmitter) Metrics(step int, values map[string]float64) { x.e.Metrics(step, values) }
