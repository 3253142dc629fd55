package api_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/whetstone/whetstone/internal/assets"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/ingest"
	"github.com/whetstone/whetstone/internal/api"
	"github.com/whetstone/whetstone/internal/blob/fsblob"
	"github.com/whetstone/whetstone/internal/config"
	"github.com/whetstone/whetstone/internal/platform"
	"github.com/whetstone/whetstone/internal/store"
)

// modelAgent writes a two-file model folder; "block" waits for cancellation.
type modelAgent struct{}

func (modelAgent) Spec() agent.Spec {
	return agent.Spec{Name: "fakemodel", Params: []agent.Param{{Name: "block", Type: agent.Boolean, Default: false}},
		Inputs:  []agent.Port{{Type: agent.Dataset, Name: "data"}},
		Outputs: []agent.Port{{Type: agent.Model, Name: "model"}}}
}

func (modelAgent) Run(ctx context.Context, env *agent.Env) ([]agent.Artifact, error) {
	for i := range 5 {
		env.Emit.Metrics(i, map[string]float64{"loss": 2 - float64(i)*0.1})
	}
	if env.Params.Bool("block") {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	d := filepath.Join(env.OutDir, "m")
	os.MkdirAll(d, 0o755)
	os.WriteFile(filepath.Join(d, "config.json"), []byte(`{"dim": 64}`), 0o644)
	os.WriteFile(filepath.Join(d, "weights.bin"), []byte("0123456789abcdef"), 0o644)
	return []agent.Artifact{{Type: agent.Model, Name: "model", Path: "m", Meta: map[string]any{"method": "lora"}}}, nil
}

type env struct {
	url string
	p   *platform.Platform
}

func setup(t testing.TB, work ...bool) *env {
	t.Helper()
	return setupWith(t, defaultRegistry(), len(work) == 0 || work[0])
}

// defaultRegistry has the agents setup runs: dataset and fakemodel.
func defaultRegistry() *agent.Registry {
	var reg agent.Registry
	reg.Register(ingest.New())
	reg.Register(modelAgent{})
	return &reg
}

// setupWith starts a platform running reg's agents (work: with a worker)
// and the API on it.
func setupWith(t testing.TB, reg *agent.Registry, work bool) *env {
	t.Helper()
	return setupConfig(t, reg, nil, work)
}

// setupConfig is setupWith with the configuration changed by change (nil:
// none): another database, an event fan-out.
func setupConfig(t testing.TB, reg *agent.Registry, change func(*config.Config), work bool) *env {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir, cfg.Database, cfg.BlobDir = dir, filepath.Join(dir, "whet.db"), filepath.Join(dir, "blobs")
	cfg.PollInterval, cfg.LeaseTimeout, cfg.RetryBase = 50*time.Millisecond, 2*time.Second, 100*time.Millisecond
	cfg.WorkDir = repoRoot(t)
	if change != nil {
		change(&cfg)
	}
	p, err := platform.Open(context.Background(), cfg, reg, platform.Options{Work: work})
	if err != nil {
		t.Fatal(err)
	}
	p.Start(context.Background())
	srv := &api.Server{Store: p.Store, Blobs: p.Blobs, Bus: p.Bus, Orch: p.Orch, Agents: reg, Health: p.Health,
		MaxUploadBytes: 1 << 20, Heartbeat: 200 * time.Millisecond,
		Web: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "web ui") })}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Stop(ctx)
	})
	return &env{url: ts.URL + "/api/v1", p: p}
}

func repoRoot(t testing.TB) string { return assets.RepoRoot(t) }

func do(t *testing.T, method, url, ctype string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, body)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

const alpaca = "../shared/assets/datasets/llama-factory/alpaca_en_demo.json"

func (e *env) submit(t *testing.T, spec string) string {
	t.Helper()
	resp, b := do(t, "POST", e.url+"/jobs", "application/yaml", strings.NewReader(spec))
	if resp.StatusCode != 202 {
		t.Fatalf("POST /jobs = %d %s", resp.StatusCode, b)
	}
	var out struct{ JobID, Status string }
	json.Unmarshal(b, &out)
	var o2 map[string]string
	json.Unmarshal(b, &o2)
	if o2["status"] != "pending" || o2["job_id"] == "" {
		t.Fatalf("POST /jobs body = %s", b)
	}
	return o2["job_id"]
}

