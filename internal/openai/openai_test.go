package openai_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/evaluate"
	"github.com/whetstone/whetstone/internal/agents/export"
	"github.com/whetstone/whetstone/internal/agents/ingest"
	"github.com/whetstone/whetstone/internal/agents/preprocess"
	"github.com/whetstone/whetstone/internal/agents/train"
	"github.com/whetstone/whetstone/internal/agents/validate"
	"github.com/whetstone/whetstone/internal/assets"
	"github.com/whetstone/whetstone/internal/auth"
	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/config"
	"github.com/whetstone/whetstone/internal/openai"
	"github.com/whetstone/whetstone/internal/platform"
	"github.com/whetstone/whetstone/internal/remove"
	"github.com/whetstone/whetstone/internal/serving"
	"github.com/whetstone/whetstone/internal/store"
)

// baseModels makes a --base-models folder: stories260K with a chat template.
func baseModels(t testing.TB) string {
	dir := t.TempDir()
	m := filepath.Join(dir, "stories-chat")
	os.MkdirAll(m, 0o755)
	src := assets.Path(t, "models", "stories260K")
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.model"} {
		if err := os.Symlink(filepath.Join(src, f), filepath.Join(m, f)); err != nil {
			t.Fatal(err)
		}
	}
	var tc map[string]any
	b, _ := os.ReadFile(filepath.Join(src, "tokenizer_config.json"))
	json.Unmarshal(b, &tc)
	tc["chat_template"] = "{% for m in messages %}{% if m['role'] == 'assistant' %}Answer: {{ m['content'] }}{{ eos_token }}\n{% else %}{{ m['content'] }}\n{% endif %}{% endfor %}{% if add_generation_prompt %}Answer:{% endif %}"
	b, _ = json.Marshal(tc)
	os.WriteFile(filepath.Join(m, "tokenizer_config.json"), b, 0o644)
	return dir
}

type env struct {
	url, base string
	eng       *serving.Engine
	st        store.Store
	blobs     blob.Store
	// hidden are the server's folders no answer may name (as whet serve's
	// HidePaths): the data, work, base models, cache and shared folders.
	hidden []string
}

func setup(t *testing.T, opt serving.Options) *env {
	t.Helper()
	return setupWith(t, opt, nil)
}

// setupWith is setup with the server reading the store through wrap (nil:
// the platform's store itself).
func setupWith(t *testing.T, opt serving.Options, wrap func(store.Store) store.Store) *env {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir, cfg.Database, cfg.BlobDir = dir, filepath.Join(dir, "whet.db"), filepath.Join(dir, "blobs")
	cfg.PollInterval, cfg.LeaseTimeout, cfg.RetryBase = 50*time.Millisecond, 5*time.Second, 100*time.Millisecond
	cfg.WorkDir = assets.RepoRoot(t)
	cfg.SecretKeyFile = filepath.Join(dir, "secret.key")
	base, cache := baseModels(t), t.TempDir()
	cfg.BaseModels = base
	var reg agent.Registry
	for _, a := range []agent.Agent{ingest.New(), validate.New(), preprocess.New(), train.New(), evaluate.New(nil), export.New()} {
		reg.Register(a)
	}
	// The file sandbox of a whet serve with auth on: jobs may read the
	// base models folder only.
	p, err := platform.Open(context.Background(), cfg, &reg, platform.Options{Work: true, Sandbox: true, AuthOn: true})
	if err != nil {
		t.Fatal(err)
	}
	p.Start(context.Background())
	eng := serving.New(opt)
	// whet serve hides the data, work and base models folders, the temp
	// folder and the allowed roots (here the shared assets the base models
	// link to).
	hidden := []string{dir, cfg.WorkDir, base, cache, filepath.Clean(filepath.Join(cfg.WorkDir, "..", "shared")), os.TempDir()}
	st := p.Store
	if wrap != nil {
		st = wrap(st)
	}
	s := &openai.Server{Store: st, Blobs: p.Blobs, Orch: p.Orch, Engine: eng, BaseModels: base, CacheDir: cache, HidePaths: hidden}
	h := s.Handler()
	// A request with X-Test-Team runs as a member (or X-Test-Role) of that team (as an API
	// key of it would after whet serve's auth middleware).
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if team := r.Header.Get("X-Test-Team"); team != "" {
			role := cmp.Or(store.Role(r.Header.Get("X-Test-Role")), store.RoleMember)
			r = r.WithContext(auth.WithIdentity(r.Context(), auth.Identity{Actor: "key_test", Team: team, Role: role, Method: "key"}))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		eng.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Stop(ctx)
	})
	return &env{url: ts.URL + "/v1", base: base, eng: eng, st: p.Store, blobs: p.Blobs, hidden: hidden}
}

func (e *env) do(t *testing.T, method, path string, body any) (int, map[string]any) {
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
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, out
}

func (e *env) upload(t *testing.T, name, content string) (int, map[string]any) {
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
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// errorOf checks the body is exactly OpenAI's error shape and returns it.
func errorOf(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	e, ok := body["error"].(map[string]any)
	if !ok || len(body) != 1 {
		t.Fatalf("not an OpenAI error body: %v", body)
	}
	for _, k := range []string{"message", "type", "param", "code"} {
		if _, ok := e[k]; !ok {
			t.Fatalf("error has no %q: %v", k, e)
		}
	}
	return e
}

func chatRows(n int) string {
	var b strings.Builder
	for i := range n {
		name := []string{"Tom", "Mia", "Ben"}[i%3]
		fmt.Fprintf(&b, `{"messages":[{"role":"user","content":"Who is %s?"},{"role":"assistant","content":"%s is a kid."}]}`+"\n", name, name)
	}
	return b.String()
}

func TestFileChecks(t *testing.T) {
	t.Parallel()
	e := setup(t, serving.Options{})
	for _, tc := range []struct {
		name, content string
		want          []string // substrings of the message; none: accepted
	}{
		{"chat", chatRows(3), nil},
		{"dpo", `{"input":{"messages":[{"role":"user","content":"q"}]},"preferred_output":[{"role":"assistant","content":"a"}],"non_preferred_output":[{"role":"assistant","content":"b"}]}` + "\n", nil},
		{"not json", chatRows(1) + "{oops\n", []string{"line 2: invalid JSON"}},
		{"bad role", `{"messages":[{"role":"robot","content":"x"},{"role":"assistant","content":"y"}]}`, []string{`line 1: messages[0]: unrecognized role "robot"`}},
		{"no assistant", `{"messages":[{"role":"user","content":"x"}]}`, []string{"line 1: 'messages' has no assistant message"}},
		{"missing content", `{"messages":[{"role":"user"},{"role":"assistant","content":"y"}]}`, []string{"line 1: messages[0]: missing 'content'"}},
		{"mixed", chatRows(1) + `{"input":{"messages":[{"role":"user","content":"q"}]},"preferred_output":[{"role":"assistant","content":"a"}],"non_preferred_output":[{"role":"assistant","content":"b"}]}`, []string{"line 2: a dpo row in a file of supervised rows"}},
		{"dpo missing", `{"input":{"messages":[{"role":"user","content":"q"}]},"preferred_output":[{"role":"assistant","content":"a"}]}`, []string{"line 1: missing key 'non_preferred_output'"}},
		{"empty", "\n\n", []string{"no rows"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.upload(t, tc.name+".jsonl", tc.content)
			if tc.want == nil {
				if status != http.StatusOK || body["object"] != "file" || body["status"] != "processed" {
					t.Fatalf("got %d %v", status, body)
				}
				return
			}
			if status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %v", status, body)
			}
			er := errorOf(t, body)
			if er["param"] != "file" || er["code"] != "invalid_file_format" || er["type"] != "invalid_request_error" {
				t.Errorf("error %v", er)
			}
			for _, w := range tc.want {
				if !strings.Contains(er["message"].(string), w) {
					t.Errorf("message %q lacks %q", er["message"], w)
				}
			}
		})
	}
}

