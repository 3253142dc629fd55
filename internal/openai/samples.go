package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/store"
)

// saveSample is the playground's "save as eval sample" (a Whetstone
// extension, not OpenAI's API): POST /v1/playground/eval_samples
// {"dataset": NAME, "messages": [...], "preferred": "answer"} appends one chat
// row (the prompt's messages, then the preferred answer as the assistant's
// turn when given) to the JSONL kept for NAME and registers the result as a
// new version of dataset NAME.jsonl (datasets are immutable; the newest
// version has every sample). Returns {"dataset_id", "name", "rows"}.
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
	// The team's own: a key shared by every team let one team's save read
	// (and add to) another's samples under the same name.
	team := store.TeamOr(s.team(r))
	key := "openai/evals/" + team + "/" + req.Dataset + ".jsonl"
	var buf bytes.Buffer
	o, err := s.Blobs.Open(r.Context(), key)
	switch {
	case err == nil:
		_, err = io.Copy(&buf, o)
		o.Close()
		if err != nil {
			return err
		}
	case !errors.Is(err, blob.ErrNotFound):
		return err
	}
	buf.Write(line)
	buf.WriteByte('\n')
	rows := bytes.Count(buf.Bytes(), []byte{'\n'})
	info, err := s.Blobs.Put(r.Context(), key, bytes.NewReader(buf.Bytes()))
	if err != nil {
		return err
	}
	// Each version gets its own immutable blob, as uploads do.
	vkey := fmt.Sprintf("datasets/playground/%s/%s/%d.jsonl", team, req.Dataset, time.Now().UnixNano())
	if _, err := s.Blobs.Put(r.Context(), vkey, bytes.NewReader(buf.Bytes())); err != nil {
		return err
	}
	d := &store.Dataset{ID: store.NewID("ds"), Name: req.Dataset + ".jsonl", Size: info.Size, SHA256: info.SHA256, Format: "jsonl",
		BlobKey: vkey, CreatedAt: time.Now().UTC(), Team: team}
	if err := s.Store.InTx(r.Context(), func(tx store.Tx) error { return tx.CreateDataset(r.Context(), d) }); err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"dataset_id": d.ID, "name": d.Name, "rows": rows})
	return nil
}
