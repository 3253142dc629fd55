package remove_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/blob/fsblob"
	"github.com/whetstone/whetstone/internal/blob/s3blob"
	"github.com/whetstone/whetstone/internal/remove"
	"github.com/whetstone/whetstone/internal/store"
	"github.com/whetstone/whetstone/internal/store/pgstore"
	"github.com/whetstone/whetstone/internal/store/pgstore/pgtest"
	"github.com/whetstone/whetstone/internal/store/sqlitestore"
	"github.com/whetstone/whetstone/internal/testsvc"
)

type bundle struct {
	st    store.Store
	blobs blob.Store
	d     *remove.Deleter
	log   *bytes.Buffer
}

// stores opens a fresh store of each backend: SQLite, and PostgreSQL
// (pgtest: a schema of its own on the test server).
var stores = map[string]func(t *testing.T) store.Store{
	"sqlite": func(t *testing.T) store.Store {
		st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "whet.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	},
	"postgres": func(t *testing.T) store.Store {
		st, err := pgstore.Open(context.Background(), pgtest.NewSchema(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	},
}

// each runs fn on a fresh bundle of each backend.
func each(t *testing.T, fn func(t *testing.T, b *bundle)) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, setup(t, open(t)))
		})
	}
}

func setup(t *testing.T, st store.Store) *bundle {
	t.Helper()
	dir := t.TempDir()
	bl, err := fsblob.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	return &bundle{st: st, blobs: bl, log: &log, d: &remove.Deleter{Store: st, Blobs: bl, Logger: slog.New(slog.NewTextHandler(&log, nil))}}
}

func (b *bundle) put(t *testing.T, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, err := b.blobs.Put(context.Background(), k, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
}

func (b *bundle) has(t *testing.T, key string) bool {
	t.Helper()
	_, err := b.blobs.Stat(context.Background(), key)
	return err == nil
}

func (b *bundle) create(t *testing.T, ms []*store.Model, ds []*store.Dataset) {
	t.Helper()
	ctx := context.Background()
	if err := b.st.InTx(ctx, func(tx store.Tx) error {
		for _, m := range ms {
			if err := tx.CreateModel(ctx, m); err != nil {
				return err
			}
		}
		for _, d := range ds {
			if err := tx.CreateDataset(ctx, d); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestDatasetOutsideItsFolder: a dataset the OpenAI API stored
// (datasets/<ftjob>/<file>.jsonl, not under datasets/<id>/) loses its file,
// and the file next to it, another dataset's, stays.
func TestDatasetOutsideItsFolder(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		now := time.Now().UTC()
		b.put(t, "datasets/ftjob-1/file-a.jsonl", "datasets/ftjob-1/file-b.jsonl")
		b.create(t, nil, []*store.Dataset{
			{ID: "ds_a", Name: "a.jsonl", BlobKey: "datasets/ftjob-1/file-a.jsonl", CreatedAt: now},
			{ID: "ds_b", Name: "b.jsonl", BlobKey: "datasets/ftjob-1/file-b.jsonl", CreatedAt: now},
		})
		if _, err := b.d.Dataset(ctx, b.st, "ds_a"); err != nil {
			t.Fatal(err)
		}
		if b.has(t, "datasets/ftjob-1/file-a.jsonl") || !b.has(t, "datasets/ftjob-1/file-b.jsonl") {
			t.Errorf("after deleting ds_a: its file there %v, ds_b's there %v; want false, true",
				b.has(t, "datasets/ftjob-1/file-a.jsonl"), b.has(t, "datasets/ftjob-1/file-b.jsonl"))
		}
	})
}

// TestSharedFolderKept: a model whose folder holds another model's files
// loses its record but not the files.
func TestSharedFolderKept(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		now := time.Now().UTC()
		b.put(t, "jobs/j/n/out/a.bin", "jobs/j/n/out/inner/b.bin")
		b.create(t, []*store.Model{
			{ID: "mdl_outer", Name: "o", JobID: "j", NodeID: "n", Output: "out", URI: "jobs/j/n/out/", CreatedAt: now},
			{ID: "mdl_inner", Name: "i", JobID: "j", NodeID: "n", Output: "inner", URI: "jobs/j/n/out/inner/", CreatedAt: now},
		}, nil)
		if _, err := b.d.Model(ctx, b.st, "mdl_outer", false); err != nil {
			t.Fatal(err)
		}
		if _, err := b.st.GetModel(ctx, "mdl_outer"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("record: %v, want ErrNotFound", err)
		}
		if !b.has(t, "jobs/j/n/out/inner/b.bin") || !b.has(t, "jobs/j/n/out/a.bin") {
			t.Error("the shared folder's files were deleted")
		}
		// The inner one shares nothing now: its files go.
		if _, err := b.d.Model(ctx, b.st, "mdl_inner", false); err != nil {
			t.Fatal(err)
		}
		if b.has(t, "jobs/j/n/out/inner/b.bin") || !b.has(t, "jobs/j/n/out/a.bin") {
			t.Error("deleting mdl_inner: want its file gone and the other kept")
		}
	})
}

// failing is a blob store whose deletes fail.
type failing struct{ blob.Store }

func (failing) Delete(context.Context, string) error { return errors.New("bucket unreachable") }

// TestBlobFailureLogged: the record is deleted and the failure logged with
// the key, when the files cannot be deleted.
func TestBlobFailureLogged(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		b.put(t, "jobs/j/n/m/w.bin")
		b.create(t, []*store.Model{{ID: "mdl_m", Name: "m", JobID: "j", NodeID: "n", Output: "m", URI: "jobs/j/n/m/", CreatedAt: time.Now().UTC()}}, nil)
		b.d.Blobs = failing{b.blobs}
		if _, err := b.d.Model(ctx, b.st, "mdl_m", false); err != nil {
			t.Fatalf("Model: %v, want the record deleted", err)
		}
		if _, err := b.st.GetModel(ctx, "mdl_m"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("record: %v, want ErrNotFound", err)
		}
		if !strings.Contains(b.log.String(), "jobs/j/n/m/w.bin") || !strings.Contains(b.log.String(), "bucket unreachable") {
			t.Errorf("log = %q, want the key and the error", b.log.String())
		}
	})
}

