package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/whetstone/whetstone/internal/gpus"
)

type gpusOutput struct {
	Body struct {
		GPUs []gpus.GPU `json:"gpus"`
		// Waiting are the nodes of this process queued for a GPU, first
		// first.
		Waiting []string `json:"waiting"`
	}
}

func (s *Server) registerGPUs(api huma.API) {
	huma.Register(api, huma.Operation{OperationID: "list-gpus", Method: http.MethodGet, Path: prefix + "/gpus", Tags: []string{"system"},
		Summary:     "The machine's GPUs (NVML) and the nodes waiting for one",
		Description: "Index, name, UUID, memory total/used, utilisation, temperature and driver version of each NVIDIA GPU; an empty list on a machine without one."},
		func(ctx context.Context, _ *struct{}) (*gpusOutput, error) {
			list := s.GPUs
			if list == nil {
				list = gpus.List
			}
			g, err := list()
			if err != nil {
				return nil, huma.Error500InternalServerError("gpu inventory: " + err.Error())
			}
			out := &gpusOutput{}
			out.Body.GPUs = g
			out.Body.Waiting = gpus.Default.Waiting()
			if out.Body.Waiting == nil {
				out.Body.Waiting = []string{}
			}
			return out, nil
		})
}
