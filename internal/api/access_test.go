package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/ingest"
	"github.com/whetstone/whetstone/internal/api"
	"github.com/whetstone/whetstone/internal/auth"
	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/config"
	"github.com/whetstone/whetstone/internal/platform"
	"github.com/whetstone/whetstone/internal/store"
)

type authEnv struct {
	base  string // server root
	st    store.Store
	blobs blob.Store
}

// setupAuth serves the API with auth required; mw tunes the middleware.
func setupAuth(t *testing.T, mw auth.Config, orch ...func(*config.Config)) *authEnv {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir, cfg.Database, cfg.BlobDir = dir, filepath.Join(dir, "whet.db"), filepath.Join(dir, "blobs")
	cfg.PollInterval, cfg.LeaseTimeout, cfg.RetryBase = 50*time.Millisecond, 2*time.Second, 100*time.Millisecond
	cfg.WorkDir = repoRoot(t)
	for _, f := range orch {
		f(&cfg)
	}
	var reg agent.Registry
	reg.Register(ingest.New())
	reg.Register(modelAgent{})
	p, err := platform.Open(context.Background(), cfg, &reg, platform.Options{Work: true})
	if err != nil {
		t.Fatal(err)
	}
	p.Start(context.Background())
	mw.Required, mw.Store = true, p.Store
	srv := &api.Server{Store: p.Store, Blobs: p.Blobs, Bus: p.Bus, Orch: p.Orch, Agents: &reg, Health: p.Health,
		MaxUploadBytes: 1 << 20, Heartbeat: 200 * time.Millisecond, Auth: auth.New(mw),
		Web: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "web ui") }),
		Mounts: map[string]http.Handler{"/v1/": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, auth.TeamOf(r.Context()))
		})}}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Stop(ctx)
	})
	return &authEnv{base: ts.URL, st: p.Store, blobs: p.Blobs}
}

