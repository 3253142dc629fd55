package sqlitestore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/store"
)

// TestGetJobJSONMatchesGetJob checks that GetJobJSON gives byte for byte
// what encoding GetJob's job does, for nodes in every state.
func TestGetJobJSONMatchesGetJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "whet.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 11, 26, 15, 4, 5, 123456789, time.UTC)
	j := &store.Job{ID: "job_1", Name: "p <&>", Status: store.Pending, Spec: []byte(`{"name":"p","nodes":[{"id":"a"}]}`), CreatedAt: now,
		Nodes: []*store.Node{
			{ID: "a", Agent: "dataset", Status: store.Pending, MaxAttempts: 3, Params: map[string]any{"source": "x <é>.jsonl", "n": 3, "f": 0.1, "l": []any{"a", 1.5}, "o": map[string]any{"z": 1, "a": nil}}},
			{ID: "b", Agent: "train", Status: store.Pending, MaxAttempts: 1, Params: map[string]any{}, Preds: []string{"a"}},
			{ID: "c", Agent: "train", Status: store.Pending, MaxAttempts: 1, Preds: []string{"a"}},
		}}
	outs := []agent.Artifact{{Type: agent.Dataset, Name: "train", Path: "d", URI: "jobs/job_1/a/train", Meta: map[string]any{"rows": 2, "cols": []any{"x", "y"}, "stats": map[string]any{"mean": 1.25}}}}
	err = db.InTx(ctx, func(tx store.Tx) error {
		if err := tx.CreateJob(ctx, j); err != nil {
			return err
		}
		if _, err := tx.SetJobStatus(ctx, j.ID, store.Running, "", now); err != nil {
			return err
		}
		if _, _, err := tx.ClaimNode(ctx, &store.ClaimParams{JobID: j.ID, NodeID: "a", Owner: "w", Now: now, LeaseUntil: now.Add(time.Minute)}); err != nil {
			return err
		}
		if _, err := tx.FinishNode(ctx, &store.FinishNodeParams{JobID: j.ID, NodeID: "a", Owner: "w", Status: store.Succeeded, Outputs: outs, Cached: true, At: now.Add(time.Second)}); err != nil {
			return err
		}
		_, _, err := tx.ClaimNode(ctx, &store.ClaimParams{JobID: j.ID, NodeID: "b", Owner: "w", Now: now, LeaseUntil: now.Add(time.Minute)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.GetJobJSON(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	job, err := db.GetJob(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(job)
	want = append(want, '\n')
	if !bytes.Equal(got, want) {
		t.Errorf("GetJobJSON:\n%s\nwant json.Marshal(GetJob):\n%s", got, want)
	}
	for _, s := range []string{`"outputs":[{"type":"dataset"`, `"status":"running"`, `"outputs":[]`, `"finished_at":null`, `"cached":true`} {
		if !bytes.Contains(got, []byte(s)) {
			t.Errorf("GetJobJSON lacks %s: %s", s, got)
		}
	}
	if _, err := db.GetJobJSON(ctx, "job_none"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown job: err = %v, want ErrNotFound", err)
	}
}

// TestGetJobJSONEscaping checks strings and times against encoding/json,
// and a job without nodes.
func TestGetJobJSONEscaping(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", "q\"b\\s/", "<a&b>", "ctl\x00\x01\x1f\x7f\b\f\n\r\t", "é 😀 \u2028\u2029", "bad\xff\xfeutf8\xe2\x82"} {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
	for _, ns := range []int64{0, 1, 1_000_000_000, 1764169445123456789, 1764169445100000000} {
		want, _ := json.Marshal(time.Unix(0, ns).UTC())
		if got := appendTime(nil, ns); !bytes.Equal(got, want) {
			t.Errorf("appendTime(%d) = %s, want %s", ns, got, want)
		}
	}
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "whet.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	j := &store.Job{ID: "job_2", Name: "bad\xffname\u2028", Status: store.Pending, CreatedAt: time.Unix(1764169445, 0)}
	if err := db.InTx(ctx, func(tx store.Tx) error { return tx.CreateJob(ctx, j) }); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetJobJSON(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	job, _ := db.GetJob(ctx, j.ID)
	want, _ := json.Marshal(job)
	if want = append(want, '\n'); !bytes.Equal(got, want) {
		t.Errorf("GetJobJSON = %s, want %s", got, want)
	}
}

// FuzzAppendString checks appendString against encoding/json.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", "<&>", "\u2028", "\xff", "é\x00\"\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}
