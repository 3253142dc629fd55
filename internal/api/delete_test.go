package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/auth"
	"github.com/whetstone/whetstone/internal/store"
)

// redJob submits spec as key and waits for it to end, returning the job.
func (e *authEnv) runJob(t *testing.T, key, spec string, wait bool) store.Job {
	t.Helper()
	st, b, _ := e.call(t, key, "POST", "/api/v1/jobs", "application/yaml", []byte(spec))
	if st != 202 {
		t.Fatalf("submit = %d %s", st, b)
	}
	var job store.Job
	json.Unmarshal(b, &job)
	if !wait {
		return job
	}
	id := job.ID
	for range 400 {
		_, b, _ = e.call(t, key, "GET", "/api/v1/jobs/"+id, "", nil)
		json.Unmarshal(b, &job)
		if job.Status.Terminal() {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if job.Status != store.Succeeded {
		t.Fatalf("job %s = %s: %s", id, job.Status, b)
	}
	return job
}

// TestDeleteModelAndDataset deletes a trained model and its dataset through
// the API: another team gets 404 and a viewer 403 (both keep them), a
// queued or running job using one refuses it (409 naming the job), a LoRA
// adapter trained on the model refuses it unless force=true, and a deletion
// removes the record (GET 404, gone from the list) and the files, and is
// audited.
func TestDeleteModelAndDataset(t *testing.T) {
	e := setupAuth(t, auth.Config{})
	ctx := context.Background()
	red, viewer, blue := e.key(t, "red", store.RoleMember), e.key(t, "red", store.RoleViewer), e.key(t, "blue", store.RoleMember)

	ct, body := multipartFile("rows.jsonl", tinyRows)
	st, b, _ := e.call(t, red, "POST", "/api/v1/datasets/upload", ct, body)
	if st != 201 {
		t.Fatalf("upload = %d %s", st, b)
	}
	var up store.Dataset
	json.Unmarshal(b, &up)
	ds, err := e.st.GetDataset(ctx, up.ID) // with its blob key
	if err != nil {
		t.Fatal(err)
	}
	job := e.runJob(t, red, fmt.Sprintf("name: red\nnodes:\n  - {id: in, agent: dataset, params: {source: %s}}\n  - {id: m, agent: fakemodel}\nedges:\n  - {from: in, to: m}\n", ds.ID), true)
	models, _, err := e.st.ForTeam("red").ListModels(ctx, store.ListParams{})
	if err != nil || len(models) != 1 {
		t.Fatalf("red models = %v, %v", models, err)
	}
	mdl := models[0]
	files := func(t *testing.T, key string) int {
		t.Helper()
		if !strings.HasSuffix(key, "/") {
			if _, err := e.blobs.Stat(ctx, key); err != nil {
				return 0
			}
			return 1
		}
		l, err := e.blobs.List(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	if files(t, mdl.URI) == 0 || files(t, ds.BlobKey) == 0 {
		t.Fatalf("before deleting: model files under %s: %d, dataset file %s: %d", mdl.URI, files(t, mdl.URI), ds.BlobKey, files(t, ds.BlobKey))
	}
	exists := func(t *testing.T, path string, want int) {
		t.Helper()
		if st, b, _ := e.call(t, red, "GET", path, "", nil); st != want {
			t.Errorf("GET %s = %d %.200s, want %d", path, st, b, want)
		}
	}

	for _, kind := range []string{"models/" + mdl.ID, "datasets/" + ds.ID} {
		path := "/api/v1/" + kind
		// Another team's member: 404, as for a read, with nothing of red's.
		st, b, _ := e.call(t, blue, "DELETE", path, "", nil)
		if st != 404 || strings.Contains(string(b), mdl.Name) {
			t.Errorf("DELETE %s as blue = %d %s, want 404", path, st, b)
		}
		// A read-only key.
		if st, b, _ := e.call(t, viewer, "DELETE", path, "", nil); st != 403 {
			t.Errorf("DELETE %s as a viewer = %d %s, want 403", path, st, b)
		}
		exists(t, path, 200)
	}

	// A running job reads the dataset: 409 naming it, until it ends.
	running := e.runJob(t, red, fmt.Sprintf("name: busy\nnodes:\n  - {id: in, agent: dataset, params: {source: %s}}\n  - {id: m, agent: fakemodel, params: {block: true}}\nedges:\n  - {from: in, to: m}\n", ds.ID), false)
	st, b, _ = e.call(t, red, "DELETE", "/api/v1/datasets/"+ds.ID, "", nil)
	if st != 409 || !strings.Contains(string(b), running.ID) || !strings.Contains(string(b), "in use") {
		t.Errorf("DELETE a dataset a running job reads = %d %s, want 409 naming %s", st, b, running.ID)
	}
	// A pending job of red's names the model as its base model (written
	// to the store: no agent here takes one).
	pending := &store.Job{ID: store.NewID("job"), Name: "queued", Team: "red", Status: store.Pending, Spec: json.RawMessage(`{}`), CreatedAt: time.Now().UTC(),
		Nodes: []*store.Node{{ID: "tune", Agent: "fakemodel", Params: map[string]any{"lora": map[string]any{"base_model": mdl.ID}}, MaxAttempts: 1, Queued: true}}}
	// and a job of blue's naming it (blue's cannot read it; it does not count)
	other := &store.Job{ID: store.NewID("job"), Name: "blue", Team: "blue", Status: store.Pending, Spec: json.RawMessage(`{}`), CreatedAt: time.Now().UTC(),
		Nodes: []*store.Node{{ID: "tune", Agent: "fakemodel", Params: map[string]any{"base_model": mdl.ID}, MaxAttempts: 1, Queued: true}}}
	// A LoRA adapter of red's trained on the model, and one of blue's.
	adapter := &store.Model{ID: store.NewID("mdl"), Name: "red2/tune/model", Team: "red", JobID: "job_child", NodeID: "tune", Output: "model", URI: "jobs/job_child/tune/model/",
		Meta: map[string]any{"format": "peft-lora", "base_model": mdl.ID}, CreatedAt: time.Now().UTC()}
	blueAdapter := &store.Model{ID: store.NewID("mdl"), Name: "blue/tune/model", Team: "blue", JobID: "job_blue", NodeID: "tune", Output: "model", URI: "jobs/job_blue/tune/model/",
		Meta: map[string]any{"format": "peft-lora", "base_model": mdl.ID}, CreatedAt: time.Now().UTC()}
	if err := e.st.InTx(ctx, func(tx store.Tx) error {
		for _, j := range []*store.Job{pending, other} {
			if err := tx.CreateJob(ctx, j); err != nil {
				return err
			}
		}
		for _, m := range []*store.Model{adapter, blueAdapter} {
			if err := tx.CreateModel(ctx, m); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"", "?force=true"} { // force does not override a job
		st, b, _ = e.call(t, red, "DELETE", "/api/v1/models/"+mdl.ID+q, "", nil)
		if st != 409 || !strings.Contains(string(b), pending.ID) || strings.Contains(string(b), other.ID) {
			t.Errorf("DELETE%s a model a pending job uses = %d %s, want 409 naming %s (not blue's %s)", q, st, b, pending.ID, other.ID)
		}
	}
	for _, id := range []string{pending.ID, running.ID} {
		if st, b, _ := e.call(t, red, "DELETE", "/api/v1/jobs/"+id, "", nil); st != 200 {
			t.Fatalf("cancel %s = %d %s", id, st, b)
		}
	}
	for range 200 {
		if j, err := e.st.GetJob(ctx, running.ID); err == nil && j.Status.Terminal() {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	// The adapter needs the model: 409 naming it (and not blue's).
	st, b, _ = e.call(t, red, "DELETE", "/api/v1/models/"+mdl.ID, "", nil)
	if st != 409 || !strings.Contains(string(b), adapter.ID) || strings.Contains(string(b), blueAdapter.ID) || !strings.Contains(string(b), "force=true") {
		t.Errorf("DELETE a model an adapter needs = %d %s, want 409 naming %s", st, b, adapter.ID)
	}
	if files(t, mdl.URI) == 0 {
		t.Fatal("a refused deletion deleted the files")
	}
	exists(t, "/api/v1/models/"+mdl.ID, 200)

	// force=true deletes it; the adapter stays.
	st, b, _ = e.call(t, red, "DELETE", "/api/v1/models/"+mdl.ID+"?force=true", "", nil)
	if st != 200 || !strings.Contains(string(b), `"deleted":true`) || !strings.Contains(string(b), mdl.ID) {
		t.Fatalf("DELETE ?force=true = %d %s, want 200 deleted", st, b)
	}
	exists(t, "/api/v1/models/"+mdl.ID, 404)
	exists(t, "/api/v1/models/"+adapter.ID, 200)
	if n := files(t, mdl.URI); n != 0 {
		t.Errorf("after deleting the model, %d files are left under %s", n, mdl.URI)
	}
	// Its job's other outputs stay.
	exists(t, "/api/v1/jobs/"+job.ID, 200)

	// The dataset, now that no job reads it.
	st, b, _ = e.call(t, red, "DELETE", "/api/v1/datasets/"+ds.ID, "", nil)
	if st != 200 || !strings.Contains(string(b), `"dataset_id":"`+ds.ID+`"`) {
		t.Fatalf("DELETE dataset = %d %s", st, b)
	}
	exists(t, "/api/v1/datasets/"+ds.ID, 404)
	if n := files(t, ds.BlobKey) + files(t, "datasets/"+ds.ID+"/"); n != 0 {
		t.Errorf("after deleting the dataset, %d files are left", n)
	}
	_, b, _ = e.call(t, red, "GET", "/api/v1/datasets", "", nil)
	if strings.Contains(string(b), ds.ID) {
		t.Errorf("the list still has the deleted dataset: %s", b)
	}
	// Again: 404.
	for _, p := range []string{"models/" + mdl.ID, "datasets/" + ds.ID} {
		if st, b, _ := e.call(t, red, "DELETE", "/api/v1/"+p, "", nil); st != 404 {
			t.Errorf("DELETE %s again = %d %s, want 404", p, st, b)
		}
	}

	// Audited: each deletion with its id, team and status, refusals too.
	l, _, err := e.st.ListAudit(ctx, "red", store.ListParams{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, en := range l {
		if en.Actor != "" && en.Team == "red" {
			got[fmt.Sprintf("%s %s %d", en.Action, en.Resource, en.Status)] = true
		}
	}
	for _, want := range []string{
		"DELETE /api/v1/models/" + mdl.ID + " " + mdl.ID + " 200",
		"DELETE /api/v1/models/" + mdl.ID + " " + mdl.ID + " 409",
		"DELETE /api/v1/datasets/" + ds.ID + " " + ds.ID + " 200",
		"DELETE /api/v1/datasets/" + ds.ID + " " + ds.ID + " 409",
		// refused before routing: the action names it
		"DELETE /api/v1/models/" + mdl.ID + "  403",
	} {
		if !got[want] {
			t.Errorf("no audit entry %q", want)
		}
	}
}

// TestDeleteHostileIDs: ids that are no model or dataset of the caller's
// are refused without a 5xx and delete nothing.
func TestDeleteHostileIDs(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	ctx := context.Background()
	m := &store.Model{ID: "mdl_keep", Name: "k/t/model", JobID: "job_k", NodeID: "t", Output: "model", URI: "jobs/job_k/t/model/", CreatedAt: time.Now().UTC()}
	d := &store.Dataset{ID: "ds_keep", Name: "k.jsonl", Format: "jsonl", BlobKey: "datasets/ds_keep/k.jsonl", CreatedAt: time.Now().UTC()}
	if err := e.p.Store.InTx(ctx, func(tx store.Tx) error {
		if err := tx.CreateModel(ctx, m); err != nil {
			return err
		}
		return tx.CreateDataset(ctx, d)
	}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{
		"mdl_nosuchmodel", "ds_nosuchdataset", "mdl_keep'--", "mdl_%25", "...%2F..%2Fetc", "..%2Fds_keep", "%00", "mdl_keep%00", "ds_keep%20",
		"mdl_" + strings.Repeat("k", 96), strings.Repeat("a", 101), strings.Repeat("mdl_keep", 10000), "%E2%80%AEpeek_ldm", "MDL_KEEP", "*", "%25",
	} {
		for _, kind := range []string{"models", "datasets"} {
			resp, b := do(t, "DELETE", e.url+"/"+kind+"/"+id, "", nil)
			if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusUnprocessableEntity && resp.StatusCode != http.StatusBadRequest &&
				resp.StatusCode != http.StatusRequestURITooLong {
				u, _ := url.PathUnescape(id)
				t.Errorf("DELETE /%s/%.40q = %d %.200s, want 404 (or 4xx for the malformed)", kind, u, resp.StatusCode, b)
			}
		}
	}
	if _, err := e.p.Store.GetModel(ctx, m.ID); err != nil {
		t.Errorf("model after hostile deletes: %v", err)
	}
	if _, err := e.p.Store.GetDataset(ctx, d.ID); err != nil {
		t.Errorf("dataset after hostile deletes: %v", err)
	}
}