func (e *authEnv) key(t *testing.T, team string, role store.Role) string {
	t.Helper()
	c, err := auth.CreateKey(context.Background(), e.st, auth.NewKeyParams{Team: team, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	return c.Key
}

// call sends a request with bearer key ("" for none) and returns the status
// and body.
func (e *authEnv) call(t *testing.T, key, method, path, ctype string, body []byte) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, e.base+path, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func multipartFile(name, content string) (string, []byte) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write([]byte(content))
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

const tinyRows = `{"instruction":"a","output":"b"}
{"instruction":"c","output":"d"}
`

// TestEveryRouteEveryIdentity walks every route of the OpenAPI document
// (plus /v1/ and the web UI) as seven callers and checks each status; no
// answer to another team's member carries a red-team id.
func TestEveryRouteEveryIdentity(t *testing.T) {
	e := setupAuth(t, auth.Config{})
	ctx := context.Background()
	redMember := e.key(t, "red", store.RoleMember)
	idents := map[string]string{
		"none":    "",
		"expired": "",
		"revoked": "",
		"other":   e.key(t, "blue", store.RoleMember),
		"viewer":  e.key(t, "red", store.RoleViewer),
		"member":  redMember,
		"admin":   e.key(t, "ops", store.RoleAdmin),
	}
	// An expired and a revoked key of red's.
	past := time.Now().Add(-time.Hour)
	exp := &store.Key{ID: store.NewID("key"), Team: "red", Role: store.RoleMember, Hash: auth.HashKey("whet_expired_key_for_test"), CreatedAt: past.Add(-time.Hour), ExpiresAt: &past}
	if err := e.st.CreateKey(ctx, exp); err != nil {
		t.Fatal(err)
	}
	idents["expired"] = "whet_expired_key_for_test"
	rev, _ := auth.CreateKey(ctx, e.st, auth.NewKeyParams{Team: "red", Role: store.RoleMember})
	e.st.RevokeKey(ctx, "", rev.ID, time.Now())
	idents["revoked"] = rev.Key

	// Red's resources: a dataset and a finished job with a model.
	ct, body := multipartFile("rows.jsonl", tinyRows)
	st, b, _ := e.call(t, redMember, "POST", "/api/v1/datasets/upload", ct, body)
	if st != 201 {
		t.Fatalf("upload = %d %s", st, b)
	}
	var ds store.Dataset
	json.Unmarshal(b, &ds)
	spec := fmt.Sprintf("name: red\nnodes:\n  - {id: in, agent: dataset, params: {source: %s}}\n  - {id: m, agent: fakemodel}\nedges:\n  - {from: in, to: m}\n", ds.ID)
	st, b, _ = e.call(t, redMember, "POST", "/api/v1/jobs", "application/yaml", []byte(spec))
	if st != 202 {
		t.Fatalf("submit = %d %s", st, b)
	}
	var sub struct {
		JobID string `json:"job_id"`
	}
	json.Unmarshal(b, &sub)
	var job store.Job
	for range 400 {
		_, b, _ = e.call(t, redMember, "GET", "/api/v1/jobs/"+sub.JobID, "", nil)
		json.Unmarshal(b, &job)
		if job.Status.Terminal() {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if job.Status != store.Succeeded || job.Team != "red" {
		t.Fatalf("red job = %s (team %q): %s", job.Status, job.Team, b)
	}
	models, _, _ := e.st.ForTeam("red").ListModels(ctx, store.ListParams{})
	if len(models) != 1 {
		t.Fatalf("red models = %v", models)
	}
	mdl := models[0]
	outNode, outName := job.Nodes[1].ID, job.Nodes[1].Outputs[0].Name
	redIDs := []string{ds.ID, sub.JobID, mdl.ID}

	// Another team's job may name none of red's datasets, models or
	// artifacts: each is refused on its node and field as an unknown id is.
	blue := e.key(t, "blue", store.RoleMember)
	for _, tt := range []struct{ agent, param, ref, unknown string }{
		{"dataset", "source", ds.ID, "ds_nosuchdataset"},
		{"dataset", "source", "blob:" + mdl.URI, "blob:jobs/job_nosuchjob/m/model/"},
		{"dataset", "source", mdl.ID, "mdl_nosuchmodel"},
	} {
		var bodies []string
		for _, ref := range []string{tt.ref, tt.unknown} {
			spec := fmt.Sprintf("name: blue\nnodes: [{id: n, agent: %s, params: {%s: %q}}]\n", tt.agent, tt.param, ref)
			st, b, _ := e.call(t, blue, "POST", "/api/v1/jobs", "application/yaml", []byte(spec))
			if st != 422 || !strings.Contains(string(b), "nodes[n].params."+tt.param) {
				t.Errorf("blue naming %s = %d %.300s, want 422 on nodes[n].params.%s", ref, st, b, tt.param)
			}
			bodies = append(bodies, strings.ReplaceAll(string(b), ref, "ID"))
		}
		if bodies[0] != bodies[1] {
			t.Errorf("red's %s: %s\nan unknown id: %s\nwant the same", tt.ref, bodies[0], bodies[1])
		}
	}

	// The routes.
	_, b, _ = e.call(t, "", "GET", "/openapi.json", "", nil)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	type route struct{ method, path string }
	var routes []route
	for p, ops := range doc.Paths {
		for m := range ops {
			routes = append(routes, route{strings.ToUpper(m), p})
		}
	}
	routes = append(routes, route{"GET", "/v1/models"}, route{"POST", "/v1/chat/completions"}, route{"GET", "/"}, route{"GET", "/docs"})
	slices.SortFunc(routes, func(a, b route) int { return strings.Compare(a.path+a.method, b.path+b.method) })

	open := map[string]bool{"/health": true, "/livez": true, "/readyz": true, "/api/v1/health": true, "/": true, "/docs": true}
	// ok is a member's (or admin's) status on red's resources.
	ok := map[string]int{
		"POST /api/v1/jobs": 202, "DELETE /api/v1/jobs/{id}": 409, "POST /api/v1/datasets/upload": 201,
		"POST /api/v1/keys": 201, "DELETE /api/v1/keys/{id}": 200,
	}
	adminOnly := map[string]bool{"POST /api/v1/keys": true, "GET /api/v1/keys": true, "DELETE /api/v1/keys/{id}": true}
	redResource := func(p string) bool {
		return strings.Contains(p, "{id}") && !strings.Contains(p, "/keys/") || strings.Contains(p, "{job_id}")
	}

	leaks := 0
	for _, who := range []string{"none", "expired", "revoked", "other", "viewer", "member", "admin"} {
		for _, r := range routes {
			name := r.method + " " + r.path
			want := 200
			switch {
			case open[r.path]:
			case who == "none" || who == "expired" || who == "revoked":
				want = 401
			case r.method != "GET" && who == "viewer":
				want = 403
			case adminOnly[name] && who != "admin":
				want = 403
			case r.path == "/api/v1/audit" && who == "viewer":
				want = 403
			case who == "other" && redResource(r.path):
				want = 404
			default:
				if s, found := ok[name]; found {
					want = s
				}
			}
			// Fill the path and a body.
			path := r.path
			switch {
			case strings.HasPrefix(path, "/api/v1/jobs/{id}"), strings.Contains(path, "{job_id}"):
				path = strings.NewReplacer("{id}", sub.JobID, "{job_id}", sub.JobID, "{node}", outNode, "{output}", outName).Replace(path)
			case name == "DELETE /api/v1/datasets/{id}":
				// a dataset of red's to delete, not the one the other routes read
				victim := &store.Dataset{ID: store.NewID("ds"), Name: "victim.jsonl", Team: "red", Format: "jsonl", CreatedAt: time.Now().UTC()}
				victim.BlobKey = "datasets/" + victim.ID + "/victim.jsonl"
				if err := e.st.InTx(ctx, func(tx store.Tx) error { return tx.CreateDataset(ctx, victim) }); err != nil {
					t.Fatal(err)
				}
				path = strings.Replace(path, "{id}", victim.ID, 1)
			case name == "DELETE /api/v1/models/{id}":
				victim := &store.Model{ID: store.NewID("mdl"), Name: "red/victim/model", Team: "red", JobID: sub.JobID, NodeID: "victim", Output: "model",
					URI: "jobs/" + sub.JobID + "/victim/" + who + "/", CreatedAt: time.Now().UTC()}
				if err := e.st.InTx(ctx, func(tx store.Tx) error { return tx.CreateModel(ctx, victim) }); err != nil {
					t.Fatal(err)
				}
				path = strings.Replace(path, "{id}", victim.ID, 1)
			case strings.HasPrefix(path, "/api/v1/datasets/{id}"):
				path = strings.Replace(path, "{id}", ds.ID, 1)
			case strings.HasPrefix(path, "/api/v1/models/{id}"):
				path = strings.Replace(path, "{id}", mdl.ID, 1)
			case strings.HasPrefix(path, "/api/v1/keys/{id}"):
				victim, _ := auth.CreateKey(ctx, e.st, auth.NewKeyParams{Team: "red", Role: store.RoleViewer})
				path = strings.Replace(path, "{id}", victim.ID, 1)
			}
			if strings.Contains(path, "{") {
				t.Errorf("%s: no value for a path parameter; add it to this test", name)
				continue
			}
			var ctype string
			var reqBody []byte
			switch name {
			case "POST /api/v1/jobs", "POST /api/v1/pipelines/validate":
				ctype, reqBody = "application/yaml", []byte(spec)
				if name == "POST /api/v1/jobs" && (who == "other" || who == "admin") {
					// red's dataset is not theirs (refused below): a job of
					// their own team's
					reqBody = []byte("name: p\nnodes: [{id: data, agent: dataset, params: {source: " + alpaca + "}}]\n")
				}
			case "POST /api/v1/datasets/upload":
				// a name of its own: red's rows.jsonl again would be a 200 (the dataset red has)
				ctype, reqBody = multipartFile(who+".jsonl", tinyRows)
			case "POST /api/v1/keys":
				ctype, reqBody = "application/json", []byte(`{"team":"red","role":"viewer"}`)
			case "POST /v1/chat/completions":
				ctype, reqBody = "application/json", []byte(`{}`)
			}
			got, b, _ := e.call(t, idents[who], r.method, path, ctype, reqBody)
			if got != want {
				t.Errorf("%s %s as %s = %d, want %d: %.200s", r.method, path, who, got, want, b)
			}
			// A 404 echoes the id the caller sent; any 2xx must not name red's
			// (but for an id the caller sent in the body: validation's echo).
			if who == "other" && r.path != "/api/v1/audit" && got < 300 {
				for _, id := range redIDs {
					if bytes.Contains(b, []byte(id)) && !bytes.Contains(reqBody, []byte(id)) {
						leaks++
						t.Errorf("LEAK: %s as another team's member shows red's %s: %.300s", name, id, b)
					}
				}
			}
			if who == "other" && r.path == "/api/v1/audit" {
				var a struct{ Entries []store.AuditEntry }
				json.Unmarshal(b, &a)
				for _, en := range a.Entries {
					if en.Team != "blue" {
						leaks++
						t.Errorf("LEAK: audit entry of team %q shown to blue: %+v", en.Team, en)
					}
				}
			}
		}
	}
	t.Logf("%d routes × 7 identities, %d cross-team leaks", len(routes), leaks)

	// /v1 acts for the caller's team.
	if _, b, _ := e.call(t, idents["other"], "GET", "/v1/models", "", nil); string(b) != "blue" {
		t.Errorf("/v1 as blue acts for %q", b)
	}
	// Writes and auth failures are in the audit log.
	l, _, _ := e.st.ListAudit(ctx, "", store.ListParams{Limit: 1000})
	var failed, submits int
	for _, en := range l {
		if en.Action == "auth.failed" && en.Status == 401 {
			failed++
		}
		if en.Action == "POST /api/v1/jobs" && en.Status == 202 && en.Team != "" && en.Actor != "" && en.RequestID != "" && en.Client != "" {
			submits++
		}
	}
	if failed == 0 || submits < 3 {
		t.Errorf("audit: %d auth failures, %d complete job submissions; want both", failed, submits)
	}
}

func TestRateLimitAnd429Recovery(t *testing.T) {
	e := setupAuth(t, auth.Config{RateLimit: 10, RateBurst: 5})
	k := e.key(t, "red", store.RoleViewer)
	other := e.key(t, "blue", store.RoleViewer)
	var codes []int
	var retry string
	for range 8 {
		st, _, h := e.call(t, k, "GET", "/api/v1/jobs", "", nil)
		codes = append(codes, st)
		if st == 429 {
			retry = h.Get("Retry-After")
			if h.Get("RateLimit-Limit") != "5" || h.Get("RateLimit-Remaining") != "0" || h.Get("RateLimit-Reset") == "" {
				t.Errorf("429 headers = %v", h)
			}
		} else if h.Get("RateLimit-Remaining") == "" {
			t.Errorf("%d without RateLimit-Remaining", st)
		}
	}
	if codes[0] != 200 || codes[4] != 200 || codes[7] != 429 || retry != "1" {
		t.Fatalf("burst of 8 at 10/s burst 5 = %v (Retry-After %q); want 5×200 then 429 with Retry-After 1", codes, retry)
	}
	// Another key has its own bucket.
	if st, _, _ := e.call(t, other, "GET", "/api/v1/jobs", "", nil); st != 200 {
		t.Errorf("another key = %d", st)
	}
	time.Sleep(300 * time.Millisecond) // 3 tokens back at 10/s
	if st, _, _ := e.call(t, k, "GET", "/api/v1/jobs", "", nil); st != 200 {
		t.Errorf("after waiting = %d, want 200", st)
	}
}

func TestAccessTokenQueryForStreams(t *testing.T) {
	e := setupAuth(t, auth.Config{})
	k := e.key(t, "red", store.RoleMember)
	st, b, _ := e.call(t, k, "POST", "/api/v1/jobs", "application/yaml", []byte("name: p\nnodes: [{id: data, agent: dataset, params: {source: "+alpaca+"}}]\n"))
	if st != 202 {
		t.Fatalf("submit = %d %s", st, b)
	}
	var sub struct {
		JobID string `json:"job_id"`
	}
	json.Unmarshal(b, &sub)
	for _, tc := range []struct {
		q    string
		want int
	}{{"?access_token=" + k, 200}, {"?access_token=whet_nope", 401}, {"", 401}} {
		req, _ := http.NewRequest("GET", e.base+"/api/v1/logs/history/"+sub.JobID+tc.q, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("history%s = %d, want %d", strings.Replace(tc.q, k, "KEY", 1), resp.StatusCode, tc.want)
		}
	}
	// Not for writes: a token in the URL of a POST is refused.
	st, _, _ = e.call(t, "", "POST", "/api/v1/jobs?access_token="+k, "application/yaml", []byte("name: p\nnodes: []\n"))
	if st != 401 {
		t.Errorf("POST with access_token = %d, want 401", st)
	}
}

func TestRunningJobLimitQueues(t *testing.T) {
	e := setupAuth(t, auth.Config{}, func(c *config.Config) { c.MaxRunningJobs = 1; c.Concurrency = 4 })
	k := e.key(t, "red", store.RoleMember)
	blue := e.key(t, "blue", store.RoleMember)
	block := "name: b\nnodes: [{id: data, agent: dataset, params: {source: " + alpaca + "}}, {id: m, agent: fakemodel, params: {block: true}}]\nedges: [{from: data, to: m}]\n"
	submit := func(key string) string {
		st, b, _ := e.call(t, key, "POST", "/api/v1/jobs", "application/yaml", []byte(block))
		if st != 202 {
			t.Fatalf("submit = %d %s", st, b)
		}
		var sub struct {
			JobID string `json:"job_id"`
		}
		json.Unmarshal(b, &sub)
		return sub.JobID
	}
	status := func(key, id string) store.Status {
		_, b, _ := e.call(t, key, "GET", "/api/v1/jobs/"+id, "", nil)
		var j store.Job
		json.Unmarshal(b, &j)
		return j.Status
	}
	first := submit(k)
	waitFor := func(key, id string, want store.Status) {
		t.Helper()
		for range 200 {
			if status(key, id) == want {
				return
			}
			time.Sleep(25 * time.Millisecond)
		}
		t.Fatalf("job %s never %s (is %s)", id, want, status(key, id))
	}
	waitFor(k, first, store.Running)
	second := submit(k)
	blues := submit(blue) // another team is not held back
	waitFor(blue, blues, store.Running)
	time.Sleep(500 * time.Millisecond)
	if s := status(k, second); s != store.Pending {
		t.Fatalf("second job of a team at its limit = %s, want pending", s)
	}
	if st, b, _ := e.call(t, k, "DELETE", "/api/v1/jobs/"+first, "", nil); st != 200 {
		t.Fatalf("cancel = %d %s", st, b)
	}
	waitFor(k, second, store.Running) // it waited, it did not fail
	e.call(t, k, "DELETE", "/api/v1/jobs/"+second, "", nil)
	e.call(t, blue, "DELETE", "/api/v1/jobs/"+blues, "", nil)
}
