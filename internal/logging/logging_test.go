package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestJSONCarriesContextAttrs(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	ctx := With(context.Background(), slog.String("request_id", "r1"))
	ctx = With(ctx, slog.String("job_id", "job_1"), slog.Int("attempt", 2))
	log.With(slog.String("node", "train")).InfoContext(ctx, "hello", slog.Int("n", 3))
	log.DebugContext(ctx, "hidden")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON line: %q: %v", buf.String(), err)
	}
	for k, want := range map[string]any{"msg": "hello", "request_id": "r1", "job_id": "job_1", "attempt": 2.0, "node": "train", "n": 3.0, "level": "INFO"} {
		if rec[k] != want {
			t.Errorf("%s = %v, want %v", k, rec[k], want)
		}
	}
	if RequestID(ctx) != "r1" {
		t.Errorf("RequestID = %q", RequestID(ctx))
	}
}

func TestBadSettings(t *testing.T) {
	for _, c := range []struct{ level, format, want string }{
		{"loud", "text", "level"},
		{"info", "xml", "format"},
	} {
		if _, err := New(&bytes.Buffer{}, c.level, c.format); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%q, %q) = %v, want an error about %s", c.level, c.format, err, c.want)
		}
	}
}