// TestInUseMessage: the 409's text names the jobs or adapters and what to do.
func TestInUseMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		e    *remove.InUseError
		want string
	}{
		{&remove.InUseError{Kind: "dataset", ID: "ds_1", Jobs: []string{"job_1"}},
			"dataset ds_1 is in use by queued or running job job_1: cancel it or wait for it to end, then delete it"},
		{&remove.InUseError{Kind: "model", ID: "mdl_1", Jobs: []string{"job_1", "job_2"}},
			"model mdl_1 is in use by queued or running job job_1, job_2: cancel them or wait for them to end, then delete it"},
		{&remove.InUseError{Kind: "dataset", ID: "ds_1", Paused: []string{"ftjob-1", "ftjob-2"}},
			"dataset ds_1 is in use by paused fine-tuning job ftjob-1, ftjob-2, which resume with it: cancel them, then delete it"},
		{&remove.InUseError{Kind: "dataset", ID: "ds_1", Jobs: []string{"job_1"}, Paused: []string{"ftjob-1"}},
			"dataset ds_1 is in use by queued or running job job_1 and paused fine-tuning job ftjob-1: cancel them or wait for the running ones to end, then delete it"},
		{&remove.InUseError{Kind: "model", ID: "mdl_1", Adapters: []string{"mdl_2 (a/t/model)"}},
			"model mdl_1 is the base model of LoRA adapter mdl_2 (a/t/model), which cannot be used without it: delete it first, or delete with force=true to keep it without a base"},
		{&remove.InUseError{Kind: "model", ID: "mdl_1", Adapters: []string{"a", "b", "c", "d", "e", "f", "g"}},
			"model mdl_1 is the base model of LoRA adapter a, b, c, d, e and 2 more, which cannot be used without it: delete them first, or delete with force=true to keep them without a base"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q\nwant %q", got, tc.want)
		}
		if !errors.Is(tc.e, store.ErrConflict) {
			t.Errorf("%v is not ErrConflict", tc.e)
		}
	}
}

