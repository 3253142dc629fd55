package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/api"
	"github.com/whetstone/whetstone/internal/store"
)

// quotaServer serves the API on e's platform with a team quota (0: none)
// and a 4 MiB upload limit.
func quotaServer(t *testing.T, e *env, quota int64) string {
	t.Helper()
	srv := &api.Server{Store: e.p.Store, Blobs: e.p.Blobs, Bus: e.p.Bus, Orch: e.p.Orch, Agents: defaultRegistry(),
		MaxUploadBytes: 4 << 20, QuotaBytes: quota}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts.URL + "/api/v1"
}

// rowsOf returns JSONL rows of about size bytes whose text starts with tag.
func rowsOf(tag string, size int) string {
	var b strings.Builder
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, `{"instruction":"%s %d","output":"ok"}`+"\n", tag, i)
	}
	return b.String()
}

// uploadSized is upload with a Content-Length (chunked: none), as curl and
// browsers send a file.
func uploadSized(t *testing.T, url, filename, content string, chunked bool) (int, []byte) {
	t.Helper()
	if chunked {
		resp, b := upload(t, url, filename, "", strings.NewReader(content))
		return resp.StatusCode, b
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", filename)
	io.WriteString(fw, content)
	mw.Close()
	resp, b := do(t, "POST", url+"/datasets/upload", mw.FormDataContentType(), bytes.NewReader(buf.Bytes()))
	return resp.StatusCode, b
}

// TestUploadRepeatAtQuota: a team at or past its byte quota that uploads a
// dataset it already has (the same bytes and name) gets 200 with that
// dataset, as under the quota; a new dataset gets 413 naming the quota.
// Neither leaves a dataset, a blob or a temporary file behind.
func TestUploadRepeatAtQuota(t *testing.T) {
	t.Parallel()
	large := rowsOf("large", 1536<<10) // over the 1 MiB the upload's multipart overhead is allowed
	small := rowsOf("small", 200)
	cases := []struct {
		name    string
		have    string // the team's one dataset, uploaded before the quota
		quota   func(have int64) int64
		chunked bool // no Content-Length
	}{
		{"exactly at the quota, a large file", large, func(have int64) int64 { return have }, false},
		{"past the quota (lowered below what the team stores)", small, func(have int64) int64 { return have / 2 }, false},
		{"past the quota, streamed without a length", small, func(have int64) int64 { return have / 2 }, true},
		{"past the quota, a large file", large, func(have int64) int64 { return have - 1 }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, false)
			status, b := uploadSized(t, quotaServer(t, e, 0), "rows.jsonl", c.have, c.chunked)
			var first store.Dataset
			if err := json.Unmarshal(b, &first); err != nil || status != http.StatusCreated {
				t.Fatalf("first upload = %d %s", status, b)
			}
			quota := c.quota(first.Size)
			url := quotaServer(t, e, quota)

			status, b = uploadSized(t, url, "rows.jsonl", c.have, c.chunked)
			var again store.Dataset
			json.Unmarshal(b, &again)
			if status != http.StatusOK || again.ID != first.ID || again.Version != first.Version {
				t.Errorf("repeat upload at the quota = %d %s; want 200 and dataset %s", status, b, first.ID)
			}

			for _, other := range []struct{ what, content string }{
				{"new bytes of the same size", strings.Replace(c.have, "0", "1", 1)},
				{"small new bytes", rowsOf("new", 100)},
				{"new bytes larger than all the team stores", c.have + rowsOf("more", 100)},
			} {
				status, b := uploadSized(t, url, "rows.jsonl", other.content, c.chunked)
				want := fmt.Sprintf("quota of %d bytes", quota)
				if status != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), want) || !strings.Contains(string(b), "--quota-bytes") {
					t.Errorf("upload of %s = %d %s; want 413 naming the %s", other.what, status, b, want)
				}
			}
			// A repeat under another name is a new dataset: over the quota.
			if resp, b := upload(t, url, "rows.jsonl", "renamed", strings.NewReader(c.have)); resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("the same bytes under another name = %d %s; want 413", resp.StatusCode, b)
			}

			_, b = do(t, "GET", url+"/datasets", "", nil)
			var l struct{ Total int }
			json.Unmarshal(b, &l)
			blobs, _ := e.p.Blobs.List(context.Background(), "datasets/")
			if l.Total != 1 || len(blobs) != 1 {
				t.Errorf("%d datasets and %d blobs after the refused and repeated uploads, want 1 and 1: %s %v", l.Total, len(blobs), b, blobs)
			}
			var files []string
			filepath.WalkDir(e.p.Config.BlobDir, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() && !strings.Contains(p, ".whet-sums") && !strings.HasPrefix(filepath.Base(p), "whet.db") {
					files = append(files, p)
				}
				return nil
			})
			if len(files) != 1 {
				t.Errorf("files in the blob folder: %v; want the one dataset", files)
			}
		})
	}
}

// TestUploadTruncated: a multipart body that ends inside the file part
// (a truncated upload, a client that went away) is the client's fault: 400
// naming the file, not 500, under the quota (stored) and past it (hashed
// only), and nothing is kept.
func TestUploadTruncated(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	rows := rowsOf("rows", 4096)
	truncated := "--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"rows.jsonl\"\r\n" +
		"Content-Type: application/octet-stream\r\n\r\n" + rows[:len(rows)/2]
	send := func(url string) (int, string) {
		resp, b := do(t, "POST", url+"/datasets/upload", "multipart/form-data; boundary=XX", strings.NewReader(truncated))
		return resp.StatusCode, string(b)
	}
	free := quotaServer(t, e, 0)
	if status, b := send(free); status != http.StatusBadRequest || !strings.Contains(b, `file \"rows.jsonl\"`) || !strings.Contains(b, "truncated") {
		t.Errorf("truncated upload = %d %s; want 400 naming the file", status, b)
	}
	status, b := uploadSized(t, free, "rows.jsonl", rows, false)
	if status != http.StatusCreated {
		t.Fatalf("upload = %d %s", status, b)
	}
	var first store.Dataset
	json.Unmarshal(b, &first)
	if status, b := send(quotaServer(t, e, first.Size)); status != http.StatusBadRequest || !strings.Contains(b, "truncated") {
		t.Errorf("truncated upload at the quota = %d %s; want 400", status, b)
	}
	blobs, _ := e.p.Blobs.List(context.Background(), "datasets/")
	if len(blobs) != 1 {
		t.Errorf("blobs after truncated uploads: %v; want the one dataset", blobs)
	}
}
