package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/store"
)

// saveSample is the playground's "save as eval sample" (a Whetstone
// extension, not OpenAI's API): POST /v1/playground/eval_samples
// {"dataset": NAME, "messages": [...], "preferred": "answer"} appends one chat
// row (the prompt's messages, then the preferred answer as the assistant's
// turn when given) to the rows of the set's newest version and registers
// the result as a new version of dataset NAME.jsonl (datasets are
// immutable; the newest version has every sample). The set follows its
// datasets: once its newest version is deleted (package remove, through
// either API), the next save starts a fresh set holding only itself.
// Returns {"dataset_id", "name", "rows"}.
func (s *Server) saveSample(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Dataset   string        `json:"dataset"`
		Messages  []chatMessage `json:"messages"`
		Preferred *string       `json:"preferred"`
	}
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if !suffixRe.MatchString(req.Dataset) {
		return invalid("dataset", "invalid_value", "Invalid 'dataset': up to 64 letters, digits, '-' and '_'.")
	}
	if len(req.Messages) == 0 {
		return invalid("messages", "missing_required_parameter", "Missing required parameter: 'messages'.")
	}
	type msg struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	var ms []msg
	for i, m := range req.Messages {
		t, err := contentText(m.Content)
		if err != nil || !roles[m.Role] {
			return invalid(fmt.Sprintf("messages[%d]", i), "invalid_value", "Invalid 'messages[%d]': a role and a text content.", i)
		}
		ms = append(ms, msg{m.Role, t})
	}
	if req.Preferred != nil {
		ms = append(ms, msg{"assistant", *req.Preferred})
	}
	line, _ := json.Marshal(map[string]any{"messages": ms})
	s.mu.Lock()
	defer s.mu.Unlock()
	// The team's own: a set shared by every team let one team's save read
	// (and add to) another's samples under the same name.
	team := store.TeamOr(s.team(r))
	var buf bytes.Buffer
	if err := s.sampleRows(r.Context(), team, req.Dataset, &buf); err != nil {
		return err
	}
	buf.Write(line)
	buf.WriteByte('\n')
	rows := bytes.Count(buf.Bytes(), []byte{'\n'})
	// Each version gets its own immutable blob, as uploads do.
	vkey := fmt.Sprintf("%s%d.jsonl", versionsPrefix(team, req.Dataset), time.Now().UnixNano())
	info, err := s.Blobs.Put(r.Context(), vkey, bytes.NewReader(buf.Bytes()))
	if err != nil {
		return err
	}
	d := &store.Dataset{ID: store.NewID("ds"), Name: req.Dataset + ".jsonl", Size: info.Size, SHA256: info.SHA256, Format: "jsonl",
		BlobKey: vkey, CreatedAt: time.Now().UTC(), Team: team}
	if err := s.Store.InTx(r.Context(), func(tx store.Tx) error { return tx.CreateDataset(r.Context(), d) }); err != nil {
		return err
	}
	if err := s.putJSON(r.Context(), sampleSetKey(team, req.Dataset), sampleSet{DatasetID: d.ID}); err != nil {
		return err
	}
	// The running file sets kept before their record (every row ever
	// saved, whatever became of its datasets) is read no more.
	if err := s.Blobs.Delete(r.Context(), legacySampleKey(team, req.Dataset)); err != nil && !errors.Is(err, blob.ErrNotFound) {
		s.Logger.WarnContext(r.Context(), "old running file of a playground sample set not deleted",
			slog.String("key", legacySampleKey(team, req.Dataset)), slog.Any("error", err))
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"dataset_id": d.ID, "name": d.Name, "rows": rows})
	return nil
}

// sampleSet is the record of a team's playground sample set NAME
// (sampleSetKey): the dataset its newest save registered, whose rows the
// next save adds to while it exists.
type sampleSet struct {
	DatasetID string `json:"dataset_id"`
}

func sampleSetKey(team, name string) string { return "openai/evals/" + team + "/" + name + ".json" }

// legacySampleKey is the running file a set kept before its record: every
// row ever saved, which brought deleted rows back.
func legacySampleKey(team, name string) string { return "openai/evals/" + team + "/" + name + ".jsonl" }

// versionsPrefix is the folder of the blobs of set NAME's versions.
func versionsPrefix(team, name string) string {
	return "datasets/playground/" + team + "/" + name + "/"
}

// sampleRows writes to w the rows of team's set name's newest version
// while that dataset exists (none when it was deleted: a fresh set). A set
// without a record (saved before it was kept) continues from its newest
// version still registered.
func (s *Server) sampleRows(ctx context.Context, team, name string, w io.Writer) error {
	st := s.Store.ForTeam(team)
	var set sampleSet
	ok, err := s.getJSON(ctx, sampleSetKey(team, name), &set)
	if err != nil {
		return err
	}
	var ds *store.Dataset
	if ok {
		ds, err = st.GetDataset(ctx, set.DatasetID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("sample set %s: %w", name, err)
		}
	} else if ds, err = newestVersion(ctx, st, team, name); err != nil || ds == nil {
		return err
	}
	o, err := s.Blobs.Open(ctx, ds.BlobKey)
	if err != nil {
		return fmt.Errorf("sample set %s: dataset %s: %w", name, ds.ID, err)
	}
	defer o.Close()
	if _, err := io.Copy(w, o); err != nil {
		return fmt.Errorf("sample set %s: dataset %s: %w", name, ds.ID, err)
	}
	return nil
}

// newestVersion returns the newest registered version of team's set name
// (a dataset named NAME.jsonl whose blob is in the set's folder), or nil.
func newestVersion(ctx context.Context, st store.Reader, team, name string) (*store.Dataset, error) {
	for off := 0; ; off += datasetPage {
		l, _, err := st.ListDatasets(ctx, store.ListParams{Query: name + ".jsonl", Limit: datasetPage, Offset: off})
		if err != nil {
			return nil, fmt.Errorf("sample set %s: %w", name, err)
		}
		for _, ds := range l { // newest first
			if ds.Name == name+".jsonl" && strings.HasPrefix(ds.BlobKey, versionsPrefix(team, name)) {
				return ds, nil
			}
		}
		if len(l) == 0 {
			return nil, nil
		}
	}
}

// datasetPage is how many datasets one store query reads.
const datasetPage = 1000