// TestBlobRefInUse: a job naming the model's files by a blob: reference
// (as a node after it in its job does) holds it too, and an adapter whose
// base is such a reference.
func TestBlobRefInUse(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		now := time.Now().UTC()
		b.create(t, []*store.Model{
			{ID: "mdl_base", Name: "b", JobID: "j", NodeID: "n", Output: "model", URI: "jobs/j/n/model/", CreatedAt: now},
			{ID: "mdl_ad", Name: "a", JobID: "j", NodeID: "n2", Output: "model", URI: "jobs/j/n2/model/", CreatedAt: now,
				Meta: map[string]any{"format": "peft-lora", "base_model": "blob:jobs/j/n/model/"}},
			{ID: "mdl_full", Name: "f", JobID: "j", NodeID: "n3", Output: "model", URI: "jobs/j/n3/model/", CreatedAt: now,
				Meta: map[string]any{"format": "hf", "base_model": "mdl_ad"}},
		}, nil)
		var ie *remove.InUseError
		if _, err := b.d.Model(ctx, b.st, "mdl_base", false); !errors.As(err, &ie) || len(ie.Adapters) != 1 || !strings.HasPrefix(ie.Adapters[0], "mdl_ad ") {
			t.Errorf("delete a base of an adapter named by blob: = %v, want InUseError naming mdl_ad", err)
		}
		// A full model trained on mdl_ad does not need it.
		j := &store.Job{ID: "job_use", Status: store.Running, Spec: []byte(`{}`), CreatedAt: now,
			Nodes: []*store.Node{{ID: "x", Agent: "a", Params: map[string]any{"sources": []any{"blob:jobs/j/n2/model/adapter.safetensors"}}}}}
		if err := b.st.InTx(ctx, func(tx store.Tx) error { return tx.CreateJob(ctx, j) }); err != nil {
			t.Fatal(err)
		}
		if _, err := b.d.Model(ctx, b.st, "mdl_ad", false); !errors.As(err, &ie) || len(ie.Jobs) != 1 || ie.Jobs[0] != "job_use" {
			t.Errorf("delete a model a job reads by a blob: key under it = %v, want InUseError naming job_use", err)
		}
		// Once the job ended, mdl_ad goes: mdl_full, a full model, does not need it.
		if err := b.st.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.SetJobStatus(ctx, j.ID, store.Succeeded, "", now)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.d.Model(ctx, b.st, "mdl_ad", false); err != nil {
			t.Errorf("delete the base of a full model, no job running: %v", err)
		}
	})
}

// TestOnS3: a model's folder and a dataset's file are deleted from S3 (a
// real server: testsvc), and a neighbouring folder stays.
func TestOnS3(t *testing.T) {
	t.Parallel()
	s3 := testsvc.NeedS3(t)
	cfg, err := s3blob.ParseURL(s3.URL(testsvc.Name("remove")), s3.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bl, err := s3blob.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, stores["sqlite"](t))
	b.blobs, b.d.Blobs = bl, bl
	now := time.Now().UTC()
	b.put(t, "jobs/j/tune/model/adapter_model.safetensors", "jobs/j/tune/model/adapter_config.json", "jobs/j/tune/model2/keep.bin", "datasets/ds_s3/d.jsonl")
	b.create(t, []*store.Model{{ID: "mdl_s3", Name: "m", JobID: "j", NodeID: "tune", Output: "model", URI: "jobs/j/tune/model/", CreatedAt: now}},
		[]*store.Dataset{{ID: "ds_s3", Name: "d.jsonl", BlobKey: "datasets/ds_s3/d.jsonl", CreatedAt: now}})
	if _, err := b.d.Model(ctx, b.st, "mdl_s3", false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.d.Dataset(ctx, b.st, "ds_s3"); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{
		"jobs/j/tune/model/adapter_model.safetensors": false, "jobs/j/tune/model/adapter_config.json": false,
		"datasets/ds_s3/d.jsonl": false, "jobs/j/tune/model2/keep.bin": true,
	} {
		if got := b.has(t, key); got != want {
			t.Errorf("%s on S3 after deleting: there %v, want %v", key, got, want)
		}
	}
	if strings.Contains(b.log.String(), "level=ERROR") {
		t.Errorf("log: %s", b.log.String())
	}
}

// TestOwnJobRunning: a model its job registered while the job still runs
// (the train node's adapter, which the job's evaluate and export nodes
// are yet to read, passed as an artifact and named in no params) is in use
// by that job until the job ends.
func TestOwnJobRunning(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		now := time.Now().UTC()
		b.put(t, "jobs/job_own/train/adapter/adapter.safetensors")
		j := &store.Job{ID: "job_own", Status: store.Running, Spec: []byte(`{}`), CreatedAt: now,
			Nodes: []*store.Node{{ID: "train", Agent: "a"}, {ID: "export", Agent: "b", Preds: []string{"train"}}}}
		if err := b.st.InTx(ctx, func(tx store.Tx) error { return tx.CreateJob(ctx, j) }); err != nil {
			t.Fatal(err)
		}
		b.create(t, []*store.Model{{ID: "mdl_own", Name: "own/train/adapter", JobID: "job_own", NodeID: "train", Output: "adapter",
			URI: "jobs/job_own/train/adapter/", CreatedAt: now}}, nil)
		var ie *remove.InUseError
		if _, err := b.d.Model(ctx, b.st, "mdl_own", false); !errors.As(err, &ie) || len(ie.Jobs) != 1 || ie.Jobs[0] != "job_own" {
			t.Fatalf("delete a model its running job has still to read = %v, want InUseError naming job_own", err)
		}
		if !b.has(t, "jobs/job_own/train/adapter/adapter.safetensors") {
			t.Fatal("a refused deletion deleted the files")
		}
		if err := b.st.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.SetJobStatus(ctx, j.ID, store.Succeeded, "", now)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.d.Model(ctx, b.st, "mdl_own", false); err != nil {
			t.Errorf("delete once its job ended: %v", err)
		}
	})
}

