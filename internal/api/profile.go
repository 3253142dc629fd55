package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/whetstone/whetstone/internal/agents/ingest"
	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/store"
)

// sampleRows is how many rows an upload's sample keeps.
const sampleRows = 5

// profileUpload computes an uploaded dataset's profile and sample once, as
// the dataset agent would (rows, detected format, columns, field lengths;
// the first rows in canonical form). A file the dataset agent cannot read
// still uploads: its profile is {"error": "..."}.
func (s *Server) profileUpload(ctx context.Context, d *store.Dataset) {
	path := ""
	if l, ok := s.Blobs.(blob.Localizer); ok {
		if p, err := l.LocalPath(d.BlobKey); err == nil {
			path = p
		}
	}
	if path == "" {
		dir, err := os.MkdirTemp("", "whet-profile-")
		if err != nil {
			d.Profile = errProfile(err)
			return
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, filepath.Base(d.BlobKey))
		if _, err := blob.Download(ctx, s.Blobs, d.BlobKey, path); err != nil {
			d.Profile = errProfile(err)
			return
		}
	}
	res, err := ingest.Ingest(ctx, path, io.Discard, ingest.Options{Samples: sampleRows})
	if err != nil {
		s.Logger.DebugContext(ctx, "upload profile", slog.String("dataset_id", d.ID), slog.Any("error", err))
		// the file by its name: the blob's path is the server's business
		d.Profile = errProfile(errors.New(strings.ReplaceAll(err.Error(), path, filepath.Base(d.BlobKey))))
		return
	}
	rep := res.Profile
	sample := rep.Samples
	rep.Samples = nil
	rep.Source = d.Name
	d.Profile, _ = json.Marshal(rep)
	if sample == nil {
		sample = []json.RawMessage{}
	}
	d.Sample, _ = json.Marshal(sample)
}

func errProfile(err error) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"error": err.Error()})
	return b
}
