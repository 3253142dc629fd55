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
	"time"

	"github.com/whetstone/whetstone/internal/assets"
)

// TestNoServerPathsThroughV1Serve checks `whet serve` hands its folders to
// the /v1 API's redaction too: a fine-tuning job on a --base-models model
// whose weights are broken fails in its agent process with an error that
// names the model and file, not the base models or data folder.
// (internal/openai TestNoServerPathsThroughV1 reads every /v1 answer.)
func TestNoServerPathsThroughV1Serve(t *testing.T) {
	t.Parallel()
	dataDir, base := t.TempDir(), t.TempDir()
	model := filepath.Join(base, "broken")
	os.MkdirAll(model, 0o755)
	for _, f := range []string{"config.json", "tokenizer.model", "tokenizer_config.json"} {
		b, err := os.ReadFile(assets.Path(t, "models", "stories260K", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(model, f), b, 0o644)
	}
	os.WriteFile(filepath.Join(model, "model.safetensors"), []byte("these are not weights"), 0o644)
	v1 := inProcessServer(t, dataDir, "--base-models", base) + "/v1"

	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("purpose", "fine-tune")
	fw, _ := mw.CreateFormFile("file", "train.jsonl")
	for range 4 {
		io.WriteString(fw, `{"messages":[{"role":"user","content":"Who is Mia?"},{"role":"assistant","content":"Mia is a kid."}]}`+"\n")
	}
	mw.Close()
	var file, job struct {
		ID     string
		Status string
		Error  *struct{ Message string }
	}
	post := func(path, ctype string, body io.Reader, v any) {
		t.Helper()
		resp, err := http.Post(v1+path, ctype, body)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, v) != nil {
			t.Fatalf("POST %s = %s %s", path, resp.Status, b)
		}
	}
	post("/files", mw.FormDataContentType(), &buf, &file)
	post("/fine_tuning/jobs", "application/json", strings.NewReader(`{"model":"broken","training_file":"`+file.ID+`"}`), &job)
	var body []byte
	for deadline := time.Now().Add(2 * time.Minute); job.Status != "failed"; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) || job.Status == "succeeded" || job.Status == "cancelled" {
			t.Fatalf("job on a broken base model: %s", body)
		}
		resp, err := http.Get(v1 + "/fine_tuning/jobs/" + job.ID)
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		json.Unmarshal(body, &job)
	}
	if job.Error == nil || !strings.Contains(job.Error.Message, "broken") || !strings.Contains(job.Error.Message, "model.safetensors") {
		t.Errorf("failed job's error %s; want it to name the model and its file", body)
	}
	for what, p := range map[string]string{"base models folder": base, "data folder": dataDir, "temp folder": filepath.Dir(dataDir)} {
		if bytes.Contains(body, []byte(p)) {
			t.Errorf("GET /v1/fine_tuning/jobs/%s names the %s %s: %s", job.ID, what, p, body)
		}
	}
}