// TestInUseMessageLongList: a refusal naming many adapters with long names
// (job names run to 200 characters) stays within the API's 2,000
// characters of a message, force=true hint included.
func TestInUseMessageLongList(t *testing.T) {
	t.Parallel()
	var adapters, jobs []string
	for i := range 100 {
		adapters = append(adapters, fmt.Sprintf("mdl_%026d (%s/tune/model)", i, strings.Repeat("n", 200)))
		jobs = append(jobs, fmt.Sprintf("job_%026d", i))
	}
	for _, e := range []*remove.InUseError{{Kind: "model", ID: "mdl_base", Adapters: adapters}, {Kind: "dataset", ID: "ds_1", Jobs: jobs}} {
		msg := e.Error()
		if len(msg) > 2000 || !strings.Contains(msg, "and 95 more") {
			t.Errorf("Error() has %d characters, want at most 2000 naming 5 and 95 more: %.300s", len(msg), msg)
		}
		if len(e.Adapters) > 0 && !strings.Contains(msg, "force=true") {
			t.Errorf("Error() lost the force=true hint: %.300s", msg)
		}
	}
}

// TestFolderRefInUse: a job reading a folder that holds the model (a
// folder source, blob:jobs/J/) or the dataset's file (blob:datasets/ID/)
// uses it; a folder beside it does not.
func TestFolderRefInUse(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		now := time.Now().UTC()
		b.create(t, []*store.Model{{ID: "mdl_in", Name: "m", JobID: "job_done", NodeID: "n", Output: "model", URI: "jobs/job_done/n/model/", CreatedAt: now}},
			[]*store.Dataset{{ID: "ds_in", Name: "d.jsonl", BlobKey: "datasets/ds_in/d.jsonl", CreatedAt: now}})
		for i, src := range []string{"blob:jobs/job_done", "blob:jobs/job_done/n/", "blob:datasets/ds_in/", "blob:jobs/job_done/m/"} {
			j := &store.Job{ID: fmt.Sprintf("job_read%d", i), Status: store.Running, Spec: []byte(`{}`), CreatedAt: now,
				Nodes: []*store.Node{{ID: "x", Agent: "a", Params: map[string]any{"source": src}}}}
			if err := b.st.InTx(ctx, func(tx store.Tx) error { return tx.CreateJob(ctx, j) }); err != nil {
				t.Fatal(err)
			}
		}
		var ie *remove.InUseError
		if _, err := b.d.Model(ctx, b.st, "mdl_in", false); !errors.As(err, &ie) || strings.Join(ie.Jobs, ",") != "job_read0,job_read1" {
			t.Errorf("delete a model in a folder running jobs read = %v, want InUseError naming job_read0, job_read1", err)
		}
		if _, err := b.d.Dataset(ctx, b.st, "ds_in"); !errors.As(err, &ie) || strings.Join(ie.Jobs, ",") != "job_read2" {
			t.Errorf("delete a dataset whose folder a running job reads = %v, want InUseError naming job_read2", err)
		}
	})
}