func (e *env) wait(t *testing.T, id string) map[string]any {
	t.Helper()
	for range 400 {
		_, b := do(t, "GET", e.url+"/jobs/"+id, "", nil)
		var j map[string]any
		json.Unmarshal(b, &j)
		if s := j["status"]; s == "succeeded" || s == "failed" || s == "cancelled" {
			return j
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("job %s did not end", id)
	return nil
}

func TestJobLifecycle(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id := e.submit(t, "name: p\nnodes: [{id: data, agent: dataset, params: {source: "+alpaca+"}}, {id: m, agent: fakemodel}]\nedges: [{from: data, to: m}]\n")
	j := e.wait(t, id)
	if j["status"] != "succeeded" {
		t.Fatalf("job = %v", j)
	}
	for _, k := range []string{"job_id", "name", "status", "created_at", "started_at", "finished_at", "error", "nodes"} {
		if _, ok := j[k]; !ok {
			t.Errorf("job JSON lacks %q", k)
		}
	}
	n := j["nodes"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "agent", "status", "attempts", "started_at", "finished_at", "outputs", "error"} {
		if _, ok := n[k]; !ok {
			t.Errorf("node JSON lacks %q", k)
		}
	}
	if n["attempts"] != float64(1) || len(n["outputs"].([]any)) != 2 {
		t.Errorf("node = %v", n)
	}
	// Lists and filters.
	_, b := do(t, "GET", e.url+"/jobs?status=succeeded&limit=1", "", nil)
	var l struct {
		Jobs  []map[string]any
		Total int
	}
	json.Unmarshal(b, &l)
	if l.Total != 1 || len(l.Jobs) != 1 || l.Jobs[0]["job_id"] != id {
		t.Errorf("GET /jobs?status=succeeded = %s", b)
	}
	// The list keeps the job's fields and adds a summary (nodes are not listed).
	if len(l.Jobs) == 1 {
		sum, _ := l.Jobs[0]["summary"].(map[string]any)
		if sum["nodes"] != float64(2) || sum["nodes_succeeded"] != float64(2) || l.Jobs[0]["nodes"] != nil || l.Jobs[0]["spec"] == nil {
			t.Errorf("GET /jobs summary = %s", b)
		}
	}
	_, b = do(t, "GET", e.url+"/jobs?status=failed", "", nil)
	json.Unmarshal(b, &l)
	if l.Total != 0 {
		t.Errorf("GET /jobs?status=failed = %s", b)
	}
	// Models and downloads.
	_, b = do(t, "GET", e.url+"/models", "", nil)
	var ml struct{ Models []store.Model }
	json.Unmarshal(b, &ml)
	if len(ml.Models) != 1 || ml.Models[0].JobID != id || len(ml.Models[0].Files) != 2 || ml.Models[0].Meta["method"] != "lora" {
		t.Fatalf("GET /models = %s", b)
	}
	mid := ml.Models[0].ID
	resp, b := do(t, "GET", e.url+"/models/"+mid+"/download?file=weights.bin", "", nil, "Range", "bytes=2-5")
	if resp.StatusCode != 206 || string(b) != "2345" || resp.Header.Get("Content-Range") != "bytes 2-5/16" {
		t.Errorf("range download = %d %q %q", resp.StatusCode, b, resp.Header.Get("Content-Range"))
	}
	resp, b = do(t, "GET", e.url+"/models/"+mid+"/download", "", nil)
	tr := tar.NewReader(bytes.NewReader(b))
	var names []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	if resp.StatusCode != 200 || strings.Join(names, ",") != "config.json,weights.bin" {
		t.Errorf("tar download = %d %v", resp.StatusCode, names)
	}
	if resp, _ := do(t, "GET", e.url+"/models/"+mid+"/download?file=../x", "", nil); resp.StatusCode != 404 {
		t.Errorf("download of a file outside the model = %d", resp.StatusCode)
	}
	// History pages.
	_, b = do(t, "GET", e.url+"/logs/history/"+id+"?after=2&limit=3", "", nil)
	var h struct {
		Events []store.Event
		Next   int64
	}
	json.Unmarshal(b, &h)
	if len(h.Events) != 3 || h.Events[0].Seq != 3 || h.Next != 5 {
		t.Errorf("history page = %s", b)
	}
	// The web UI answers outside the API.
	resp, b = do(t, "GET", strings.TrimSuffix(e.url, "/api/v1")+"/", "", nil)
	if string(b) != "web ui" {
		t.Errorf("GET / = %d %q", resp.StatusCode, b)
	}
}

func TestProblems(t *testing.T) {
	t.Parallel()
	e := setup(t)
	big := "name: p\nnodes: [{id: a, agent: dataset, params: {source: x}}]\n#" + strings.Repeat("x", 2<<20)
	tests := []struct {
		name, method, path, ctype, body string
		status                          int
		detail                          string
	}{
		{"bad yaml", "POST", "/jobs", "application/yaml", "name: [", 400, "pipeline spec: ["},
		{"unknown field", "POST", "/jobs", "application/json", `{"name": "p", "nodez": []}`, 400, `[1:15] unknown field \"nodez\"`},
		{"invalid spec", "POST", "/jobs", "application/json", `{"name": "p", "nodes": [{"id": "a", "agent": "nope"}]}`, 422, `node \"a\": agent: unknown agent \"nope\"`},
		{"wrong media", "POST", "/jobs", "text/plain", `{}`, 415, "text/plain is not supported"},
		{"too large", "POST", "/jobs", "application/yaml", big, 413, ""},
		{"missing job", "GET", "/jobs/job_nope", "", "", 404, `job \"job_nope\": not found`},
		{"cancel missing", "DELETE", "/jobs/job_nope", "", "", 404, "not found"},
		{"missing dataset", "GET", "/datasets/ds_nope", "", "", 404, "not found"},
		{"missing model", "GET", "/models/m_nope", "", "", 404, "not found"},
		{"bad status filter", "GET", "/jobs?status=done", "", "", 422, "expected value to be one of"},
		{"upload not multipart", "POST", "/datasets/upload", "application/json", "{}", 415, "multipart/form-data"},
		{"history missing", "GET", "/logs/history/job_nope", "", "", 404, "not found"},
		{"stream missing", "GET", "/logs/stream/job_nope", "", "", 404, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := do(t, tt.method, e.url+tt.path, tt.ctype, strings.NewReader(tt.body))
			if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.detail) {
				t.Errorf("%s %s = %d %s, want %d containing %q", tt.method, tt.path, resp.StatusCode, b, tt.status, tt.detail)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
	// 409: cancelling a finished job.
	id := e.submit(t, "name: p\nnodes: [{id: data, agent: dataset, params: {source: "+alpaca+"}}]\n")
	e.wait(t, id)
	if resp, b := do(t, "DELETE", e.url+"/jobs/"+id, "", nil); resp.StatusCode != 409 {
		t.Errorf("DELETE finished job = %d %s", resp.StatusCode, b)
	}
	// 422 lists every error with its location.
	_, b := do(t, "POST", e.url+"/jobs", "application/json", strings.NewReader(`{"name": "p", "nodes": [{"id": "a", "agent": "dataset", "params": {"max_rows": -1}}]}`))
	var p struct {
		Errors []struct{ Location, Message string }
	}
	json.Unmarshal(b, &p)
	if len(p.Errors) != 2 || p.Errors[0].Location != "nodes[a].params.source" || p.Errors[1].Location != "nodes[a].params.max_rows" {
		t.Errorf("422 errors = %s", b)
	}
}

func upload(t *testing.T, url, filename, name string, content io.Reader) (*http.Response, []byte) {
	t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		if name != "" {
			mw.WriteField("name", name)
		}
		h := make(map[string][]string)
		h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name="file"; filename="%s"`, filename)}
		w, _ := mw.CreatePart(h)
		io.Copy(w, content)
		mw.Close()
		pw.Close()
	}()
	return do(t, "POST", url+"/datasets/upload", mw.FormDataContentType(), pr)
}

func TestUploads(t *testing.T) {
	t.Parallel()
	e := setup(t)
	csv := "prompt,completion\nhi,there\nyo,\n"
	resp, b := upload(t, e.url, "tiny.csv", "my data", strings.NewReader(csv))
	var d store.Dataset
	json.Unmarshal(b, &d)
	sum := sha256.Sum256([]byte(csv))
	if resp.StatusCode != 201 || d.Size != int64(len(csv)) || d.Format != "csv" || d.Name != "my data" || d.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("upload = %d %s", resp.StatusCode, b)
	}
	if d.Version != "sha256:"+d.SHA256 {
		t.Errorf("version %q, want sha256:%s", d.Version, d.SHA256)
	}
	// The uploaded id works as a dataset source; the job records the
	// version it read and the model downstream its lineage.
	id := e.submit(t, "name: up\nnodes: [{id: data, agent: dataset, params: {source: "+d.ID+"}}, {id: m, agent: fakemodel}]\nedges: [{from: data, to: m}]\n")
	j := e.wait(t, id)
	out := j["nodes"].([]any)[0].(map[string]any)["outputs"].([]any)[0].(map[string]any)
	if j["status"] != "succeeded" || out["meta"].(map[string]any)["rows"] != float64(2) {
		t.Errorf("job on uploaded dataset = %v", j)
	}
	wantDS := []any{map[string]any{"dataset_id": d.ID, "name": "my data", "version": d.Version}}
	if diff := cmp.Diff(wantDS, j["datasets"]); diff != "" {
		t.Errorf("job datasets (-want +got):\n%s", diff)
	}
	_, b = do(t, "GET", e.url+"/models", "", nil)
	var ml struct {
		Models []store.Model `json:"models"`
	}
	json.Unmarshal(b, &ml)
	if len(ml.Models) != 1 || ml.Models[0].Lineage == nil || len(ml.Models[0].Lineage.Datasets) != 1 || ml.Models[0].Lineage.Datasets[0].Version != d.Version {
		t.Errorf("models = %s, want the dataset version in lineage", b)
	}
	// GET /datasets/{id}: version, the profile and sample computed at upload.
	_, b = do(t, "GET", e.url+"/datasets/"+d.ID, "", nil)
	var got struct {
		store.Dataset
		Profile struct {
			Rows    int    `json:"rows"`
			Format  string `json:"source_format"`
			Columns []struct {
				Name string `json:"name"`
			} `json:"columns"`
		} `json:"profile"`
		Sample []map[string]any `json:"sample"`
	}
	if err := json.Unmarshal(b, &got); err != nil || got.SHA256 != d.SHA256 || got.Version != d.Version || got.Profile.Rows != 2 ||
		got.Profile.Format != "completion" || len(got.Profile.Columns) != 2 || got.Profile.Columns[0].Name != "prompt" || len(got.Sample) != 2 ||
		got.Sample[0]["prompt"] != "hi" {
		t.Errorf("GET dataset = %s (%v)", b, err)
	}
	// The same bytes under another name: another dataset, the same version.
	_, b2 := upload(t, e.url, "copy.csv", "", strings.NewReader(csv))
	var d2 store.Dataset
	json.Unmarshal(b2, &d2)
	if d2.ID == d.ID || d2.Version != d.Version {
		t.Errorf("re-upload = %s, want a new id with version %s", b2, d.Version)
	}
	// Lists carry the version, not the profile and sample.
	if _, b := do(t, "GET", e.url+"/datasets", "", nil); !strings.Contains(string(b), `"version":"`+d.Version) || strings.Contains(string(b), `"sample"`) {
		t.Errorf("GET datasets = %s", b)
	}
	// Names that could be paths are rejected, and nothing is stored.
	for _, fn := range []string{"../evil.csv", "a/b.csv", `..\\evil.csv`, "..", ".hidden.csv", "/etc/passwd.csv"} {
		resp, b := upload(t, e.url, fn, "", strings.NewReader(csv))
		if resp.StatusCode != 400 || !strings.Contains(string(b), "plain file name") {
			t.Errorf("upload %q = %d %s", fn, resp.StatusCode, b)
		}
	}
	if resp, b := upload(t, e.url, "ok.csv", "../x", strings.NewReader(csv)); resp.StatusCode != 400 {
		t.Errorf("upload with name ../x = %d %s", resp.StatusCode, b)
	}
	if resp, _ := upload(t, e.url, "model.exe", "", strings.NewReader(csv)); resp.StatusCode != 415 {
		t.Errorf("upload .exe = %d", resp.StatusCode)
	}
	// Over the 1 MiB limit: 413, streamed (no Content-Length), and no blob left.
	resp, b = upload(t, e.url, "big.jsonl", "", io.LimitReader(zeros{}, 3<<20))
	if resp.StatusCode != 413 {
		t.Errorf("oversized upload = %d %s", resp.StatusCode, b)
	}
	_, b = do(t, "GET", e.url+"/datasets", "", nil)
	var l struct{ Total int }
	json.Unmarshal(b, &l)
	if l.Total != 2 {
		t.Errorf("datasets after rejected uploads: %s", b)
	}
	blobs, _ := e.p.Blobs.List(context.Background(), "datasets/")
	if len(blobs) != 2 {
		t.Errorf("blobs after rejected uploads: %v", blobs)
	}
}

// TestUploadSameBytesSameName: uploading the same bytes under the same name
// again answers 200 with the dataset the team has (same id, version, profile)
// and stores nothing more; another name is a new dataset with the same
// version (201).
func TestUploadSameBytesSameName(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	rows := `{"instruction":"say hi","output":"hi"}` + "\n" + `{"instruction":"say bye","output":"bye"}` + "\n"
	decode := func(t *testing.T, b []byte) store.Dataset {
		t.Helper()
		var d store.Dataset
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("upload answer %s: %v", b, err)
		}
		return d
	}
	resp, b := upload(t, e.url, "rows.jsonl", "greetings", strings.NewReader(rows))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("first upload = %d %s, want 201", resp.StatusCode, b)
	}
	first := decode(t, b)
	for i := range 2 {
		resp, b := upload(t, e.url, "rows.jsonl", "greetings", strings.NewReader(rows))
		again := decode(t, b)
		if resp.StatusCode != http.StatusOK || again.ID != first.ID || again.Version != first.Version || again.Name != "greetings" ||
			!bytes.Equal(again.Profile, first.Profile) {
			t.Errorf("upload %d of the same bytes and name = %d %s; want 200 and dataset %s", i+2, resp.StatusCode, b, first.ID)
		}
	}
	// The name decides too: the same bytes named by their file name (no
	// name field) or another name are new datasets with the same version.
	var ids []string
	for _, name := range []string{"", "greetings v2"} {
		resp, b := upload(t, e.url, "rows.jsonl", name, strings.NewReader(rows))
		d := decode(t, b)
		if resp.StatusCode != http.StatusCreated || d.ID == first.ID || d.Version != first.Version {
			t.Errorf("same bytes named %q = %d %s; want 201, a new id and version %s", name, resp.StatusCode, b, first.Version)
		}
		ids = append(ids, d.ID)
	}
	if ids[0] == ids[1] {
		t.Errorf("two names gave one dataset %s", ids[0])
	}
	// Other bytes under the first name: a new dataset with another version.
	resp, b = upload(t, e.url, "rows.jsonl", "greetings", strings.NewReader(rows+`{"instruction":"again","output":"x"}`+"\n"))
	if d := decode(t, b); resp.StatusCode != http.StatusCreated || d.ID == first.ID || d.Version == first.Version {
		t.Errorf("other bytes, same name = %d %s; want 201 with a new id and version", resp.StatusCode, b)
	}
	_, b = do(t, "GET", e.url+"/datasets", "", nil)
	var l struct{ Total int }
	json.Unmarshal(b, &l)
	blobs, _ := e.p.Blobs.List(context.Background(), "datasets/")
	if l.Total != 4 || len(blobs) != 4 {
		t.Errorf("%d datasets and %d blobs after 6 uploads (2 repeated), want 4 and 4: %s %v", l.Total, len(blobs), b, blobs)
	}
}

// TestModelLineageNoServerPath: a model whose lineage was recorded with the
// base model's server path (before lineage used folder names) is served
// with the folder name, in lineage and in meta.lineage, its chain's original
// base too, by both model routes.
func TestModelLineageNoServerPath(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	ctx := context.Background()
	const base = "/srv/whet/models/stories260K"
	chain := []store.Ancestor{{BaseModel: base, Version: "sha256:ab"}}
	m := &store.Model{ID: store.NewID("mdl"), Name: "old/tune/model", JobID: "job_x", NodeID: "tune", Output: "model", URI: "m/", Files: []string{},
		Meta: map[string]any{"lineage": map[string]any{"base_model": base, "datasets": []any{},
			"chain": []any{map[string]any{"base_model": base, "version": "sha256:ab"}}}},
		CreatedAt: time.Now().UTC(), Lineage: &store.Lineage{BaseModel: base, BaseModelVersion: "sha256:ab", Datasets: []store.DatasetVersion{}, Chain: chain}}
	if err := e.p.Store.InTx(ctx, func(tx store.Tx) error { return tx.CreateModel(ctx, m) }); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/models/" + m.ID, "/models"} {
		resp, b := do(t, "GET", e.url+path, "", nil)
		if resp.StatusCode != 200 || strings.Contains(string(b), "/srv/whet") ||
			!strings.Contains(string(b), `"lineage":{"base_model":"stories260K","base_model_version":"sha256:ab","datasets":[],"chain":[{"base_model":"stories260K","version":"sha256:ab"}]}`) ||
			!strings.Contains(string(b), `"lineage":{"base_model":"stories260K","chain":[{"base_model":"stories260K","version":"sha256:ab"}],"datasets":[]}`) {
			t.Errorf("GET %s = %d %s; want lineage base_model stories260K (with its version and chain) and no server path", path, resp.StatusCode, b)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

type sse struct {
	id    int64
	event string
	data  store.Event
}

// readSSE reads events until the stream ends.
func readSSE(t *testing.T, r io.Reader) (evs []sse, heartbeats int) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cur sse
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.event != "" {
				evs = append(evs, cur)
			}
			cur = sse{}
		case strings.HasPrefix(line, ": heartbeat"):
			heartbeats++
		case strings.HasPrefix(line, "id: "):
			fmt.Sscan(line[4:], &cur.id)
		case strings.HasPrefix(line, "event: "):
			cur.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(line[6:]), &cur.data); err != nil {
				t.Errorf("bad data line %q: %v", line, err)
			}
		}
	}
	return evs, heartbeats
}

