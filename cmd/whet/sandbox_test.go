package main

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServerFileSandbox: a server refuses params naming server paths outside
// its allowed folders (/etc/passwd, ../ escapes, a symlink pointing out),
// with a 422 naming node and field that reads the same whether the file
// exists or not; paths inside are accepted.
func TestServerFileSandbox(t *testing.T) {
	allowed := t.TempDir()
	os.WriteFile(filepath.Join(allowed, "train.jsonl"), []byte(`{"text":"hello"}`+"\n"), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(allowed, "innocent.jsonl"))
	base := inProcessServer(t, t.TempDir(), "--work-dir", allowed, "--allow-path", allowed)

	post := func(source string) (int, string) {
		spec := map[string]any{"name": "s", "nodes": []map[string]any{{"id": "data", "agent": "dataset", "params": map[string]any{"source": source}}}}
		b, _ := json.Marshal(spec)
		resp, err := http.Post(base+"/api/v1/jobs", "application/json", strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, src := range []string{"/etc/passwd", "../../../../etc/passwd", "innocent.jsonl", "/etc/no-such-file", filepath.Join(allowed, "..", "x.jsonl")} {
		code, body := post(src)
		if code != 422 || !strings.Contains(body, `"location":"nodes[data].params.source"`) || !strings.Contains(body, "not under a folder this server allows") {
			t.Errorf("source %q: %d %s, want 422 on nodes[data].params.source", src, code, body)
		}
		if strings.Contains(body, "no such file") || strings.Contains(body, "exist") {
			t.Errorf("source %q: the refusal tells whether the file exists: %s", src, body)
		}
	}
	if code, body := post("blob:datasets/ds_other/data.jsonl"); code != 422 || !strings.Contains(body, "only server paths and uploaded dataset ids") {
		t.Errorf("a blob: source: %d %s, want 422", code, body)
	}
	for _, src := range []string{"train.jsonl", filepath.Join(allowed, "train.jsonl")} {
		if code, body := post(src); code != 202 {
			t.Errorf("source %q inside the allowed folder: %d %s", src, code, body)
		}
	}
}

// TestServerDataNotReadable: a server whose allowed folder holds its own
// data folder (`--allow-path .` above ./whet-data) still refuses every path
// into it (every team's uploaded blobs, the secret key, the database) and
// a folder source holding it, with a 422 on the field; a file beside it is
// read.
func TestServerDataNotReadable(t *testing.T) {
	allowed := t.TempDir()
	data := filepath.Join(allowed, "whet-data")
	os.WriteFile(filepath.Join(allowed, "train.jsonl"), []byte(`{"text":"hello"}`+"\n"), 0o644)
	base := inProcessServer(t, data, "--work-dir", allowed, "--allow-path", allowed)
	var up bytes.Buffer
	mw := multipart.NewWriter(&up)
	fw, _ := mw.CreateFormFile("file", "rows.jsonl")
	io.WriteString(fw, `{"text":"another team's row"}`+"\n")
	mw.Close()
	resp, err := http.Post(base+"/api/v1/datasets/upload", mw.FormDataContentType(), &up)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("upload = %d %s", resp.StatusCode, b)
	}
	var ds struct {
		ID   string `json:"dataset_id"`
		Name string `json:"name"`
	}
	json.Unmarshal(b, &ds)
	post := func(source string) (int, string) {
		spec := map[string]any{"name": "s", "nodes": []map[string]any{{"id": "data", "agent": "dataset", "params": map[string]any{"source": source}}}}
		b, _ := json.Marshal(spec)
		resp, err := http.Post(base+"/api/v1/jobs", "application/json", strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	blobFile := filepath.Join("whet-data", "blobs", "datasets", ds.ID, ds.Name)
	if _, err := os.Stat(filepath.Join(allowed, blobFile)); err != nil {
		t.Fatalf("the upload's blob is not where this test looks: %v", err)
	}
	for _, src := range []string{blobFile, filepath.Join(allowed, blobFile), "whet-data/secret.key", "whet-data/whet.db", "whet-data", "."} {
		if code, body := post(src); code != 422 || !strings.Contains(body, `"location":"nodes[data].params.source"`) {
			t.Errorf("source %q: %d %s, want 422 on nodes[data].params.source", src, code, body)
		}
	}
	if code, body := post("train.jsonl"); code != 202 {
		t.Errorf("a file beside the data folder: %d %s", code, body)
	}
}
