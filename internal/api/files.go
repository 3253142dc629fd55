package api

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/whetstone/whetstone/internal/auth"
	"github.com/whetstone/whetstone/internal/store"
)

// uploadInput captures the raw request so the multipart body streams to
// the blob store part by part (huma's multipart types would buffer it).
type uploadInput struct {
	req *http.Request
	w   http.ResponseWriter
}

func (u *uploadInput) Resolve(ctx huma.Context) []error {
	u.req, u.w = humago.Unwrap(ctx)
	return nil
}

// Dataset file formats by extension.
var datasetFormats = map[string]string{
	".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
	".txt": "text", ".parquet": "parquet",
}

// checkName rejects names that could act as paths.
func checkName(field, name string) error {
	switch {
	case name == "":
		return badRequest("%s: empty", field)
	case len(name) > 200:
		return badRequest("%s: longer than 200 bytes", field)
	case strings.ContainsAny(name, `/\`) || name == "." || name == ".." || strings.HasPrefix(name, "."):
		return badRequest("%s %q: must be a plain file name (no path separators, no leading dot)", field, name)
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == ':' {
			return badRequest("%s %q: has a control character or colon", field, name)
		}
	}
	return nil
}

// capReader fails with errTooLarge once more than n bytes were read. It
// keeps the error reading the request failed with (err), so a failed store
// can tell the client's fault from its own.
type capReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *capReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n -= int64(n)
	if c.n < 0 {
		return n, errTooLarge
	}
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// partError is the error of storing or hashing the file part fn read
// through c that failed with err: 413 past a size limit, 400 when reading
// the request failed (a truncated multipart body, a client that went away),
// else the store's own failure.
func partError(fn string, c *capReader, err error, limit int64) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, errTooLarge) || errors.As(err, &mbe):
		return fmt.Errorf("%w: the file is over the %d byte limit", errTooLarge, limit)
	case c.err != nil:
		return badRequest("file %q: the upload ended before the multipart body did (truncated or interrupted): %v", fn, c.err)
	}
	return fmt.Errorf("upload %s: %w", fn, err)
}

func (s *Server) registerUpload(api huma.API) {
	op := huma.Operation{OperationID: "upload-dataset", Method: http.MethodPost, Path: prefix + "/datasets/upload", Tags: []string{"datasets"},
		Summary:       "Upload a dataset file",
		Description:   "multipart/form-data with the field `file` (CSV, TSV, JSON, JSONL, text or Parquet) and an optional `name`. The file streams to the blob store; 413 past the size limit. The dataset is immutable: its `version` is `sha256:` and the SHA-256 of the bytes, and its `profile` and `sample` are computed once, here. 201 with the new dataset; 200 with the existing one, unchanged, when the team already has the same bytes under the same name (nothing more is stored; the same bytes under another name are a new dataset with the same `version`). A team past its byte quota (--quota-bytes) gets 413 for a new dataset and still 200 for one it has.",
		DefaultStatus: http.StatusCreated,
	}
	huma.Register(api, op, func(ctx context.Context, in *uploadInput) (*datasetCreated, error) {
		d, created, err := s.upload(ctx, in.req, in.w)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		if !created {
			return &datasetCreated{Status: http.StatusOK, Body: d}, nil
		}
		return &datasetCreated{Status: http.StatusCreated, Body: d}, nil
	})
	post := api.OpenAPI().Paths[op.Path].Post
	if created := post.Responses["201"]; created != nil {
		post.Responses["200"] = &huma.Response{Description: "the team already has these bytes under this name: that dataset, unchanged", Content: created.Content}
	}
	// Documented after registering: a request body schema given before
	// would make huma read and buffer the body itself.
	api.OpenAPI().Paths[op.Path].Post.RequestBody = &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
		"multipart/form-data": {Schema: &huma.Schema{Type: "object", Required: []string{"file"}, Properties: map[string]*huma.Schema{
			"file": {Type: "string", Format: "binary", Description: "the dataset file"},
			"name": {Type: "string", Description: "a display name (defaults to the file name)"},
		}}},
	}}
}

// upload stores the uploaded file as a dataset of the caller's team and
// returns it, created true; when the team already has a dataset with the
// same SHA-256 and name, it returns that one, created false, and keeps
// nothing of the upload.
func (s *Server) upload(ctx context.Context, r *http.Request, w http.ResponseWriter) (*store.Dataset, bool, error) {
	const overhead = 1 << 20 // multipart headers and the name field
	if r.ContentLength > s.MaxUploadBytes+overhead {
		return nil, false, fmt.Errorf("%w: %d bytes is over the %d byte limit", errTooLarge, r.ContentLength, s.MaxUploadBytes)
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.MaxUploadBytes+overhead)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		return nil, false, badMedia(r.Header.Get("Content-Type"), "multipart/form-data")
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, false, badRequest("multipart: %v", err)
	}
	d := &store.Dataset{ID: store.NewID("ds"), Team: auth.TeamOf(ctx)}
	// Past the quota by its declared length, an upload may still repeat a
	// dataset the team has (the same bytes and name: 200, nothing more
	// stored), which only its hash can tell. Such an upload is hashed, not
	// stored, and read no further than the bytes the team stores (a repeat
	// is no larger); anything else is refused with the quota's error.
	var overQuota *quotaError
	if err := s.checkQuota(ctx, d.Team, max(r.ContentLength-overhead, 0)); err != nil && !errors.As(err, &overQuota) {
		return nil, false, err
	}
	var name string
	sawFile, stored := false, false
	defer func() {
		if !stored && d.BlobKey != "" {
			s.Blobs.Delete(context.WithoutCancel(ctx), d.BlobKey)
		}
	}()
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, false, err
			}
			return nil, false, badRequest("multipart: %v", err)
		}
		switch part.FormName() {
		case "name":
			b, err := io.ReadAll(io.LimitReader(part, 1024))
			if err != nil {
				return nil, false, badRequest("name: %v", err)
			}
			name = strings.TrimSpace(string(b))
			if err := checkName("name", name); err != nil {
				return nil, false, err
			}
		case "file":
			if sawFile {
				return nil, false, badRequest("more than one file field")
			}
			sawFile = true
			_, params, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
			fn := params["filename"] // raw: part.FileName() would strip directories silently
			if err := checkName("file name", fn); err != nil {
				return nil, false, err
			}
			format, ok := datasetFormats[strings.ToLower(path.Ext(fn))]
			if !ok {
				return nil, false, fmt.Errorf("%w: file %q: want .csv, .tsv, .json, .jsonl, .ndjson, .txt or .parquet", errUnsupportedMedia, fn)
			}
			if overQuota != nil {
				c := &capReader{r: part, n: min(s.MaxUploadBytes, overQuota.Used)}
				size, sum, err := hashPart(c)
				var mbe *http.MaxBytesError
				switch {
				case errors.Is(err, errTooLarge) && !errors.As(err, &mbe):
					return nil, false, overQuota // larger than all the team stores: no repeat
				case err != nil:
					return nil, false, partError(fn, c, err, s.MaxUploadBytes)
				}
				d.Name, d.Size, d.SHA256, d.Format = fn, size, sum, format
				continue
			}
			d.BlobKey = "datasets/" + d.ID + "/" + fn
			c := &capReader{r: part, n: s.MaxUploadBytes}
			info, err := s.Blobs.Put(ctx, d.BlobKey, c)
			if err != nil {
				return nil, false, partError(fn, c, err, s.MaxUploadBytes)
			}
			d.Name, d.Size, d.SHA256, d.Format = fn, info.Size, info.SHA256, format
		default:
			io.Copy(io.Discard, io.LimitReader(part, overhead))
		}
	}
	if !sawFile {
		return nil, false, badRequest("missing multipart field \"file\"")
	}
	if name != "" {
		d.Name = name
	}
	d.CreatedAt = time.Now().UTC()
	// The same bytes under the same name again (a retried or repeated
	// upload): the dataset the team has, not a second id. Its blob is kept;
	// this one's is removed (stored stays false).
	if have, err := s.Store.ForTeam(d.Team).FindDataset(ctx, d.Team, d.SHA256, d.Name); err == nil {
		return have, false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, false, err
	}
	if overQuota != nil { // a new dataset, and nothing of it was kept
		if err := s.checkQuota(ctx, d.Team, d.Size); err != nil {
			return nil, false, err
		}
		return nil, false, overQuota
	}
	if err := s.checkQuota(ctx, d.Team, d.Size); err != nil {
		return nil, false, err
	}
	// Content-addressed: the same bytes give the same version. The profile
	// and sample are computed here, once; a dataset never changes.
	d.Version = "sha256:" + d.SHA256
	s.profileUpload(ctx, d)
	var have *store.Dataset
	var created bool
	if err := s.Store.InTx(ctx, func(tx store.Tx) (err error) {
		have, created, err = tx.CreateDatasetOnce(ctx, d)
		return err
	}); err != nil {
		return nil, false, err
	}
	stored = created // a racing upload of the same bytes and name won: keep its blob only
	return have, created, nil
}

// hashPart reads c to its end and returns its size and SHA-256 (hex),
// keeping nothing; errTooLarge past c's limit.
func hashPart(c *capReader) (int64, string, error) {
	h := sha256.New()
	n, err := io.Copy(h, c)
	if err != nil {
		return n, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

type downloadInput struct {
	ID   string `path:"id" maxLength:"100"`
	File string `query:"file" doc:"one file of the model folder (supports Range); without it a folder of several files comes as a tar stream"`
}

func (s *Server) registerDownload(api huma.API) {
	op := huma.Operation{OperationID: "download-model", Method: http.MethodGet, Path: prefix + "/models/{id}/download", Tags: []string{"models"},
		Summary: "Download a model file (Range supported) or the whole model folder as tar",
		Responses: map[string]*huma.Response{
			"200": {Description: "the file or a tar stream", Content: map[string]*huma.MediaType{"application/octet-stream": {}, "application/x-tar": {}}},
			"206": {Description: "a byte range of the file"},
		}}
	huma.Register(api, op, func(ctx context.Context, in *downloadInput) (*huma.StreamResponse, error) {
		m, err := auth.Reader(ctx, s.Store).GetModel(ctx, in.ID)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		folder := strings.HasSuffix(m.URI, "/")
		key, file := m.URI, path.Base(m.URI)
		switch {
		case !folder:
		case in.File != "":
			if !slices.Contains(m.Files, in.File) {
				return nil, s.problem(ctx, fmt.Errorf("model %s has no file %q: %w", m.ID, in.File, store.ErrNotFound))
			}
			key, file = m.URI+in.File, path.Base(in.File)
		case len(m.Files) == 1:
			key, file = m.URI+m.Files[0], path.Base(m.Files[0])
		default:
			return &huma.StreamResponse{Body: func(hctx huma.Context) { s.streamTar(hctx, m) }}, nil
		}
		obj, err := s.Blobs.Open(ctx, key)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			defer obj.Close()
			r, w := humago.Unwrap(hctx)
			w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": file}))
			w.Header().Set("Content-Type", "application/octet-stream")
			http.ServeContent(w, r, file, obj.Info().ModTime, obj)
		}}, nil
	})
}

func (s *Server) streamTar(hctx huma.Context, m *store.Model) {
	r, w := humago.Unwrap(hctx)
	name := strings.NewReplacer("/", "_", `"`, "_").Replace(m.Name) + ".tar"
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	w.WriteHeader(http.StatusOK)
	tw := tar.NewWriter(w)
	for _, f := range m.Files {
		obj, err := s.Blobs.Open(r.Context(), m.URI+f)
		if err != nil {
			s.Logger.ErrorContext(r.Context(), "model tar", "model_id", m.ID, "file", f, "error", err)
			return
		}
		info := obj.Info()
		err = tw.WriteHeader(&tar.Header{Name: f, Mode: 0o644, Size: info.Size, ModTime: info.ModTime, Typeflag: tar.TypeReg})
		if err == nil {
			_, err = io.Copy(tw, obj)
		}
		obj.Close()
		if err != nil {
			return
		}
	}
	tw.Close()
}