func TestSSELiveAndReplay(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id := e.submit(t, "name: p\nnodes: [{id: data, agent: dataset, params: {source: "+alpaca+"}}, {id: m, agent: fakemodel, params: {block: true}}]\nedges: [{from: data, to: m}]\n")
	// Live: subscribe while the job runs; cancel it after a while.
	resp, err := http.Get(e.url + "/logs/stream/" + id)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	go func() {
		// Cancel once the second node is blocked, after a few heartbeats (200ms).
		for range 400 {
			var j store.Job
			r, err := http.Get(e.url + "/jobs/" + id)
			if err == nil {
				json.NewDecoder(r.Body).Decode(&j)
				r.Body.Close()
			}
			if len(j.Nodes) == 2 && j.Nodes[1].Status == store.Running {
				break
			}
			time.Sleep(25 * time.Millisecond)
		}
		time.Sleep(700 * time.Millisecond)
		http.DefaultClient.Do(mustReq("DELETE", e.url+"/jobs/"+id))
	}()
	live, hb := readSSE(t, resp.Body)
	resp.Body.Close()
	if hb == 0 {
		t.Error("no heartbeat in 700ms with a 200ms interval")
	}
	if len(live) < 13 {
		t.Fatalf("only %d live events", len(live))
	}
	for i, ev := range live {
		if ev.id != int64(i+1) || ev.data.Seq != ev.id || ev.event != ev.data.Type {
			t.Fatalf("live event %d: id %d seq %d event %s type %s", i, ev.id, ev.data.Seq, ev.event, ev.data.Type)
		}
	}
	last := live[len(live)-1]
	if last.event != "status" || !strings.Contains(string(last.data.Data), `"cancelled"`) {
		t.Errorf("stream ended with %+v", last)
	}
	// The history holds exactly what was streamed.
	_, b := do(t, "GET", e.url+"/logs/history/"+id, "", nil)
	var h struct{ Events []store.Event }
	json.Unmarshal(b, &h)
	if len(h.Events) != len(live) {
		t.Errorf("history has %d events, stream had %d", len(h.Events), len(live))
	}
	// Replay from Last-Event-ID: exactly the events after it.
	req := mustReq("GET", e.url+"/logs/stream/"+id)
	req.Header.Set("Last-Event-ID", "3")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	replay, _ := readSSE(t, resp.Body)
	resp.Body.Close()
	if len(replay) != len(live)-3 || replay[0].id != 4 || replay[len(replay)-1].id != last.id {
		t.Errorf("replay after 3: %d events from %d to %d, want %d..%d", len(replay), replay[0].id, replay[len(replay)-1].id, 4, last.id)
	}
	// Replay past the end returns at once.
	req = mustReq("GET", e.url+"/logs/stream/"+id)
	req.Header.Set("Last-Event-ID", fmt.Sprint(last.id))
	t0 := time.Now()
	resp, _ = http.DefaultClient.Do(req)
	rest, _ := readSSE(t, resp.Body)
	resp.Body.Close()
	if len(rest) != 0 || time.Since(t0) > 2*time.Second {
		t.Errorf("replay past the end: %d events after %s", len(rest), time.Since(t0))
	}
	req.Header.Set("Last-Event-ID", "abc")
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != 400 {
		t.Errorf("bad Last-Event-ID = %d", resp.StatusCode)
	}
}

