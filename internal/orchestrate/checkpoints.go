package orchestrate

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/blob"
)

// CheckpointPrefix is where nodes' checkpoints live in the blob store:
// checkpoints/CACHE_KEY/checkpoint-STEP/FILE, with complete.json written
// last. The cache key names the node's content (agent, params, inputs), so
// a redelivered attempt on any worker and a re-run of the same node in a new
// job find the same checkpoints.
const CheckpointPrefix = "checkpoints/"

// blobCheckpoints is agent.Checkpoints in a blob store.
type blobCheckpoints struct {
	blobs  blob.Store
	prefix string // checkpoints/KEY/
}

var _ agent.Checkpoints = (*blobCheckpoints)(nil)

func newCheckpoints(blobs blob.Store, cacheKey string) *blobCheckpoints {
	return &blobCheckpoints{blobs: blobs, prefix: CheckpointPrefix + cacheKey + "/"}
}

const completeFile = "complete.json"

// Save implements agent.Checkpoints: every file of dir, then complete.json
// listing them; then older checkpoints are removed.
func (c *blobCheckpoints) Save(ctx context.Context, step int, dir string) error {
	base := fmt.Sprintf("%scheckpoint-%d/", c.prefix, step)
	var files []map[string]any
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == completeFile {
			return nil
		}
		info, err := blob.PutFile(ctx, c.blobs, base+rel, p, false)
		if err != nil {
			return err
		}
		files = append(files, map[string]any{"path": rel, "size": info.Size, "sha256": info.SHA256})
		return nil
	})
	if err != nil {
		return fmt.Errorf("save checkpoint %d: %w", step, err)
	}
	b, _ := json.Marshal(map[string]any{"step": step, "files": files})
	if _, err := c.blobs.Put(ctx, base+completeFile, strings.NewReader(string(b))); err != nil {
		return fmt.Errorf("save checkpoint %d: %w", step, err)
	}
	_, all, err := c.list(ctx)
	if err != nil {
		return nil // saved; older ones stay until the next save or gc
	}
	for _, i := range all {
		if !strings.HasPrefix(i.Key, base) {
			c.blobs.Delete(ctx, i.Key)
		}
	}
	return nil
}

// list returns the steps of complete checkpoints, ascending, and every
// object under the prefix.
func (c *blobCheckpoints) list(ctx context.Context) ([]int, []blob.Info, error) {
	all, err := c.blobs.List(ctx, c.prefix)
	if err != nil {
		return nil, nil, err
	}
	var steps []int
	for _, i := range all {
		rest := strings.TrimPrefix(i.Key, c.prefix)
		d, f, ok := strings.Cut(rest, "/")
		if !ok || f != completeFile {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimPrefix(d, "checkpoint-")); err == nil && strings.HasPrefix(d, "checkpoint-") {
			steps = append(steps, n)
		}
	}
	sort.Ints(steps)
	return steps, all, nil
}

// Restore implements agent.Checkpoints.
func (c *blobCheckpoints) Restore(ctx context.Context, parent string) (int, error) {
	steps, _, err := c.list(ctx)
	if err != nil || len(steps) == 0 {
		return 0, err
	}
	step := steps[len(steps)-1]
	name := fmt.Sprintf("checkpoint-%d", step)
	tmp := filepath.Join(parent, name+".dl")
	if _, err := blob.DownloadDir(ctx, c.blobs, c.prefix+name+"/", tmp); err != nil {
		return 0, fmt.Errorf("restore checkpoint %d: %w", step, err)
	}
	if err := os.Rename(tmp, filepath.Join(parent, name)); err != nil {
		return 0, fmt.Errorf("restore checkpoint %d: %w", step, err)
	}
	return step, nil
}

// Clear removes every checkpoint (the node succeeded).
func (c *blobCheckpoints) Clear(ctx context.Context) error {
	all, err := c.blobs.List(ctx, c.prefix)
	if err != nil {
		return err
	}
	for _, i := range all {
		if err := c.blobs.Delete(ctx, i.Key); err != nil {
			return err
		}
	}
	return nil
}