// TestFineTuneAndChat runs a supervised job to succeeded through the
// pipeline and chats with the result; and checks the error cases.
func TestFineTuneAndChat(t *testing.T) {
	t.Parallel()
	e := setup(t, serving.Options{})
	_, f := e.upload(t, "train.jsonl", chatRows(30))
	status, body := e.do(t, "POST", "/fine_tuning/jobs", map[string]any{"model": "nope", "training_file": f["id"]})
	if er := errorOf(t, body); status != 400 || er["code"] != "model_not_available" || er["param"] != "model" {
		t.Fatalf("unknown model: %d %v", status, body)
	}
	status, body = e.do(t, "POST", "/fine_tuning/jobs", map[string]any{"model": "stories-chat", "training_file": f["id"],
		"method": map[string]any{"type": "supervised", "supervised": map[string]any{"hyperparameters": map[string]any{"n_epochs": 3, "learning_rate_multiplier": 5, "beta": 0.2}}}})
	if er := errorOf(t, body); status != 400 || er["param"] != "hyperparameters.beta" {
		t.Fatalf("beta on supervised: %d %v", status, body)
	}
	status, job := e.do(t, "POST", "/fine_tuning/jobs", map[string]any{"model": "stories-chat", "training_file": f["id"], "suffix": "t",
		"method": map[string]any{"type": "supervised", "supervised": map[string]any{"hyperparameters": map[string]any{"n_epochs": 3, "learning_rate_multiplier": 5}}}})
	if status != 200 {
		t.Fatalf("create: %d %v", status, job)
	}
	id := job["id"].(string)
	deadline := time.Now().Add(2 * time.Minute)
	for job["status"] != "succeeded" {
		if time.Now().After(deadline) || job["status"] == "failed" || job["status"] == "cancelled" {
			t.Fatalf("job: %v", job)
		}
		time.Sleep(100 * time.Millisecond)
		_, job = e.do(t, "GET", "/fine_tuning/jobs/"+id, nil)
	}
	model := job["fine_tuned_model"].(string)
	if !strings.HasPrefix(model, "ft:stories-chat:default:t:") || job["trained_tokens"].(float64) <= 0 {
		t.Fatalf("job: %v", job)
	}
	_, evs := e.do(t, "GET", "/fine_tuning/jobs/"+id+"/events?limit=1000", nil)
	metrics := 0
	for _, ev := range evs["data"].([]any) {
		if ev.(map[string]any)["type"] == "metrics" {
			metrics++
		}
	}
	if metrics == 0 {
		t.Error("no metrics events")
	}
	status, out := e.do(t, "POST", "/chat/completions", map[string]any{"model": model, "temperature": 0, "max_tokens": 8,
		"messages": []any{map[string]any{"role": "user", "content": "Who is Mia?"}}})
	if status != 200 {
		t.Fatalf("chat: %d %v", status, out)
	}
	text := out["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"].(string)
	if !strings.HasPrefix(text, "Mia is a kid") {
		t.Errorf("fine-tuned answer %q", text)
	}
	status, out = e.do(t, "POST", "/chat/completions", map[string]any{"model": "ft:stories-chat:default:t:0000", "messages": []any{map[string]any{"role": "user", "content": "x"}}})
	if er := errorOf(t, out); status != 404 || er["code"] != "model_not_found" {
		t.Errorf("unknown model: %d %v", status, out)
	}
	// GET /v1/models/{id} finds what chat serves under a name, the model
	// and its checkpoint's, and neither answers another name.
	_, cks := e.do(t, "GET", "/fine_tuning/jobs/"+id+"/checkpoints", nil)
	ckpt := cks["data"].([]any)[0].(map[string]any)["fine_tuned_model_checkpoint"].(string)
	for _, c := range []struct {
		name  string
		found bool
	}{{model, true}, {ckpt, true}, {model + ":ckpt-step-x", false}, {model + "x", false}, {"ft:stories-chat:default:t:0000", false}} {
		chat, cout := e.do(t, "POST", "/chat/completions", map[string]any{"model": c.name, "max_tokens": 2,
			"messages": []any{map[string]any{"role": "user", "content": "x"}}})
		get, gout := e.do(t, "GET", "/models/"+c.name, nil)
		switch {
		case c.found && (chat != 200 || get != 200 || gout["id"] != c.name || gout["object"] != "model" || gout["owned_by"] != "default"):
			t.Errorf("%s: chat %d %v, GET %d %v; want both 200", c.name, chat, cout, get, gout)
		case !c.found && (chat != 404 || get != 404 || errorOf(t, cout)["code"] != "model_not_found" || errorOf(t, gout)["code"] != "model_not_found"):
			t.Errorf("%s: chat %d %v, GET %d %v; want both 404 model_not_found", c.name, chat, cout, get, gout)
		}
	}
	status, out = e.do(t, "POST", "/fine_tuning/jobs/"+id+"/cancel", nil)
	if er := errorOf(t, out); status != 400 || er["code"] != "invalid_state" {
		t.Errorf("cancel a finished job: %d %v", status, out)
	}

	// Deleting the fine-tuned model: a checkpoint alone is not deletable;
	// the model goes with its pipeline's registered models and their files.
	ctx := context.Background()
	var rec struct {
		PipelineJobs []string `json:"pipeline_jobs"`
		AdapterURI   string   `json:"adapter_uri"`
	}
	if o, err := e.blobs.Open(ctx, "openai/jobs/"+id+".json"); err == nil {
		json.NewDecoder(o).Decode(&rec)
		o.Close()
	}
	if len(rec.PipelineJobs) == 0 || rec.AdapterURI == "" {
		t.Fatalf("job record: %+v", rec)
	}
	registered := func() int {
		n := 0
		for _, pid := range rec.PipelineJobs {
			l, _, err := e.st.ListModels(ctx, store.ListParams{Query: pid})
			if err != nil {
				t.Fatal(err)
			}
			n += len(l)
		}
		return n
	}
	if registered() == 0 {
		t.Fatal("the fine-tune registered no model")
	}
	status, out = e.do(t, "DELETE", "/models/"+model+":ckpt-step-1", nil)
	if er := errorOf(t, out); status != 404 || er["code"] != "model_not_found" {
		t.Errorf("DELETE a checkpoint: %d %v", status, out)
	}
	status, out = e.do(t, "DELETE", "/models/"+model, nil)
	if want := map[string]any{"id": model, "object": "model", "deleted": true}; status != 200 || !reflect.DeepEqual(out, want) {
		t.Fatalf("DELETE %s: %d %v, want 200 %v", model, status, out, want)
	}
	if n := registered(); n != 0 {
		t.Errorf("%d registered models of the fine-tune left", n)
	}
	if l, err := e.blobs.List(ctx, rec.AdapterURI); err != nil || len(l) != 0 {
		t.Errorf("files left under %s: %d (%v)", rec.AdapterURI, len(l), err)
	}
	for _, c := range []struct{ method, path string }{{"GET", "/models/" + model}, {"DELETE", "/models/" + model}} {
		if status, out := e.do(t, c.method, c.path, nil); status != 404 || errorOf(t, out)["code"] != "model_not_found" {
			t.Errorf("%s %s after deleting: %d %v", c.method, c.path, status, out)
		}
	}
	status, out = e.do(t, "POST", "/chat/completions", map[string]any{"model": model, "messages": []any{map[string]any{"role": "user", "content": "x"}}})
	if er := errorOf(t, out); status != 404 || er["code"] != "model_not_found" {
		t.Errorf("chat with a deleted model: %d %v", status, out)
	}
	_, out = e.do(t, "GET", "/models", nil)
	for _, m := range out["data"].([]any) {
		if m.(map[string]any)["id"] == model {
			t.Errorf("GET /models lists the deleted %s", model)
		}
	}
}

