package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/whetstone/whetstone/internal/auth"
	"github.com/whetstone/whetstone/internal/remove"
)

type deleteModelInput struct {
	ID    string `path:"id" maxLength:"100"`
	Force bool   `query:"force" doc:"delete the model even though LoRA adapters of its team were trained on it (they stay, without a base to load on); a queued or running job using it still refuses"`
}

type deleteModelOutput struct {
	Body struct {
		ModelID string `json:"model_id"`
		Deleted bool   `json:"deleted"`
	}
}

type deleteDatasetOutput struct {
	Body struct {
		DatasetID string `json:"dataset_id"`
		Deleted   bool   `json:"deleted"`
	}
}

func (s *Server) deleter() *remove.Deleter {
	return &remove.Deleter{Store: s.Store, Blobs: s.Blobs, Logger: s.Logger}
}

// registerDelete registers DELETE /models/{id} and /datasets/{id}. Viewers
// are refused by the auth middleware (403) and every deletion is audited
// there, as every write is.
func (s *Server) registerDelete(api huma.API) {
	huma.Register(api, huma.Operation{OperationID: "delete-model", Method: http.MethodDelete, Path: prefix + "/models/{id}", Tags: []string{"models"},
		Summary: "Delete a model and its files",
		Description: "404 for a model the caller's team does not have. 409 while a queued or running job uses it, or while LoRA adapters of the team were trained on it " +
			"(the message names them; force=true deletes it anyway). Models trained from it otherwise keep working: their files are self-contained."},
		func(ctx context.Context, in *deleteModelInput) (*deleteModelOutput, error) {
			if _, err := s.deleter().Model(ctx, auth.Reader(ctx, s.Store), in.ID, in.Force); err != nil {
				return nil, s.problem(ctx, err)
			}
			out := &deleteModelOutput{}
			out.Body.ModelID, out.Body.Deleted = in.ID, true
			return out, nil
		})
	huma.Register(api, huma.Operation{OperationID: "delete-dataset", Method: http.MethodDelete, Path: prefix + "/datasets/{id}", Tags: []string{"datasets"},
		Summary: "Delete an uploaded dataset and its file",
		Description: "404 for a dataset the caller's team does not have. 409 while a queued or running job reads it. " +
			"Jobs and models keep naming the version they read (lineage)."},
		func(ctx context.Context, in *idInput) (*deleteDatasetOutput, error) {
			if _, err := s.deleter().Dataset(ctx, auth.Reader(ctx, s.Store), in.ID); err != nil {
				return nil, s.problem(ctx, err)
			}
			out := &deleteDatasetOutput{}
			out.Body.DatasetID, out.Body.Deleted = in.ID, true
			return out, nil
		})
}
