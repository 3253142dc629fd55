// Package retention removes what a --retain policy says is old: ended jobs
// (with their nodes, events, output blobs and Redis stream), events of ended
// jobs, output-cache entries, and blobs nothing refers to. Jobs that produced
// a registered (exported) model are kept, and so are datasets. A blob that a
// dataset or model record names (its blob key, or a key under its folder) is
// never removed, whatever folder it lies in: writers do not all store under
// the record's own id (the /v1 API stores a fine-tuning job's files under
// datasets/ftjob-…/ and saved eval samples under datasets/playground/).
package retention

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/config"
)

// Store is what retention needs of the metadata store (sqlitestore has it).
type Store interface {
	ExpiredJobs(ctx context.Context, before time.Time) ([]string, error)
	DeleteJob(ctx context.Context, id string) error
	PruneEvents(ctx context.Context, before time.Time, dryRun bool) (int64, error)
	PruneCache(ctx context.Context, before time.Time, dryRun bool) (int64, error)
	BlobOwners(ctx context.Context) (jobs, datasets map[string]bool, err error)
	// BlobRefs returns the blob keys the dataset and model records name
	// (a key ending in "/" names everything under it).
	BlobRefs(ctx context.Context) ([]string, error)
}

// Streams drops a job's event stream (the Redis fan-out); optional.
type Streams interface {
	DeleteJob(ctx context.Context, jobID string) error
}

// Sweeper removes a blob store's own leftovers (S3 temporary objects and
// unfinished uploads); optional.
type Sweeper interface {
	SweepTemporary(ctx context.Context, age time.Duration, dryRun bool) (int, error)
}

// ErrUnsupported is returned for a store without retention support.
var ErrUnsupported = errors.New("this metadata store does not support retention")

// Report says what a run removed (or, dry, would remove).
type Report struct {
	DryRun       bool     `json:"dry_run"`
	Jobs         []string `json:"jobs"`
	Events       int64    `json:"events"`
	CacheEntries int64    `json:"cache_entries"`
	Blobs        []string `json:"blobs"`
	BlobBytes    int64    `json:"blob_bytes"`
	Temporary    int      `json:"temporary_uploads"`
}

// Run applies pol at now. st must implement Store.
func Run(ctx context.Context, st any, blobs blob.Store, streams Streams, pol config.Retention, now time.Time, dryRun bool) (*Report, error) {
	s, ok := st.(Store)
	if !ok {
		return nil, ErrUnsupported
	}
	r := &Report{DryRun: dryRun}
	if pol.Jobs > 0 {
		ids, err := s.ExpiredJobs(ctx, now.Add(-pol.Jobs))
		if err != nil {
			return nil, err
		}
		r.Jobs = ids
		var keep refs
		if len(ids) > 0 && !dryRun {
			if keep, err = refsOf(ctx, s); err != nil {
				return nil, err
			}
		}
		for _, id := range ids {
			if dryRun {
				continue
			}
			// Blobs first: a job whose blobs failed to go is kept, and
			// retried next time. Those a record names stay.
			if err := deletePrefix(ctx, blobs, "jobs/"+id+"/", keep); err != nil {
				return r, fmt.Errorf("retention: job %s blobs: %w", id, err)
			}
			if err := s.DeleteJob(ctx, id); err != nil {
				return r, err
			}
			if streams != nil {
				streams.DeleteJob(ctx, id)
			}
		}
	}
	if pol.Events > 0 {
		n, err := s.PruneEvents(ctx, now.Add(-pol.Events), dryRun)
		if err != nil {
			return r, err
		}
		r.Events = n
	}
	if pol.Cache > 0 {
		n, err := s.PruneCache(ctx, now.Add(-pol.Cache), dryRun)
		if err != nil {
			return r, err
		}
		r.CacheEntries = n
	}
	if pol.Blobs > 0 {
		if err := sweepOrphans(ctx, s, blobs, now.Add(-pol.Blobs), dryRun, r); err != nil {
			return r, err
		}
		if sw, ok := blobs.(Sweeper); ok {
			n, err := sw.SweepTemporary(ctx, pol.Blobs, dryRun)
			if err != nil {
				return r, err
			}
			r.Temporary = n
		}
	}
	return r, nil
}

// sweepOrphans removes blobs older than before that nothing refers to:
// under jobs/ID/ or datasets/ID/ of an id the store does not know (jobs
// removed, uploads that failed half-way), and checkpoints of nodes that
// never finished (checkpoints/KEY/, by age); but never a blob that a dataset
// or model record names, whatever its folder.
func sweepOrphans(ctx context.Context, s Store, blobs blob.Store, before time.Time, dryRun bool, r *Report) error {
	tops := []string{"jobs/", "datasets/", "checkpoints/"}
	lists := make([][]blob.Info, len(tops))
	for n, top := range tops {
		list, err := blobs.List(ctx, top)
		if err != nil {
			return fmt.Errorf("retention: list %s: %w", top, err)
		}
		lists[n] = list
	}
	// Records are read after the listing: one created meanwhile names a
	// blob written just now (writers store the blob, then the record),
	// which is too young to go.
	jobs, datasets, err := s.BlobOwners(ctx)
	if err != nil {
		return err
	}
	keep, err := refsOf(ctx, s)
	if err != nil {
		return err
	}
	for n, top := range tops {
		for _, i := range lists[n] {
			if !i.ModTime.Before(before) || keep.has(i.Key) {
				continue
			}
			id, _, _ := strings.Cut(strings.TrimPrefix(i.Key, top), "/")
			orphan := top == "checkpoints/" || (top == "jobs/" && !jobs[id]) || (top == "datasets/" && !datasets[id])
			if !orphan {
				continue
			}
			r.Blobs = append(r.Blobs, i.Key)
			r.BlobBytes += i.Size
			if !dryRun {
				if err := blobs.Delete(ctx, i.Key); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// refs are the blob keys records name: keys, and folders (ending in "/").
type refs struct{ keys, folders map[string]bool }

func refsOf(ctx context.Context, s Store) (refs, error) {
	l, err := s.BlobRefs(ctx)
	if err != nil {
		return refs{}, fmt.Errorf("retention: blob refs: %w", err)
	}
	r := refs{keys: map[string]bool{}, folders: map[string]bool{}}
	for _, k := range l {
		if strings.HasSuffix(k, "/") {
			r.folders[k] = true
		} else {
			r.keys[k] = true
		}
	}
	return r, nil
}

// has says whether a record names key or a folder above it.
func (r refs) has(key string) bool {
	if r.keys[key] {
		return true
	}
	for i := strings.LastIndexByte(key, '/'); i >= 0; i = strings.LastIndexByte(key[:i], '/') {
		if r.folders[key[:i+1]] {
			return true
		}
	}
	return false
}

// deletePrefix deletes the blobs under prefix but those keep names.
func deletePrefix(ctx context.Context, blobs blob.Store, prefix string, keep refs) error {
	list, err := blobs.List(ctx, prefix)
	if err != nil {
		return err
	}
	for _, i := range list {
		if keep.has(i.Key) {
			continue
		}
		if err := blobs.Delete(ctx, i.Key); err != nil {
			return err
		}
	}
	return nil
}
