package openai

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/remove"
)

// Files and fine-tuning jobs are small JSON records in the blob store
// (openai/files/ID.json, openai/jobs/ID.json), with each file's content
// beside its record (openai/files/ID.jsonl). IDs sort by creation time.

const (
	filesPrefix = "openai/files/"
	jobsPrefix  = remove.FineTuningJobs // package remove reads paused jobs' records
)

// newID returns prefix-<12 hex of a nanosecond clock><8 hex random>, so
// ids sort by creation.
func newID(prefix string, nowNano int64) string {
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%012x%s", prefix, nowNano/1000, hex.EncodeToString(b[:]))
}

func (s *Server) putJSON(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if _, err := s.Blobs.Put(ctx, key, bytes.NewReader(b)); err != nil {
		return fmt.Errorf("store %s: %w", key, err)
	}
	return nil
}

// getJSON reads key into v; ok is false when it does not exist.
func (s *Server) getJSON(ctx context.Context, key string, v any) (bool, error) {
	o, err := s.Blobs.Open(ctx, key)
	if errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrInvalidKey) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

// listIDs returns the record ids under prefix (keys ending in .json),
// newest first.
func (s *Server) listIDs(ctx context.Context, prefix string) ([]string, error) {
	infos, err := s.Blobs.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	var ids []string
	for _, in := range infos {
		name := strings.TrimPrefix(in.Key, prefix)
		if strings.Contains(name, "/") || !strings.HasSuffix(name, ".json") {
			continue
		}
		ids = append(ids, strings.TrimSuffix(name, ".json"))
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))
	return ids, nil
}

// validID reports whether id could be a record id (no path tricks).
func validID(id, prefix string) bool {
	if !strings.HasPrefix(id, prefix+"-") || len(id) > 80 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// page applies OpenAI's cursor paging to ids (newest first): the items
// after the id `after`, at most limit.
func page(ids []string, after string, limit int) ([]string, bool) {
	if after != "" {
		i := sort.Search(len(ids), func(i int) bool { return ids[i] < after })
		ids = ids[i:]
	}
	if len(ids) > limit {
		return ids[:limit], true
	}
	return ids, false
}
