package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/whetstone/whetstone/internal/store"
)

// TestDatasetListSummary checks that GET /datasets gives each dataset the
// headline of the profile computed at upload (rows, the detected record
// format, the column names) next to the fields it had before, and still
// leaves the profile and sample to GET /datasets/{id}.
func TestDatasetListSummary(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	chat := `{"conversations":[{"from":"human","value":"hi"},{"from":"gpt","value":"hello"}]}` + "\n" +
		`{"conversations":[{"from":"human","value":"2+2?"},{"from":"gpt","value":"4"}]}` + "\n" +
		`{"conversations":[{"from":"human","value":"bye"},{"from":"gpt","value":"bye"}]}` + "\n"
	ids := map[string]string{}
	for _, f := range []struct{ file, body string }{
		{"chat.jsonl", chat},
		{"pairs.csv", "prompt,completion\nhi,there\nyo,hey\n"},
		{"broken.jsonl", "{\"text\": \"a\"}\nnot json at all\n"},
		{"bad.json", "{oops"},
	} {
		resp, b := upload(t, e.url, f.file, "", strings.NewReader(f.body))
		var d store.Dataset
		if err := json.Unmarshal(b, &d); err != nil || resp.StatusCode != 201 {
			t.Fatalf("upload %s = %d %s", f.file, resp.StatusCode, b)
		}
		ids[f.file] = d.ID
	}
	resp, b := do(t, "GET", e.url+"/datasets", "", nil)
	var l struct {
		Datasets []map[string]json.RawMessage `json:"datasets"`
	}
	if err := json.Unmarshal(b, &l); err != nil || resp.StatusCode != 200 || len(l.Datasets) != 4 {
		t.Fatalf("GET /datasets = %d %s (%v)", resp.StatusCode, b, err)
	}
	got := map[string]store.DatasetSummary{}
	for _, d := range l.Datasets {
		var id, format string
		json.Unmarshal(d["dataset_id"], &id)
		json.Unmarshal(d["format"], &format)
		for _, k := range []string{"name", "size", "sha256", "format", "created_at", "version"} {
			if _, ok := d[k]; !ok {
				t.Errorf("dataset %s in the list lacks %q: %s", id, k, b)
			}
		}
		if _, ok := d["profile"]; ok {
			t.Errorf("dataset %s in the list has its profile: %s", id, b)
		}
		if id == ids["chat.jsonl"] && format != "jsonl" {
			t.Errorf("chat.jsonl format = %q, want the file type jsonl kept", format)
		}
		var s store.DatasetSummary
		if err := json.Unmarshal(d["summary"], &s); err != nil {
			t.Errorf("dataset %s summary: %v in %s", id, err, b)
		}
		got[id] = s
	}
	want := map[string]store.DatasetSummary{
		ids["chat.jsonl"]: {Rows: 3, Format: "sharegpt", Columns: []string{"conversations"}},
		ids["pairs.csv"]:  {Rows: 2, Format: "completion", Columns: []string{"prompt", "completion"}},
		// the unreadable line is left out of the rows (the profile lists it)
		ids["broken.jsonl"]: {Rows: 1, Format: "text", Columns: []string{"text"}},
	}
	bad := got[ids["bad.json"]]
	delete(got, ids["bad.json"])
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET /datasets summaries (-want +got):\n%s", diff)
	}
	// a file that cannot be read at all: the summary says why, naming the file, not the server's path to it
	if !strings.HasPrefix(bad.Error, "bad.json:1:2: malformed JSON") || bad.Rows != 0 {
		t.Errorf("bad.json summary = %+v, want the error naming bad.json", bad)
	}
}