// TestPausedFineTuningJob: a paused OpenAI fine-tuning job (its record
// openai/jobs/ID.json says paused; its pipeline is cancelled) holds the
// datasets and base model its pipeline names, as resume submits that
// pipeline again: 409 naming the ftjob. Another team's paused job, and the
// job once cancelled, hold nothing.
func TestPausedFineTuningJob(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		now := time.Now().UTC()
		b.put(t, "datasets/ftjob-p/file-t.jsonl", "datasets/ftjob-p/file-v.jsonl", "jobs/j0/tune/model/a.bin")
		b.create(t, []*store.Model{{ID: "mdl_base", Name: "b", JobID: "j0", NodeID: "tune", Output: "model", URI: "jobs/j0/tune/model/", CreatedAt: now}},
			[]*store.Dataset{
				{ID: "ds_t", Name: "t.jsonl", BlobKey: "datasets/ftjob-p/file-t.jsonl", CreatedAt: now},
				{ID: "ds_v", Name: "v.jsonl", BlobKey: "datasets/ftjob-p/file-v.jsonl", CreatedAt: now},
			})
		j := &store.Job{ID: "job_p", Status: store.Running, Spec: []byte(`{}`), CreatedAt: now, Nodes: []*store.Node{
			{ID: "data", Agent: "dataset", Params: map[string]any{"source": "ds_t"}},
			{ID: "vdata", Agent: "dataset", Params: map[string]any{"source": "ds_v"}},
			{ID: "tune", Agent: "train", Params: map[string]any{"base_model": "mdl_base"}},
		}}
		if err := b.st.InTx(ctx, func(tx store.Tx) error {
			if err := tx.CreateJob(ctx, j); err != nil {
				return err
			}
			_, err := tx.SetJobStatus(ctx, j.ID, store.Cancelled, "", now)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		record := func(key, team string, paused, cancelled bool) {
			t.Helper()
			rec := fmt.Sprintf(`{"id":%q,"object":"fine_tuning.job","team":%q,"paused":%v,"cancelled":%v,"final":%v,"pipeline_jobs":["job_old","job_p"]}`,
				strings.TrimSuffix(strings.TrimPrefix(key, remove.FineTuningJobs), ".json"), team, paused, cancelled, cancelled)
			if _, err := b.blobs.Put(ctx, key, strings.NewReader(rec)); err != nil {
				t.Fatal(err)
			}
		}
		record(remove.FineTuningJobs+"ftjob-p.json", "", true, false)
		record(remove.FineTuningJobs+"ftjob-other.json", "blue", true, false) // another team's
		b.put(t, remove.FineTuningJobs+"ftjob-broken.json")                   // not JSON: skipped
		for _, tc := range []struct {
			kind, id string
			del      func() error
		}{
			{"dataset", "ds_t", func() error { _, err := b.d.Dataset(ctx, b.st, "ds_t"); return err }},
			{"dataset", "ds_v", func() error { _, err := b.d.Dataset(ctx, b.st, "ds_v"); return err }},
			{"model", "mdl_base", func() error { _, err := b.d.Model(ctx, b.st, "mdl_base", false); return err }},
		} {
			var ie *remove.InUseError
			if err := tc.del(); !errors.As(err, &ie) || !slices.Equal(ie.Paused, []string{"ftjob-p"}) || len(ie.Jobs) != 0 {
				t.Errorf("delete %s %s used by paused ftjob-p: %v, want InUseError naming ftjob-p", tc.kind, tc.id, err)
				continue
			}
			if want := tc.kind + " " + tc.id + " is in use by paused fine-tuning job ftjob-p, which resumes with it: cancel it, then delete it"; ie.Error() != want {
				t.Errorf("Error() = %q, want %q", ie.Error(), want)
			}
		}
		if !b.has(t, "datasets/ftjob-p/file-t.jsonl") || !b.has(t, "jobs/j0/tune/model/a.bin") {
			t.Error("a refused deletion deleted files")
		}
		// Cancelled (final): nothing held.
		record(remove.FineTuningJobs+"ftjob-p.json", "", false, true)
		if _, err := b.d.Dataset(ctx, b.st, "ds_t"); err != nil {
			t.Errorf("delete a dataset of a cancelled fine-tuning job: %v", err)
		}
		if _, err := b.d.Model(ctx, b.st, "mdl_base", false); err != nil {
			t.Errorf("delete the base of a cancelled fine-tuning job: %v", err)
		}
	})
}