// TestDeleteModel: DELETE /v1/models/{model} answers OpenAI's shapes: the
// deleted object, or an error object for a base model (403), another
// team's or an unknown or non-served id (404), and a model a queued job
// uses (409).
func TestDeleteModel(t *testing.T) {
	t.Parallel()
	e := setup(t, serving.Options{})
	ctx := context.Background()
	now := time.Now().UTC()
	if err := e.st.InTx(ctx, func(tx store.Tx) error {
		for _, m := range []*store.Model{
			{ID: "mdl_blue1", Name: "blue/export/adapter", JobID: "job_b", Team: "blue", Output: "adapter", URI: "jobs/job_b/ship/adapter/", CreatedAt: now},
			{ID: "mdl_blue2", Name: "blue/export/merged", JobID: "job_b", Team: "blue", Output: "merged", URI: "jobs/job_b/ship/merged/", CreatedAt: now},
			{ID: "mdl_blue3", Name: "blue/export/gguf", JobID: "job_b", Team: "blue", Output: "gguf", URI: "jobs/job_b/ship/gguf/", CreatedAt: now},
			{ID: "mdl_red1", Name: "red/export/adapter", JobID: "job_r", Team: "red", Output: "adapter", URI: "jobs/job_r/ship/adapter/", CreatedAt: now},
		} {
			if err := tx.CreateModel(ctx, m); err != nil {
				return err
			}
		}
		return tx.CreateJob(ctx, &store.Job{ID: "job_q", Name: "queued", Team: "blue", Status: store.Pending, Spec: []byte(`{}`), CreatedAt: now,
			Nodes: []*store.Node{{ID: "tune", Agent: "train", Params: map[string]any{"base_model": "mdl_blue2"}, Queued: true}}})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.blobs.Put(ctx, "jobs/job_b/ship/adapter/adapter_model.safetensors", strings.NewReader("w")); err != nil {
		t.Fatal(err)
	}
	del := func(id string) (int, map[string]any) {
		req, _ := http.NewRequest("DELETE", e.url+"/models/"+id, nil)
		req.Header.Set("X-Test-Team", "blue")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	for _, tc := range []struct {
		id, code string
		status   int
	}{
		{"stories-chat", "model_not_deletable", 403},
		{"mdl_red1", "model_not_found", 404},
		{"mdl_blue3", "model_not_found", 404}, // not served by /v1
		{"mdl_nope", "model_not_found", 404},
		{"ft:stories-chat:blue::nope", "model_not_found", 404},
		{"ft:stories-chat:blue::" + strings.Repeat("9", 5000), "model_not_found", 404},
		{"..%2F..%2Fetc%2Fpasswd", "model_not_found", 404},
		{"mdl_blue1%00", "model_not_found", 404},
		{"mdl_" + strings.Repeat("x", 5000), "model_not_found", 404},
		{"mdl_blue2", "model_in_use", 409},
	} {
		status, out := del(tc.id)
		if er := errorOf(t, out); status != tc.status || er["code"] != tc.code || er["type"] != "invalid_request_error" || er["param"] != "model" {
			t.Errorf("DELETE /v1/models/%.30s: %d %v, want %d %s", tc.id, status, out, tc.status, tc.code)
		}
	}
	if status, out := del("mdl_blue2"); !strings.Contains(fmt.Sprint(out), "job_q") {
		t.Errorf("409 does not name the job: %d %v", status, out)
	}
	// A read-only key.
	req, _ := http.NewRequest("DELETE", e.url+"/models/mdl_blue1", nil)
	req.Header.Set("X-Test-Team", "blue")
	req.Header.Set("X-Test-Role", string(store.RoleViewer))
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if er := errorOf(t, out); resp.StatusCode != 403 || er["code"] != "insufficient_permissions" {
			t.Errorf("DELETE as a viewer: %d %v", resp.StatusCode, out)
		}
	}
	status, out := del("mdl_blue1")
	if want := map[string]any{"id": "mdl_blue1", "object": "model", "deleted": true}; status != 200 || !reflect.DeepEqual(out, want) {
		t.Fatalf("DELETE mdl_blue1: %d %v, want 200 %v", status, out, want)
	}
	if _, err := e.st.GetModel(ctx, "mdl_blue1"); err == nil {
		t.Error("mdl_blue1 still registered")
	}
	if _, err := e.blobs.Stat(ctx, "jobs/job_b/ship/adapter/adapter_model.safetensors"); err == nil {
		t.Error("mdl_blue1's file still stored")
	}
	for _, id := range []string{"mdl_red1", "mdl_blue2", "mdl_blue3"} {
		if _, err := e.st.GetModel(ctx, id); err != nil {
			t.Errorf("%s after the refused deletions: %v", id, err)
		}
	}
	if _, err := os.Stat(filepath.Join(e.base, "stories-chat", "config.json")); err != nil {
		t.Errorf("base model after DELETE: %v", err)
	}
}

// TestFineTuneRegisteredModel: a fine-tuning job's model may be a
// registered full model of the caller's team (mdl_..., as /v1/models lists
// it), on a server whose sandbox allows only the base models folder: the
// pipeline names the model by its id, not by its folder in the blob store
// (which no job may name: the job was refused with "path not allowed"),
// and the fine-tuned model answers chat. Another team's id is not
// available, as an unknown one is.
func TestFineTuneRegisteredModel(t *testing.T) {
	t.Parallel()
	e := setup(t, serving.Options{})
	ctx := context.Background()
	src := filepath.Join(e.base, "stories-chat")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	m := &store.Model{ID: "mdl_merged1", Name: "run/ship/merged", JobID: "job_run", NodeID: "ship", Output: "merged",
		URI: "jobs/job_run/ship/merged/", Meta: map[string]any{"format": "merged"}, CreatedAt: time.Now().UTC()}
	for _, f := range entries {
		if _, err := blob.PutFile(ctx, e.blobs, m.URI+f.Name(), filepath.Join(src, f.Name()), false); err != nil {
			t.Fatal(err)
		}
		m.Files = append(m.Files, f.Name())
	}
	if err := e.st.InTx(ctx, func(tx store.Tx) error { return tx.CreateModel(ctx, m) }); err != nil {
		t.Fatal(err)
	}
	_, f := e.upload(t, "train.jsonl", chatRows(30))
	status, job := e.do(t, "POST", "/fine_tuning/jobs", map[string]any{"model": m.ID, "training_file": f["id"], "suffix": "again",
		"hyperparameters": map[string]any{"n_epochs": 3, "learning_rate_multiplier": 5}})
	if status != 200 {
		t.Fatalf("create on %s: %d %v", m.ID, status, job)
	}
	pj, err := e.st.GetJob(ctx, job["pipeline_jobs"].([]any)[0].(string))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range pj.Nodes {
		for _, k := range []string{"base_model", "tokenizer"} {
			if v, ok := n.Params[k].(string); ok && (n.Agent == "train" || n.Agent == "preprocess") && v != m.ID {
				t.Errorf("node %s: %s = %q, want the model's id %s", n.ID, k, v, m.ID)
			}
		}
	}
	id := job["id"].(string)
	deadline := time.Now().Add(2 * time.Minute)
	for job["status"] != "succeeded" {
		if time.Now().After(deadline) || job["status"] == "failed" || job["status"] == "cancelled" {
			t.Fatalf("job: %v", job)
		}
		time.Sleep(100 * time.Millisecond)
		_, job = e.do(t, "GET", "/fine_tuning/jobs/"+id, nil)
	}
	model, _ := job["fine_tuned_model"].(string)
	if !strings.HasPrefix(model, "ft:"+m.ID+":default:again:") {
		t.Fatalf("fine_tuned_model %q", model)
	}
	chat := func(model string) (int, map[string]any) {
		return e.do(t, "POST", "/chat/completions", map[string]any{"model": model, "temperature": 0, "max_tokens": 8,
			"messages": []any{map[string]any{"role": "user", "content": "Who is Mia?"}}})
	}
	if status, out := chat(model); status != 200 {
		t.Fatalf("chat: %d %v", status, out)
	}
	// The adapters its pipeline registered name their base by its id
	// (meta base_model mdl_merged1): served on that registered model, not
	// loaded from a folder named mdl_merged1 (a 500).
	models, _, err := e.st.ListModels(ctx, store.ListParams{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var adapters []*store.Model
	for _, am := range models {
		if am.JobID == pj.ID {
			if b, _ := am.Meta["base_model"].(string); b != m.ID {
				t.Errorf("model %s (%s) of the pipeline: base_model %q, want %s", am.ID, am.Name, b, m.ID)
			}
			adapters = append(adapters, am)
		}
	}
	if len(adapters) == 0 {
		t.Fatalf("the pipeline %s registered no model", pj.ID)
	}
	_, list := e.do(t, "GET", "/models", nil)
	listed := map[string]any{}
	for _, lm := range list["data"].([]any) {
		listed[lm.(map[string]any)["id"].(string)] = lm
	}
	for _, am := range adapters {
		if status, out := chat(am.ID); status != 200 {
			t.Errorf("chat with %s (%s, trained on %s): %d %v", am.ID, am.Name, m.ID, status, out)
		}
		// What chat serves, /v1/models finds and lists (the trained
		// peft-lora adapter was a 404 there).
		want := map[string]any{"id": am.ID, "object": "model", "created": float64(am.CreatedAt.Unix()), "owned_by": "whetstone"}
		if status, out := e.do(t, "GET", "/models/"+am.ID, nil); status != 200 || !reflect.DeepEqual(out, want) {
			t.Errorf("GET /models/%s (%s, format %s): %d %v, want 200 %v", am.ID, am.Name, am.Format(), status, out, want)
		}
		if !reflect.DeepEqual(listed[am.ID], want) {
			t.Errorf("GET /models lists %s (%s, format %s) as %v, want %v", am.ID, am.Name, am.Format(), listed[am.ID], want)
		}
	}
	// A base named by a relative path is read in its job's folder (here
	// the repository), as it was at submission, and only inside the
	// server's sandbox: a folder outside it is no base.
	root := assets.RepoRoot(t)
	for _, c := range []struct {
		base string
		want int
	}{
		{mustRel(t, root, filepath.Join(e.base, "stories-chat")), 200},
		{mustRel(t, root, assets.Path(t, "models", "stories260K")), 404},
	} {
		rel := *adapters[0]
		rel.ID, rel.Meta = "mdl_rel"+fmt.Sprint(c.want), map[string]any{"base_model": c.base}
		if err := e.st.InTx(ctx, func(tx store.Tx) error { return tx.CreateModel(ctx, &rel) }); err != nil {
			t.Fatal(err)
		}
		if status, out := chat(rel.ID); status != c.want {
			t.Errorf("chat with an adapter on %q: %d %v, want %d", c.base, status, out, c.want)
		}
	}

	// Another team's.
	b, _ := json.Marshal(map[string]any{"model": m.ID, "training_file": f["id"]})
	req, _ := http.NewRequest("POST", e.url+"/fine_tuning/jobs", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Test-Team", "blue")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var other map[string]any
	json.NewDecoder(resp.Body).Decode(&other)
	if er := errorOf(t, other); resp.StatusCode != 400 || er["code"] != "model_not_available" {
		t.Errorf("another team's %s: %d %v, want 400 model_not_available", m.ID, resp.StatusCode, other)
	}
}

func mustRel(t *testing.T, from, to string) string {
	t.Helper()
	r, err := filepath.Rel(from, to)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestBusyIs429 occupies the engine's one slot and one queue place with
// sequences that wait, then checks a request gets 429 at once in OpenAI's
// shape, and is served again once the engine is free.
func TestBusyIs429(t *testing.T) {
	t.Parallel()
	e := setup(t, serving.Options{MaxBatch: 1, MaxQueue: 1})
	l, err := e.eng.Load(serving.Target{Base: filepath.Join(e.base, "stories-chat")})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	admitted := make(chan struct{}, 8)
	var seqs []*serving.Seq
	for i := range 2 {
		s, err := e.eng.Submit(context.Background(), serving.Request{Model: l, Prompt: []int32{1}, MaxTokens: 5,
			OnToken: func(serving.Token) bool {
				select {
				case admitted <- struct{}{}:
				default:
				}
				<-release
				return true
			}})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, s)
		if i == 0 {
			// The queue holds one: the first must leave it (be admitted and
			// block in its first token) before the second can wait there.
			select {
			case <-admitted:
			case <-time.After(30 * time.Second):
				t.Fatal("the first sequence was never admitted")
			}
		}
	}
	req := map[string]any{"model": "stories-chat", "prompt": "Once", "max_tokens": 4}
	start := time.Now()
	status, body := e.do(t, "POST", "/completions", req)
	if er := errorOf(t, body); status != 429 || er["type"] != "rate_limit_exceeded" || er["code"] != "rate_limit_exceeded" {
		t.Fatalf("busy: %d %v", status, body)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("429 took %s", d)
	}
	close(release)
	for _, s := range seqs {
		s.Wait()
	}
	if status, body = e.do(t, "POST", "/completions", req); status != 200 {
		t.Fatalf("after release: %d %v", status, body)
	}
}

func TestSaveEvalSample(t *testing.T) {
	t.Parallel()
	e := setup(t, serving.Options{})
	var last map[string]any
	for i, pref := range []any{"Mia is a kid.", nil} {
		status, out := e.do(t, "POST", "/playground/eval_samples", map[string]any{"dataset": "evals",
			"messages": []any{map[string]any{"role": "user", "content": fmt.Sprintf("Who is Mia? %d", i)}}, "preferred": pref})
		if status != 200 || out["rows"].(float64) != float64(i+1) || out["name"] != "evals.jsonl" {
			t.Fatalf("save %d: %d %v", i, status, out)
		}
		last = out
	}
	if last["dataset_id"] == "" {
		t.Fatal("no dataset id")
	}
	status, out := e.do(t, "POST", "/playground/eval_samples", map[string]any{"dataset": "../x", "messages": []any{}})
	if er := errorOf(t, out); status != 400 || er["param"] != "dataset" {
		t.Errorf("bad name: %d %v", status, out)
	}
	// Another team's samples under the same name are its own: its first
	// save is one row, not the default team's two and its own.
	b, _ := json.Marshal(map[string]any{"dataset": "evals", "messages": []any{map[string]any{"role": "user", "content": "blue's question"}}})
	req, _ := http.NewRequest("POST", e.url+"/playground/eval_samples", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Test-Team", "blue")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var blue map[string]any
	json.NewDecoder(resp.Body).Decode(&blue)
	resp.Body.Close()
	if resp.StatusCode != 200 || blue["rows"] != float64(1) {
		t.Fatalf("blue's first save to evals: %d %v, want 1 row (not the default team's)", resp.StatusCode, blue)
	}
	ds, err := e.st.ForTeam("blue").GetDataset(context.Background(), blue["dataset_id"].(string))
	if err != nil {
		t.Fatalf("blue's dataset: %v", err)
	}
	rc, err := e.blobs.Open(context.Background(), ds.BlobKey)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := io.ReadAll(rc)
	rc.Close()
	if strings.Contains(string(rows), "Who is Mia") || !strings.Contains(string(rows), "blue's question") {
		t.Errorf("blue's dataset holds %q, want its row only", rows)
	}
	if status, out := e.do(t, "POST", "/playground/eval_samples", map[string]any{"dataset": "evals",
		"messages": []any{map[string]any{"role": "user", "content": "again"}}}); status != 200 || out["rows"] != float64(3) {
		t.Errorf("the default team's third save: %d %v, want 3 rows", status, out)
	}
}

// TestTeams checks a team sees only its own files and jobs; the team comes
// from the auth identity in the request context (set here from a header, as
// the auth middleware does from the bearer key).
func TestTeams(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir, cfg.Database, cfg.BlobDir = dir, filepath.Join(dir, "whet.db"), filepath.Join(dir, "blobs")
	var reg agent.Registry
	p, err := platform.Open(context.Background(), cfg, &reg, platform.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(context.Background()) })
	s := &openai.Server{Store: p.Store, Blobs: p.Blobs, Orch: p.Orch, CacheDir: t.TempDir()}
	h := s.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role := store.Role(cmp.Or(r.Header.Get("X-Test-Role"), string(store.RoleMember)))
		id := auth.Identity{Actor: "key_test", Team: r.Header.Get("X-Test-Team"), Role: role, Method: "key"}
		h.ServeHTTP(w, r.WithContext(auth.WithIdentity(r.Context(), id)))
	}))
	t.Cleanup(ts.Close)
	upload := func(team string) string {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("purpose", "fine-tune")
		fw, _ := mw.CreateFormFile("file", "a.jsonl")
		io.WriteString(fw, chatRows(2))
		mw.Close()
		req, _ := http.NewRequest("POST", ts.URL+"/v1/files", &buf)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("X-Test-Team", team)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var f map[string]any
		json.NewDecoder(resp.Body).Decode(&f)
		return f["id"].(string)
	}
	get := func(team, path string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", ts.URL+path, nil)
		req.Header.Set("X-Test-Team", team)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	a := upload("red")
	blue := []string{upload("blue"), upload("blue"), upload("blue")} // newer than red's
	if code, _ := get("red", "/v1/files/"+a); code != 200 {
		t.Errorf("own file: %d", code)
	}
	if code, _ := get("blue", "/v1/files/"+a); code != 404 {
		t.Errorf("another team's file: %d, want 404", code)
	}
	if _, l := get("red", "/v1/files"); len(l["data"].([]any)) != 1 {
		t.Errorf("red lists %v", l["data"])
	}
	// Pages hold the team's files only: red's one file on a page of one,
	// with nothing more (blue's newer files are neither in the way nor
	// hinted at); blue pages through its three.
	if _, l := get("red", "/v1/files?limit=1"); len(l["data"].([]any)) != 1 || l["data"].([]any)[0].(map[string]any)["id"] != a || l["has_more"] != false {
		t.Errorf("red's first page of one: %v, want %s and has_more false", l, a)
	}
	var paged []string
	after := ""
	for range 4 {
		_, l := get("blue", "/v1/files?limit=2"+after)
		for _, f := range l["data"].([]any) {
			paged = append(paged, f.(map[string]any)["id"].(string))
		}
		if l["has_more"] != true {
			break
		}
		after = "&after=" + l["last_id"].(string)
	}
	slices.Reverse(blue)
	if !slices.Equal(paged, blue) {
		t.Errorf("blue's pages of two: %v, want %v", paged, blue)
	}
	// A truncated upload is the client's fault.
	req0, _ := http.NewRequest("POST", ts.URL+"/v1/files", strings.NewReader("--XX\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfine-tune\r\n"+
		"--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jsonl\"\r\n\r\n{\"messages\":["))
	req0.Header.Set("Content-Type", "multipart/form-data; boundary=XX")
	req0.Header.Set("X-Test-Team", "red")
	resp0, err := http.DefaultClient.Do(req0)
	if err != nil {
		t.Fatal(err)
	}
	var trunc map[string]any
	json.NewDecoder(resp0.Body).Decode(&trunc)
	resp0.Body.Close()
	if er := errorOf(t, trunc); resp0.StatusCode != 400 || er["param"] != "file" || !strings.Contains(er["message"].(string), "truncated") {
		t.Errorf("truncated upload: %d %v, want 400 on file", resp0.StatusCode, trunc)
	}
	req, _ := http.NewRequest("DELETE", ts.URL+"/v1/files/"+a, nil)
	req.Header.Set("X-Test-Team", "red")
	req.Header.Set("X-Test-Role", "viewer")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("viewer delete: %d, want 403", resp.StatusCode)
	}
}

// /v1/models lists every exported adapter and merged model, not only the
// newest page of the store, and /v1/models/{id} finds one however old.
func TestModelsBeyondOnePage(t *testing.T) {
	e := setup(t, serving.Options{})
	ctx := context.Background()
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
	const n = 1205
	for i := range n {
		out := "gguf" // not served
		if i%100 == 0 {
			out = "adapter"
		}
		m := &store.Model{ID: fmt.Sprintf("mdl_old%04d", i), Name: fmt.Sprintf("run%d/export/%s", i, out), JobID: fmt.Sprintf("job_%d", i),
			Output: out, URI: fmt.Sprintf("models/%d/", i), CreatedAt: base.Add(time.Duration(i) * time.Second)}
		if err := e.st.InTx(ctx, func(tx store.Tx) error { return tx.CreateModel(ctx, m) }); err != nil {
			t.Fatal(err)
		}
	}
	code, body := e.do(t, "GET", "/models", nil)
	if code != 200 {
		t.Fatalf("GET /models: %d %v", code, body)
	}
	ids := map[string]bool{}
	for _, m := range body["data"].([]any) {
		ids[m.(map[string]any)["id"].(string)] = true
	}
	for i := 0; i < n; i += 100 {
		if id := fmt.Sprintf("mdl_old%04d", i); !ids[id] {
			t.Errorf("GET /models: %s (adapter, %d models newer) missing", id, n-1-i)
		}
	}
	if ids["mdl_old0001"] {
		t.Error("GET /models lists a GGUF export, which /v1 does not serve")
	}
	if code, body := e.do(t, "GET", "/models/mdl_old0000", nil); code != 200 || body["id"] != "mdl_old0000" {
		t.Errorf("GET /models/mdl_old0000 (the oldest): %d %v", code, body)
	}
	if code, body := e.do(t, "GET", "/models/mdl_old0001", nil); code != 404 || errorOf(t, body)["code"] != "model_not_found" {
		t.Errorf("GET /models/mdl_old0001 (a GGUF): %d %v, want 404 model_not_found", code, body)
	}
}

// insertAfterFirstPage is a store that creates a model once the first page
// of models was read, as a job finishing during GET /v1/models would.
type insertAfterFirstPage struct {
	store.Store
	once sync.Once
	m    *store.Model
}

func (s *insertAfterFirstPage) ListModels(ctx context.Context, p store.ListParams) ([]*store.Model, int, error) {
	l, total, err := s.Store.ListModels(ctx, p)
	if err == nil && p.Offset == 0 && p.After == nil {
		s.once.Do(func() {
			err = s.Store.InTx(ctx, func(tx store.Tx) error { return tx.CreateModel(ctx, s.m) })
		})
	}
	return l, total, err
}

// A model registered while /v1/models pages through the store shifts the
// later pages (newest first): the model at a page's end is read again at
// the next one's start, and must be listed once.
func TestModelsListedOnceWhileRegistering(t *testing.T) {
	ins := &insertAfterFirstPage{m: &store.Model{ID: "mdl_new", Name: "new/export/gguf", JobID: "job_new", Output: "gguf",
		URI: "models/new/", CreatedAt: time.Now().UTC()}}
	e := setupWith(t, serving.Options{}, func(st store.Store) store.Store { ins.Store = st; return ins })
	ctx := context.Background()
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
	const n = 1001 // the oldest is the first page's last: an adapter
	for i := range n {
		out := "gguf"
		if i == 0 || i == 1 {
			out = "adapter"
		}
		m := &store.Model{ID: fmt.Sprintf("mdl_old%04d", i), Name: fmt.Sprintf("run%d/export/%s", i, out), JobID: fmt.Sprintf("job_%d", i),
			Output: out, URI: fmt.Sprintf("models/%d/", i), CreatedAt: base.Add(time.Duration(i) * time.Second)}
		if err := e.st.InTx(ctx, func(tx store.Tx) error { return tx.CreateModel(ctx, m) }); err != nil {
			t.Fatal(err)
		}
	}
	code, body := e.do(t, "GET", "/models", nil)
	if code != 200 {
		t.Fatalf("GET /models: %d %v", code, body)
	}
	count := map[string]int{}
	for _, m := range body["data"].([]any) {
		count[m.(map[string]any)["id"].(string)]++
	}
	for _, id := range []string{"mdl_old0000", "mdl_old0001"} {
		if count[id] != 1 {
			t.Errorf("GET /models lists %s %d times, want once", id, count[id])
		}
	}
}

// deleteAfterFirstPage is a store that deletes models once the first page
// of models was read, as a user deleting models during GET /v1/models would.
type deleteAfterFirstPage struct {
	store.Store
	once sync.Once
	ids  []string
}

func (s *deleteAfterFirstPage) ListModels(ctx context.Context, p store.ListParams) ([]*store.Model, int, error) {
	l, total, err := s.Store.ListModels(ctx, p)
	if err == nil && len(l) > 0 {
		s.once.Do(func() {
			err = s.Store.InTx(ctx, func(tx store.Tx) error {
				for _, id := range s.ids {
					if err := tx.DeleteModel(ctx, id); err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
	return l, total, err
}

// Models deleted from the first page while /v1/models pages through the
// store shift no later page: the models at the next page's start are
// listed (offsets would skip one per deleted model), each once.
func TestModelsListedWhileDeleting(t *testing.T) {
	del := &deleteAfterFirstPage{ids: []string{"mdl_old1009", "mdl_old1008", "mdl_old1007"}}
	e := setupWith(t, serving.Options{}, func(st store.Store) store.Store { del.Store = st; return del })
	ctx := context.Background()
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
	const n = 1010 // newest first: the first page is 1009..10, the second 9..0 (adapters)
	for i := range n {
		out := "gguf"
		if i < 10 || i >= 1007 {
			out = "adapter"
		}
		m := &store.Model{ID: fmt.Sprintf("mdl_old%04d", i), Name: fmt.Sprintf("run%d/export/%s", i, out), JobID: fmt.Sprintf("job_%d", i),
			Output: out, URI: fmt.Sprintf("models/%d/", i), CreatedAt: base.Add(time.Duration(i) * time.Second)}
		if err := e.st.InTx(ctx, func(tx store.Tx) error { return tx.CreateModel(ctx, m) }); err != nil {
			t.Fatal(err)
		}
	}
	code, body := e.do(t, "GET", "/models", nil)
	if code != 200 {
		t.Fatalf("GET /models: %d %v", code, body)
	}
	count := map[string]int{}
	for _, m := range body["data"].([]any) {
		count[m.(map[string]any)["id"].(string)]++
	}
	for i := range 10 {
		if id := fmt.Sprintf("mdl_old%04d", i); count[id] != 1 {
			t.Errorf("GET /models lists %s %d times, want once", id, count[id])
		}
	}
}

// /v1/models and /v1/models/mdl_… show a caller only its team's exported
// models: another team's id is model_not_found, as an unknown one.
func TestModelsTeamScoped(t *testing.T) {
	e := setup(t, serving.Options{})
	ctx := context.Background()
	for _, m := range []*store.Model{
		{ID: "mdl_red1", Name: "red/export/adapter", JobID: "job_red", Team: "red", Output: "adapter", URI: "models/red/", CreatedAt: time.Now().UTC()},
		{ID: "mdl_blue1", Name: "blue/export/merged", JobID: "job_blue", Team: "blue", Output: "merged", URI: "models/blue/", CreatedAt: time.Now().UTC()},
	} {
		if err := e.st.InTx(ctx, func(tx store.Tx) error { return tx.CreateModel(ctx, m) }); err != nil {
			t.Fatal(err)
		}
	}
	get := func(path string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", e.url+path, nil)
		req.Header.Set("X-Test-Team", "blue")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, body := get("/models")
	if code != 200 {
		t.Fatalf("GET /models: %d %v", code, body)
	}
	ids := map[string]bool{}
	for _, m := range body["data"].([]any) {
		ids[m.(map[string]any)["id"].(string)] = true
	}
	if !ids["mdl_blue1"] || ids["mdl_red1"] {
		t.Errorf("GET /models as blue: %v, want mdl_blue1 and not red's mdl_red1", ids)
	}
	if code, body := get("/models/mdl_blue1"); code != 200 || body["id"] != "mdl_blue1" {
		t.Errorf("GET /models/mdl_blue1 as blue: %d %v", code, body)
	}
	for _, id := range []string{"mdl_red1", "mdl_nope", "mdl_" + strings.Repeat("x", 5000)} {
		if code, body := get("/models/" + id); code != 404 || errorOf(t, body)["code"] != "model_not_found" {
			t.Errorf("GET /models/%.20s… as blue: %d %v, want 404 model_not_found", id, code, body)
		}
	}
}

// TestModelsAgreeWithChat: GET /v1/models/{id} and the list find exactly
// the registered models chat serves the caller's team: a trained full
// model (format hf) and a merged export are found, listed and answer chat;
// a GGUF export and another team's model are in neither, and chat calls
// them model_not_found as GET does.
func TestModelsAgreeWithChat(t *testing.T) {
	e := setup(t, serving.Options{})
	ctx := context.Background()
	src := filepath.Join(e.base, "stories-chat")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	ms := []*store.Model{
		{ID: "mdl_hf", Name: "run/tune/model", JobID: "job_b", NodeID: "tune", Team: "blue", Output: "model", Meta: map[string]any{"format": "hf"}},
		{ID: "mdl_merged", Name: "run/ship/merged", JobID: "job_b", NodeID: "ship", Team: "blue", Output: "merged"},
		{ID: "mdl_gguf", Name: "run/ship/gguf", JobID: "job_b", NodeID: "ship", Team: "blue", Output: "gguf"},
		{ID: "mdl_red", Name: "run/tune/model", JobID: "job_r", NodeID: "tune", Team: "red", Output: "model", Meta: map[string]any{"format": "hf"}},
	}
	for _, m := range ms {
		m.URI, m.CreatedAt = "jobs/"+m.JobID+"/"+m.ID+"/", now
		for _, f := range entries {
			if _, err := blob.PutFile(ctx, e.blobs, m.URI+f.Name(), filepath.Join(src, f.Name()), false); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.st.InTx(ctx, func(tx store.Tx) error { return tx.CreateModel(ctx, m) }); err != nil {
			t.Fatal(err)
		}
	}
	as := func(method, path string, body any) (int, map[string]any) {
		var r io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, e.url+path, r)
		req.Header.Set("X-Test-Team", "blue")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	_, list := as("GET", "/models", nil)
	listed := map[string]bool{}
	for _, lm := range list["data"].([]any) {
		listed[lm.(map[string]any)["id"].(string)] = true
	}
	for _, c := range []struct {
		id    string
		found bool
	}{{"mdl_hf", true}, {"mdl_merged", true}, {"mdl_gguf", false}, {"mdl_red", false}} {
		chat, cout := as("POST", "/chat/completions", map[string]any{"model": c.id, "max_tokens": 2, "temperature": 0,
			"messages": []any{map[string]any{"role": "user", "content": "Who is Mia?"}}})
		get, gout := as("GET", "/models/"+c.id, nil)
		if c.found {
			want := map[string]any{"id": c.id, "object": "model", "created": float64(now.Unix()), "owned_by": "whetstone"}
			if chat != 200 || get != 200 || !reflect.DeepEqual(gout, want) || !listed[c.id] {
				t.Errorf("%s: chat %d, GET %d %v, listed %v; want 200, 200 %v, listed", c.id, chat, get, gout, listed[c.id], want)
			}
			continue
		}
		if chat != 404 || errorOf(t, cout)["code"] != "model_not_found" || get != 404 || errorOf(t, gout)["code"] != "model_not_found" || listed[c.id] {
			t.Errorf("%s: chat %d %v, GET %d %v, listed %v; want 404 model_not_found from both, not listed", c.id, chat, cout, get, gout, listed[c.id])
		}
	}
}

// TestListFilesOrder: GET /v1/files?order= lists by created_at, newest
// first by default or with desc, oldest first with asc; after and limit
// page in the order asked for; any other order is a 400 naming it.
func TestListFilesOrder(t *testing.T) {
	e := setup(t, serving.Options{})
	var ids []string // oldest first
	for i := range 3 {
		status, f := e.upload(t, fmt.Sprintf("f%d.jsonl", i), chatRows(1))
		if status != 200 {
			t.Fatalf("upload: %d %v", status, f)
		}
		ids = append(ids, f["id"].(string))
	}
	a, b, c := ids[0], ids[1], ids[2]
	for _, tc := range []struct {
		query string
		want  []string
		more  bool
	}{
		{"", []string{c, b, a}, false},
		{"?order=desc", []string{c, b, a}, false},
		{"?order=asc", []string{a, b, c}, false},
		{"?order=asc&limit=2", []string{a, b}, true},
		{"?order=asc&limit=2&after=" + b, []string{c}, false},
		{"?order=asc&after=" + a, []string{b, c}, false},
		{"?order=desc&limit=2", []string{c, b}, true},
		{"?order=desc&limit=2&after=" + b, []string{a}, false},
		{"?limit=1&after=" + c, []string{b}, true},
	} {
		status, l := e.do(t, "GET", "/files"+tc.query, nil)
		if status != 200 {
			t.Errorf("GET /files%s: %d %v", tc.query, status, l)
			continue
		}
		var got []string
		for _, f := range l["data"].([]any) {
			got = append(got, f.(map[string]any)["id"].(string))
		}
		if !slices.Equal(got, tc.want) || l["has_more"] != tc.more || l["first_id"] != tc.want[0] || l["last_id"] != tc.want[len(tc.want)-1] {
			t.Errorf("GET /files%s: %v has_more %v (first %v last %v), want %v has_more %v", tc.query, got, l["has_more"], l["first_id"], l["last_id"], tc.want, tc.more)
		}
	}
	for _, bad := range []string{"up", "ASC", "created_at"} {
		status, out := e.do(t, "GET", "/files?order="+bad, nil)
		if er := errorOf(t, out); status != 400 || er["param"] != "order" || er["code"] != "invalid_value" || er["type"] != "invalid_request_error" {
			t.Errorf("GET /files?order=%s: %d %v, want 400 invalid_value on param order", bad, status, out)
		}
	}
}

// TestLegacyRecordsAreDefaultTeams: a file and a fine-tuning job stored
// before teams existed (no team in their records) are the default team's,
// as the stores' migration made every row of that time: the default team
// (and a server with auth off) still lists and reads them and their model,
// no other team sees, reads or deletes them.
func TestLegacyRecordsAreDefaultTeams(t *testing.T) {
	e := setup(t, serving.Options{})
	ctx := context.Background()
	const fileID, jobID = "file-000000000001aaaaaaaa", "ftjob-000000000001bbbbbbbb"
	model := "ft:stories-chat::old:000000000001bbbbbbbb"
	rows := chatRows(1)
	for key, v := range map[string]string{
		"openai/files/" + fileID + ".jsonl": rows,
		"openai/files/" + fileID + ".json": fmt.Sprintf(`{"id":%q,"object":"file","bytes":%d,"created_at":1700000000,"filename":"old.jsonl",`+
			`"purpose":"fine-tune","status":"processed","status_details":null,"expires_at":null,"kind":"supervised","rows":1}`, fileID, len(rows)),
		"openai/jobs/" + jobID + ".json": fmt.Sprintf(`{"id":%q,"object":"fine_tuning.job","created_at":1700000000,"finished_at":1700000100,`+
			`"fine_tuned_model":%q,"model":"stories-chat","status":"succeeded","training_file":%q,"pipeline_jobs":["job_old"],"final":true}`, jobID, model, fileID),
	} {
		if _, err := e.blobs.Put(ctx, key, strings.NewReader(v)); err != nil {
			t.Fatal(err)
		}
	}
	as := func(team, method, path string) (int, map[string]any) {
		req, _ := http.NewRequest(method, e.url+path, nil)
		if team != "" {
			req.Header.Set("X-Test-Team", team)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	ids := func(l map[string]any) map[string]bool {
		out := map[string]bool{}
		data, _ := l["data"].([]any)
		for _, d := range data {
			out[d.(map[string]any)["id"].(string)] = true
		}
		return out
	}
	for _, c := range []struct {
		team string // "" is no identity (auth off)
		sees bool
	}{{"blue", false}, {"default", true}, {"", true}} {
		want := 404
		if c.sees {
			want = 200
		}
		for _, p := range []string{"/files/" + fileID, "/fine_tuning/jobs/" + jobID, "/models/" + model} {
			if status, out := as(c.team, "GET", p); status != want {
				t.Errorf("team %q: GET %s: %d %v, want %d", c.team, p, status, out, want)
			}
		}
		for _, l := range []struct{ path, id string }{{"/files", fileID}, {"/fine_tuning/jobs", jobID}, {"/models", model}} {
			if _, out := as(c.team, "GET", l.path); ids(out)[l.id] != c.sees {
				t.Errorf("team %q: GET %s lists %s: %v, want %v", c.team, l.path, l.id, ids(out)[l.id], c.sees)
			}
		}
	}
	// Another team cannot delete them (nor read the file's content).
	if status, out := as("blue", "GET", "/files/"+fileID+"/content"); status != 404 {
		t.Errorf("blue: GET the legacy file's content: %d %v, want 404", status, out)
	}
	for _, p := range []string{"/files/" + fileID, "/models/" + model} {
		if status, out := as("blue", "DELETE", p); status != 404 || errorOf(t, out)["type"] != "invalid_request_error" {
			t.Errorf("blue: DELETE %s: %d %v, want 404", p, status, out)
		}
	}
	if status, out := as("default", "GET", "/files/"+fileID); status != 200 || out["filename"] != "old.jsonl" {
		t.Errorf("after blue's DELETE, the default team's GET: %d %v", status, out)
	}
}

// TestDeleteFineTunedUnreadable: a fine-tuning job's record the server
// cannot read is its own failure (500) for DELETE /v1/models/{ft:...} as
// for GET, not a 404 that tells the client there is no such model.
func TestDeleteFineTunedUnreadable(t *testing.T) {
	e := setup(t, serving.Options{})
	if _, err := e.blobs.Put(context.Background(), "openai/jobs/ftjob-unreadable.json", strings.NewReader("{not json")); err != nil {
		t.Fatal(err)
	}
	id := "ft:stories-chat:default::unreadable"
	get, _ := e.do(t, "GET", "/models/"+id, nil)
	del, body := e.do(t, "DELETE", "/models/"+id, nil)
	if get != 500 || del != 500 {
		t.Errorf("GET %s = %d, DELETE = %d %v; want 500 for both (the record is unreadable)", id, get, del, body)
	}
}

// TestAdapterOfDeletedBase: a LoRA adapter whose registered base model was
// deleted with force=true (which keeps the adapter) is neither listed nor
// found by GET /v1/models/{id}, as chat does not serve it; an adapter on a
// base model folder and one whose base still exists stay listed and
// found. DELETE still deletes it.
func TestAdapterOfDeletedBase(t *testing.T) {
	e := setup(t, serving.Options{})
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	lora := func(id, base string) *store.Model {
		return &store.Model{ID: id, Name: "run/tune/" + id, JobID: "job_" + id, NodeID: "tune", Team: "blue", Output: "model",
			URI: "jobs/job_" + id + "/tune/model/", CreatedAt: now, Meta: map[string]any{"format": "peft-lora", "base_model": base}}
	}
	ms := []*store.Model{
		{ID: "mdl_base", Name: "run/tune/model", JobID: "job_base", NodeID: "tune", Team: "blue", Output: "model",
			URI: "jobs/job_base/tune/model/", CreatedAt: now, Meta: map[string]any{"format": "hf"}},
		{ID: "mdl_kept", Name: "run/tune/model", JobID: "job_kept", NodeID: "tune", Team: "blue", Output: "model",
			URI: "jobs/job_kept/tune/model/", CreatedAt: now, Meta: map[string]any{"format": "hf"}},
		lora("mdl_orphan", "mdl_base"),
		lora("mdl_onkept", "mdl_kept"),
		lora("mdl_onfolder", "stories-chat"),
	}
	for _, m := range ms {
		if err := e.st.InTx(ctx, func(tx store.Tx) error { return tx.CreateModel(ctx, m) }); err != nil {
			t.Fatal(err)
		}
	}
	as := func(method, path string, body any) (int, map[string]any) {
		var r io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, e.url+path, r)
		req.Header.Set("X-Test-Team", "blue")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	check := func(when string, want map[string]bool) {
		t.Helper()
		_, list := as("GET", "/models", nil)
		listed := map[string]bool{}
		for _, lm := range list["data"].([]any) {
			listed[lm.(map[string]any)["id"].(string)] = true
		}
		for id, found := range want {
			get, gout := as("GET", "/models/"+id, nil)
			if found != (get == 200) || found != listed[id] {
				t.Errorf("%s: %s: GET %d %v, listed %v; want found and listed %v", when, id, get, gout, listed[id], found)
			}
		}
	}
	check("before", map[string]bool{"mdl_orphan": true, "mdl_onkept": true, "mdl_onfolder": true})
	d := &remove.Deleter{Store: e.st, Blobs: e.blobs}
	if _, err := d.Model(ctx, e.st, "mdl_base", true); err != nil {
		t.Fatal(err)
	}
	check("base deleted", map[string]bool{"mdl_orphan": false, "mdl_onkept": true, "mdl_onfolder": true})
	chat, cout := as("POST", "/chat/completions", map[string]any{"model": "mdl_orphan", "max_tokens": 2,
		"messages": []any{map[string]any{"role": "user", "content": "Who is Mia?"}}})
	if chat != 404 || errorOf(t, cout)["code"] != "model_not_found" {
		t.Errorf("chat with mdl_orphan: %d %v, want 404 model_not_found", chat, cout)
	}
	if status, out := as("DELETE", "/models/mdl_orphan", nil); status != 200 || out["deleted"] != true {
		t.Errorf("DELETE mdl_orphan: %d %v, want 200 deleted", status, out)
	}
	if _, err := e.st.GetModel(ctx, "mdl_orphan"); err == nil {
		t.Error("mdl_orphan still registered after DELETE")
	}
}

// TestEvalSamplesAfterDelete: a playground sample set follows its
// datasets. Deleting its newest version (through package remove, as both
// APIs do) ends it: the next save is a fresh set of one row, not every row
// saved before. Deleting an older version does not; nor does a set saved
// before its record was kept (only the old running file, which held rows
// whose datasets were deleted) bring those rows back.
func TestEvalSamplesAfterDelete(t *testing.T) {
	t.Parallel()
	e := setup(t, serving.Options{})
	ctx := context.Background()
	save := func(set, q string) (float64, string) {
		t.Helper()
		status, out := e.do(t, "POST", "/playground/eval_samples", map[string]any{"dataset": set,
			"messages": []any{map[string]any{"role": "user", "content": q}}})
		if status != 200 {
			t.Fatalf("save %q to %s: %d %v", q, set, status, out)
		}
		return out["rows"].(float64), out["dataset_id"].(string)
	}
	content := func(id string) string {
		t.Helper()
		ds, err := e.st.GetDataset(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := e.blobs.Open(ctx, ds.BlobKey)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		return string(b)
	}
	d := &remove.Deleter{Store: e.st, Blobs: e.blobs}
	save("evals", "q1")
	_, v2 := save("evals", "q2")
	if _, err := d.Dataset(ctx, e.st, v2); err != nil {
		t.Fatal(err)
	}
	rows, v3 := save("evals", "q3")
	if got := content(v3); rows != 1 || strings.Contains(got, "q1") || strings.Contains(got, "q2") || !strings.Contains(got, "q3") {
		t.Errorf("the save after deleting the newest version: %v rows %q, want a fresh set of q3 only", rows, got)
	}
	// An older version deleted: the set goes on from its newest.
	save("evals", "q4")
	if _, err := d.Dataset(ctx, e.st, v3); err != nil {
		t.Fatal(err)
	}
	if rows, v5 := save("evals", "q5"); rows != 3 || !strings.Contains(content(v5), "q4") {
		t.Errorf("the save after deleting an older version: %v rows %q, want q3, q4, q5", rows, content(v5))
	}
	// A set from before: the running file holds two rows whose datasets
	// are gone, and one version (of one row) is still registered.
	legacy := `{"messages":[{"role":"user","content":"gone1"}]}` + "\n" + `{"messages":[{"role":"user","content":"gone2"}]}` + "\n"
	if _, err := e.blobs.Put(ctx, "openai/evals/default/old.jsonl", strings.NewReader(legacy)); err != nil {
		t.Fatal(err)
	}
	if rows, id := save("old", "fresh"); rows != 1 || strings.Contains(content(id), "gone") {
		t.Errorf("the first save to a set whose datasets were deleted before: %v rows %q, want fresh only", rows, content(id))
	}
	if _, err := e.blobs.Stat(ctx, "openai/evals/default/old.jsonl"); err == nil {
		t.Error("the old running file is still stored")
	}
	key := "datasets/playground/default/kept/1.jsonl"
	row := `{"messages":[{"role":"user","content":"kept1"}]}` + "\n"
	info, err := e.blobs.Put(ctx, key, strings.NewReader(row))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.InTx(ctx, func(tx store.Tx) error {
		return tx.CreateDataset(ctx, &store.Dataset{ID: store.NewID("ds"), Name: "kept.jsonl", Size: info.Size, SHA256: info.SHA256,
			Format: "jsonl", BlobKey: key, CreatedAt: time.Now().UTC(), Team: "default"})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.blobs.Put(ctx, "openai/evals/default/kept.jsonl", strings.NewReader(legacy+row)); err != nil {
		t.Fatal(err)
	}
	if rows, id := save("kept", "new"); rows != 2 || strings.Contains(content(id), "gone") || !strings.Contains(content(id), "kept1") {
		t.Errorf("the first save to an older set with a registered version: %v rows %q, want kept1 and new", rows, content(id))
	}
}

// TestCreateJobFailureDropsDatasets: a job creation that fails after it
// registered its training and validation datasets (here at Submit: no
// agent runs the pipeline, so it is invalid) deletes them, records and
// files, and answers the same 400; the uploaded files and any other
// dataset stay.
func TestCreateJobFailureDropsDatasets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir, cfg.Database, cfg.BlobDir = dir, filepath.Join(dir, "whet.db"), filepath.Join(dir, "blobs")
	var reg agent.Registry // no agents: every pipeline fails validation
	p, err := platform.Open(context.Background(), cfg, &reg, platform.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(context.Background()) })
	s := &openai.Server{Store: p.Store, Blobs: p.Blobs, Orch: p.Orch, BaseModels: baseModels(t), CacheDir: t.TempDir()}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	e := &env{url: ts.URL + "/v1", st: p.Store, blobs: p.Blobs}
	ctx := context.Background()
	keep := &store.Dataset{ID: "ds_keep", Name: "k.jsonl", Format: "jsonl", BlobKey: "datasets/ds_keep/k.jsonl", CreatedAt: time.Now().UTC()}
	if _, err := p.Blobs.Put(ctx, keep.BlobKey, strings.NewReader(chatRows(1))); err != nil {
		t.Fatal(err)
	}
	if err := p.Store.InTx(ctx, func(tx store.Tx) error { return tx.CreateDataset(ctx, keep) }); err != nil {
		t.Fatal(err)
	}
	_, train := e.upload(t, "train.jsonl", chatRows(12))
	_, val := e.upload(t, "val.jsonl", chatRows(3))
	status, out := e.do(t, "POST", "/fine_tuning/jobs", map[string]any{"model": "stories-chat", "training_file": train["id"], "validation_file": val["id"]})
	if er := errorOf(t, out); status != 400 || er["code"] != "invalid_request" || !strings.Contains(er["message"].(string), "The fine-tuning pipeline is invalid") {
		t.Fatalf("create with an invalid pipeline: %d %v, want 400 invalid_request", status, out)
	}
	ds, _, err := p.Store.ListDatasets(ctx, store.ListParams{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].ID != "ds_keep" {
		var ids []string
		for _, d := range ds {
			ids = append(ids, d.ID)
		}
		t.Errorf("datasets after the failed creation: %v, want only ds_keep", ids)
	}
	l, err := p.Blobs.List(ctx, "datasets/")
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 1 || l[0].Key != keep.BlobKey {
		t.Errorf("dataset files after the failed creation: %v, want only %s", l, keep.BlobKey)
	}
	for _, f := range []map[string]any{train, val} {
		if code, _ := e.do(t, "GET", "/files/"+f["id"].(string), nil); code != 200 {
			t.Errorf("uploaded file %v after the failed creation: %d, want 200", f["id"], code)
		}
	}
}

// TestPausedJobHoldsItsDatasets: a paused fine-tuning job (its pipeline
// cancelled, its record paused) keeps its training and validation datasets
// from deletion (package remove's 409 names the job), as resume needs them;
// once cancelled, they delete. No worker runs here: the pipeline stays
// queued until paused.
func TestPausedJobHoldsItsDatasets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir, cfg.Database, cfg.BlobDir = dir, filepath.Join(dir, "whet.db"), filepath.Join(dir, "blobs")
	var reg agent.Registry
	for _, a := range []agent.Agent{ingest.New(), validate.New(), preprocess.New(), train.New(), evaluate.New(nil), export.New()} {
		reg.Register(a)
	}
	p, err := platform.Open(context.Background(), cfg, &reg, platform.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(context.Background()) })
	s := &openai.Server{Store: p.Store, Blobs: p.Blobs, Orch: p.Orch, BaseModels: baseModels(t), CacheDir: t.TempDir()}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	e := &env{url: ts.URL + "/v1", st: p.Store, blobs: p.Blobs}
	ctx := context.Background()
	_, train := e.upload(t, "train.jsonl", chatRows(12))
	_, val := e.upload(t, "val.jsonl", chatRows(3))
	status, job := e.do(t, "POST", "/fine_tuning/jobs", map[string]any{"model": "stories-chat", "training_file": train["id"], "validation_file": val["id"]})
	if status != 200 {
		t.Fatalf("create: %d %v", status, job)
	}
	id := job["id"].(string)
	if status, job = e.do(t, "POST", "/fine_tuning/jobs/"+id+"/pause", nil); status != 200 || job["status"] != "paused" {
		t.Fatalf("pause: %d %v", status, job)
	}
	ds, _, err := p.Store.ListDatasets(ctx, store.ListParams{Limit: 100})
	if err != nil || len(ds) != 2 {
		t.Fatalf("datasets: %v %v, want the job's two", ds, err)
	}
	d := &remove.Deleter{Store: p.Store, Blobs: p.Blobs}
	for _, x := range ds {
		var ie *remove.InUseError
		if _, err := d.Dataset(ctx, p.Store, x.ID); !errors.As(err, &ie) || !slices.Equal(ie.Paused, []string{id}) {
			t.Errorf("delete dataset %s of paused %s: %v, want an InUseError naming it", x.ID, id, err)
		}
	}
	if status, job = e.do(t, "POST", "/fine_tuning/jobs/"+id+"/cancel", nil); status != 200 || job["status"] != "cancelled" {
		t.Fatalf("cancel: %d %v", status, job)
	}
	for _, x := range ds {
		if _, err := d.Dataset(ctx, p.Store, x.ID); err != nil {
			t.Errorf("delete dataset %s of cancelled %s: %v", x.ID, id, err)
		}
	}
}
