package api_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestDocs checks the self-contained /docs page: HTML, every path of the
// OpenAPI document, no external URL, and the rendering of get-job against
// testdata/docs_get-job.golden.html (regenerate with -update).
func TestDocs(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	root := strings.TrimSuffix(e.url, "/api/v1")
	resp, b := do(t, "GET", root+"/docs", "", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/docs = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	page := string(b)

	_, spec := do(t, "GET", root+"/openapi.json", "", nil)
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(spec, &doc); err != nil || len(doc.Paths) < 10 {
		t.Fatalf("openapi.json: %d paths, %v", len(doc.Paths), err)
	}
	for path, ops := range doc.Paths {
		if !strings.Contains(page, `<span class="path">`+path+`</span>`) {
			t.Errorf("/docs lacks path %s", path)
		}
		for _, op := range ops {
			if !strings.Contains(page, `id="op-`+op.OperationID+`"`) {
				t.Errorf("/docs lacks operation %s", op.OperationID)
			}
		}
	}
	// Nothing is loaded from elsewhere: no absolute URL at all (the spec
	// links are relative), no script.
	if m := regexp.MustCompile(`(?i)https?://\S*`).FindAllString(page, -1); len(m) > 0 {
		t.Errorf("/docs has external URLs: %q", m)
	}
	for _, bad := range []string{"<script", "<link", "<img", "@import"} {
		if strings.Contains(page, bad) {
			t.Errorf("/docs has %s", bad)
		}
	}
	for _, want := range []string{`href="/openapi.json"`, "prefers-color-scheme: dark", `id="schema-ErrorModel"`} {
		if !strings.Contains(page, want) {
			t.Errorf("/docs lacks %s", want)
		}
	}

	// One operation's rendering against its golden.
	got := regexp.MustCompile(`(?s)<article class="op" id="op-get-job">.*?</article>\n`).FindString(page)
	if got == "" {
		t.Fatal("no get-job section")
	}
	golden := filepath.Join("testdata", "docs_get-job.golden.html")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("get-job rendering (-want +got):\n%s", d)
	}
}
