package openai_test

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

	"github.com/whetstone/whetstone/internal/serving"
)

// TestNoServerPathsThroughV1 drives /v1 as a client does, through a job
// that succeeds and one that fails (its base model's weights are not
// safetensors), and reads back everything a team's user can: files, jobs,
// their events and checkpoints, models, chat (plain and streamed) and the
// errors of bad requests. No answer may name a server folder (the data,
// work, base models, cache, shared or temp folder), as /api/v1 promises
// (cmd/whet TestNoServerPathsThroughAPI).
func TestNoServerPathsThroughV1(t *testing.T) {
	t.Parallel()
	e := setup(t, serving.Options{})
	forbidden := map[string]bool{}
	for _, p := range e.hidden {
		temp := filepath.Clean(p) == filepath.Clean(os.TempDir())
		for _, f := range []string{filepath.Clean(p), resolved(p)} {
			if temp {
				f += string(filepath.Separator) // any path in it, not the word alone
			}
			forbidden[f] = true
		}
	}
	// A base model whose weights are not safetensors: its job fails in
	// training, where the error would name the file.
	broken := filepath.Join(e.base, "broken-chat")
	if err := os.MkdirAll(broken, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "tokenizer.model", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(e.base, "stories-chat", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(broken, f), b, 0o644)
	}
	os.WriteFile(filepath.Join(broken, "model.safetensors"), []byte("these are not weights"), 0o644)

	checked := 0
	check := func(where string, body []byte) {
		t.Helper()
		checked++
		for p := range forbidden {
			if i := bytes.Index(body, []byte(p)); i >= 0 {
				lo, hi := max(0, i-120), min(len(body), i+len(p)+80)
				t.Errorf("%s names the server folder %s: ...%s...", where, p, body[lo:hi])
			}
		}
	}
	call := func(method, path string, body any, want int) []byte {
		t.Helper()
		var r io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, e.url+path, r)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s = %d, want %d: %.500s", method, path, resp.StatusCode, want, b)
		}
		check(method+" "+path, b)
		return b
	}
	upload := func(name, content string, want int) string {
		t.Helper()
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("purpose", "fine-tune")
		fw, _ := mw.CreateFormFile("file", name)
		io.WriteString(fw, content)
		mw.Close()
		resp, err := http.Post(e.url+"/files", mw.FormDataContentType(), &buf)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("POST /files %s = %d, want %d: %s", name, resp.StatusCode, want, b)
		}
		check("POST /files "+name, b)
		var f struct{ ID string }
		json.Unmarshal(b, &f)
		return f.ID
	}
	decode := func(b []byte) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("not JSON: %s", b)
		}
		return m
	}

	file := upload("train.jsonl", chatRows(12), http.StatusOK)
	upload("bad.jsonl", chatRows(1)+"{oops\n", http.StatusBadRequest)
	call("GET", "/files", nil, 200)
	call("GET", "/files/"+file, nil, 200)

	create := func(model string) string {
		b := call("POST", "/fine_tuning/jobs", map[string]any{"model": model, "training_file": file,
			"hyperparameters": map[string]any{"n_epochs": 1}}, 200)
		return decode(b)["id"].(string)
	}
	good, bad := create("stories-chat"), create("broken-chat")
	wait := func(id string) map[string]any {
		t.Helper()
		for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			j := decode(call("GET", "/fine_tuning/jobs/"+id, nil, 200))
			switch j["status"] {
			case "succeeded", "failed", "cancelled":
				return j
			}
		}
		t.Fatalf("job %s did not end", id)
		return nil
	}
	if j := wait(good); j["status"] != "succeeded" {
		t.Fatalf("job on stories-chat: %v", j)
	}
	j := wait(bad)
	jerr, _ := j["error"].(map[string]any)
	if j["status"] != "failed" || jerr == nil || !strings.Contains(jerr["message"].(string), "tune") {
		t.Fatalf("job on broken-chat = %v; want failed in its tune step", j)
	}
	t.Logf("failed job's error: %v", jerr["message"])

	for _, id := range []string{good, bad} {
		call("GET", "/fine_tuning/jobs/"+id+"/events?limit=1000", nil, 200)
		call("GET", "/fine_tuning/jobs/"+id+"/checkpoints", nil, 200)
	}
	call("GET", "/fine_tuning/jobs", nil, 200)
	model := decode(call("GET", "/fine_tuning/jobs/"+good, nil, 200))["fine_tuned_model"].(string)
	call("GET", "/models", nil, 200)
	call("GET", "/models/"+model, nil, 200)
	chat := map[string]any{"model": model, "max_tokens": 4, "temperature": 0, "messages": []any{map[string]any{"role": "user", "content": "Who is Mia?"}}}
	call("POST", "/chat/completions", chat, 200)
	chat["stream"] = true
	call("POST", "/chat/completions", chat, 200)
	// The broken base fails to load: the error is the client's to see,
	// its folder is not.
	broke := call("POST", "/chat/completions", map[string]any{"model": "broken-chat", "max_tokens": 2, "messages": chat["messages"]}, 500)
	check("chat on broken-chat", broke)

	// Errors of bad requests.
	call("GET", "/files/file-nope", nil, 404)
	call("GET", "/fine_tuning/jobs/ftjob-nope", nil, 404)
	call("POST", "/fine_tuning/jobs", map[string]any{"model": "nope", "training_file": file}, 400)
	call("POST", "/fine_tuning/jobs/"+good+"/cancel", nil, 400)
	call("GET", "/no/such/route", nil, 404)
	t.Logf("%d answers checked", checked)
}

// resolved is p with symlinks resolved (p itself when that fails).
func resolved(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return filepath.Clean(p)
}
