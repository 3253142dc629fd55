package api

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/auth"
	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/store"
)

type outputInput struct {
	ID     string `path:"id" maxLength:"100"`
	Node   string `path:"node" maxLength:"100"`
	Output string `path:"output" maxLength:"100"`
	File   string `query:"file" maxLength:"1000" doc:"one file of a folder output (Range supported); without it a folder of several files comes as a tar stream"`
}

// registerOutputs serves the artifacts nodes produced: reports (JSON), datasets
// and model folders, so reports are readable through the API.
func (s *Server) registerOutputs(api huma.API) {
	op := huma.Operation{OperationID: "get-node-output", Method: http.MethodGet,
		Path: prefix + "/jobs/{id}/nodes/{node}/outputs/{output}", Tags: []string{"jobs"},
		Summary: "Read a node's output artifact: a report as JSON, a file (Range supported), or a folder as tar",
		Responses: map[string]*huma.Response{
			"200": {Description: "the artifact file, or a tar stream of a folder", Content: map[string]*huma.MediaType{
				"application/json": {}, "application/octet-stream": {}, "application/x-tar": {}}},
			"206": {Description: "a byte range of the file"},
		}}
	huma.Register(api, op, func(ctx context.Context, in *outputInput) (*huma.StreamResponse, error) {
		a, err := s.findOutput(ctx, in.ID, in.Node, in.Output)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		key := a.URI
		if strings.HasSuffix(key, "/") {
			infos, err := s.Blobs.List(ctx, key)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			switch {
			case in.File != "":
				if err := blob.ValidKey(key + in.File); err != nil {
					return nil, s.problem(ctx, err)
				}
				key += in.File
			case len(infos) == 1:
				key = infos[0].Key
			default:
				return &huma.StreamResponse{Body: func(hctx huma.Context) { s.tarPrefix(hctx, a.Name, key, infos) }}, nil
			}
		} else if in.File != "" {
			return nil, s.problem(ctx, fmt.Errorf("output %q of node %q is a file, not a folder: %w", in.Output, in.Node, errBadRequest))
		}
		obj, err := s.Blobs.Open(ctx, key)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		name := path.Base(key)
		if a.Path != "" && !strings.HasSuffix(a.URI, "/") {
			name = path.Base(a.Path) // the agent's own file name, e.g. validation.json
		}
		var content io.ReadSeeker = obj
		if a.Type == agent.Report && s.redact != nil && obj.Info().Size <= maxRedactBytes {
			// Reports are read by later agents, which need the paths in
			// them; users get them without the server's folders.
			b, err := io.ReadAll(obj)
			if err != nil {
				obj.Close()
				return nil, s.problem(ctx, fmt.Errorf("read output %q of node %q: %w", in.Output, in.Node, err))
			}
			content = bytes.NewReader(s.redact.Bytes(b))
		}
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			defer obj.Close()
			r, w := humago.Unwrap(hctx)
			ctype := mime.TypeByExtension(path.Ext(name))
			if a.Type == agent.Report && ctype == "" {
				ctype = "application/json"
			}
			if ctype == "" {
				ctype = "application/octet-stream"
			}
			w.Header().Set("Content-Type", ctype)
			w.Header().Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": name}))
			http.ServeContent(w, r, name, obj.Info().ModTime, content)
		}}, nil
	})
}

// maxRedactBytes bounds a report read whole to hide server folders in it;
// a larger one is served as stored.
const maxRedactBytes = 64 << 20

// findOutput returns the output called name of node nodeID of job jobID.
func (s *Server) findOutput(ctx context.Context, jobID, nodeID, name string) (agent.Artifact, error) {
	job, err := auth.Reader(ctx, s.Store).GetJob(ctx, jobID)
	if err != nil {
		return agent.Artifact{}, err
	}
	for _, n := range job.Nodes {
		if n.ID != nodeID {
			continue
		}
		for _, a := range n.Outputs {
			if a.Name == name {
				if a.URI == "" {
					return agent.Artifact{}, fmt.Errorf("output %q of node %q is not stored: %w", name, nodeID, store.ErrNotFound)
				}
				return a, nil
			}
		}
		return agent.Artifact{}, fmt.Errorf("node %q of job %s has no output %q: %w", nodeID, jobID, name, store.ErrNotFound)
	}
	return agent.Artifact{}, fmt.Errorf("job %s has no node %q: %w", jobID, nodeID, store.ErrNotFound)
}

// tarPrefix streams the objects under prefix as a tar of paths relative to it.
func (s *Server) tarPrefix(hctx huma.Context, name, prefix string, infos []blob.Info) {
	r, w := humago.Unwrap(hctx)
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name + ".tar"}))
	w.WriteHeader(http.StatusOK)
	tw := tar.NewWriter(w)
	defer tw.Close()
	for _, info := range infos {
		obj, err := s.Blobs.Open(r.Context(), info.Key)
		if err != nil {
			s.Logger.ErrorContext(r.Context(), "output tar", "key", info.Key, "error", err)
			return
		}
		err = tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(info.Key, prefix), Mode: 0o644, Size: info.Size, ModTime: info.ModTime, Typeflag: tar.TypeReg})
		if err == nil {
			_, err = io.Copy(tw, obj)
		}
		obj.Close()
		if err != nil {
			return
		}
	}
}