func mustReq(method, url string) *http.Request {
	r, err := http.NewRequest(method, url, nil)
	if err != nil {
		panic(err)
	}
	return r
}

func TestHealthAgentsDocs(t *testing.T) {
	t.Parallel()
	e := setup(t)
	resp, b := do(t, "GET", e.url+"/health", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"database":"ok"`) {
		t.Errorf("health = %d %s", resp.StatusCode, b)
	}
	_, b = do(t, "GET", e.url+"/agents", "", nil)
	var a struct{ Agents []agent.Spec }
	json.Unmarshal(b, &a)
	if len(a.Agents) != 2 || a.Agents[0].Name != "dataset" || a.Agents[0].Params[0].Name != "source" || !a.Agents[0].Params[0].Required {
		t.Errorf("agents = %s", b)
	}
	root := strings.TrimSuffix(e.url, "/api/v1")
	resp, b = do(t, "GET", root+"/openapi.json", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"openapi":"3.1.0"`) || !strings.Contains(string(b), "/api/v1/logs/stream/{job_id}") {
		t.Errorf("openapi.json = %d", resp.StatusCode)
	}
	if resp, _ := do(t, "GET", root+"/docs", "", nil); resp.StatusCode != 200 {
		t.Errorf("/docs = %d", resp.StatusCode)
	}
	// A vanished blob folder makes health 503.
	os.RemoveAll(e.p.Blobs.(*fsblob.Store).Root())
	resp, b = do(t, "GET", e.url+"/health", "", nil)
	if resp.StatusCode != 503 || !strings.Contains(string(b), `"status":"unavailable"`) || !strings.Contains(string(b), `"database":"ok"`) {
		t.Errorf("health with the blob folder gone = %d %s", resp.StatusCode, b)
	}
}
