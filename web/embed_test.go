package web

import (
	"io"
	"io/fs"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	h := Handler()
	var asset string
	err := fs.WalkDir(Assets(), "assets", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".js") {
			asset = "/" + p
		}
		return err
	})
	if err != nil || asset == "" {
		t.Fatalf("no built JS asset in dist/assets (err %v): run scripts/web-check.sh", err)
	}
	tests := []struct {
		name, method, path string
		status             int
		cache              string
		body               string
	}{
		{"root", "GET", "/", 200, "no-cache", `<div id="root">`},
		{"client route", "GET", "/runs/abc123", 200, "no-cache", `<div id="root">`},
		{"nested client route", "GET", "/datasets/x/y", 200, "no-cache", `<div id="root">`},
		{"hashed asset", "GET", asset, 200, "public, max-age=31536000, immutable", ""},
		{"missing asset", "GET", "/assets/nope-123.js", 404, "", ""},
		{"missing file", "GET", "/favicon.ico", 404, "", ""},
		{"api is not the app", "GET", "/api/v1/nope", 404, "", ""},
		{"post refused", "POST", "/", 405, "", ""},
		{"traversal stays inside", "GET", "/../../etc/passwd", 200, "no-cache", `<div id="root">`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			res := rec.Result()
			if res.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", res.StatusCode, tt.status)
			}
			if tt.cache != "" && res.Header.Get("Cache-Control") != tt.cache {
				t.Errorf("Cache-Control = %q, want %q", res.Header.Get("Cache-Control"), tt.cache)
			}
			b, _ := io.ReadAll(res.Body)
			if tt.body != "" && !strings.Contains(string(b), tt.body) {
				t.Errorf("body lacks %q", tt.body)
			}
		})
	}
}

func TestIndexReferencesExistingAssets(t *testing.T) {
	t.Parallel()
	idx, err := fs.ReadFile(Assets(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	s := string(idx)
	n := 0
	for _, part := range strings.Split(s, `"/assets/`)[1:] {
		name := "assets/" + part[:strings.IndexByte(part, '"')]
		if _, err := fs.Stat(Assets(), name); err != nil {
			t.Errorf("index.html references %s, which is not embedded", name)
		}
		n++
	}
	if n == 0 {
		t.Fatal("index.html references no assets")
	}
}
