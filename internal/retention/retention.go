// Package retention removes what a --retain policy says is old: ended jobs
// (with their nodes, events, output blobs and Redis stream), events of ended
// jobs, output-cache entries, and blobs nothing refers to. Jobs that produced
// a registered (exported) model are kept, and so are uploaded datasets.
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
		for _, id := range ids {
			if dryRun {
				continue
			}
			// Blobs first: a job whose blobs failed to go is kept, and
			// retried next time.
			if err := deletePrefix(ctx, blobs, "jobs/"+id+"/", nil); err != nil {
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
// never finished (checkpoints/KEY/, by age).
func sweepOrphans(ctx context.Context, s Store, blobs blob.Store, before time.Time, dryRun bool, r *Report) error {
	jobs, datasets, err := s.BlobOwners(ctx)
	if err != nil {
		return err
	}
	for _, top := range []string{"jobs/", "datasets/", "checkpoints/"} {
		list, err := blobs.List(ctx, top)
		if err != nil {
			return fmt.Errorf("retention: list %s: %w", top, err)
		}
		for _, i := range list {
			if !i.ModTime.Before(before) {
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

func deletePrefix(ctx context.Context, blobs blob.Store, prefix string, _ *Report) error {
	list, err := blobs.List(ctx, prefix)
	if err != nil {
		return err
	}
	for _, i := range list {
		if err := blobs.Delete(ctx, i.Key); err != nil {
			return err
		}
	}
	return nil
}
