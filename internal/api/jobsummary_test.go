package api

import (
	"encoding/json"
	"testing"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/store"
)

func TestSummarize(t *testing.T) {
	t.Parallel()
	spec := json.RawMessage(`{"name":"p","nodes":[{"id":"data","agent":"dataset"},{"id":"tune","agent":"train","params":{"base_model":"/srv/models/stories260K/","method":"qlora"}}]}`)
	train := func(st store.Status, meta map[string]any) *store.Node {
		n := &store.Node{ID: "tune", Agent: "train", Status: st}
		if meta != nil {
			n.Outputs = []agent.Artifact{{Type: agent.Model, Name: "model", Meta: meta}}
		}
		return n
	}
	data := &store.Node{ID: "data", Agent: "dataset", Status: store.Succeeded}
	report := func(id, agentName string, meta map[string]any) *store.Node {
		return &store.Node{ID: id, Agent: agentName, Status: store.Succeeded, Outputs: []agent.Artifact{{Type: agent.Report, Name: "r", Meta: meta}}}
	}
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name string
		job  store.Job
		want JobSummary
	}{
		{"spec only, nothing ran", store.Job{Spec: spec},
			JobSummary{Nodes: 2, BaseModel: "stories260K", Method: "qlora"}},
		{"running", store.Job{Spec: spec, Nodes: []*store.Node{data, train(store.Running, nil)}},
			JobSummary{Nodes: 2, NodesSucceeded: 1, BaseModel: "stories260K", Method: "qlora"}},
		{"trained: the output's meta wins over the params; val loss is the primary metric",
			store.Job{Spec: spec, Nodes: []*store.Node{data, train(store.Succeeded, map[string]any{"base_model": "/abs/path/tiny", "method": "lora", "final_loss": 1.5, "final_val_loss": 1.75})}},
			JobSummary{Nodes: 2, NodesSucceeded: 2, BaseModel: "tiny", Method: "lora", FinalLoss: f(1.5), FinalValLoss: f(1.75),
				Primary: &PrimaryMetric{Name: "val_loss", Value: 1.75, LowerIsBetter: true, Node: "tune"}}},
		{"trained on an upstream model: its blob reference by node and output",
			store.Job{Spec: spec, Nodes: []*store.Node{data, train(store.Succeeded, map[string]any{"base_model": "blob:jobs/job_01/first/model/", "method": "lora"})}},
			JobSummary{Nodes: 2, NodesSucceeded: 2, BaseModel: "first/model", Method: "lora"}},
		{"trained on a registered model: its id",
			store.Job{Spec: spec, Nodes: []*store.Node{data, train(store.Succeeded, map[string]any{"base_model": "mdl_01ab", "method": "lora"})}},
			JobSummary{Nodes: 2, NodesSucceeded: 2, BaseModel: "mdl_01ab", Method: "lora"}},
		{"evaluated: the preferred metric of the evaluation",
			store.Job{Spec: spec, Nodes: []*store.Node{data, train(store.Succeeded, map[string]any{"final_loss": 2.0}),
				report("score", "evaluate", map[string]any{"kind": "evaluation", "metrics": map[string]any{"perplexity": 7.0, "rouge_l": 0.25, "loss": 2.1}})}},
			JobSummary{Nodes: 3, NodesSucceeded: 3, BaseModel: "stories260K", Method: "qlora", FinalLoss: f(2),
				Primary: &PrimaryMetric{Name: "rouge_l", Value: 0.25, Node: "score"}}},
		{"compared: the comparison's primary metric with the base model's value",
			store.Job{Spec: spec, Nodes: []*store.Node{data,
				report("score", "evaluate", map[string]any{"kind": "evaluation", "metrics": map[string]any{"rouge_l": 0.25}}),
				report("versus", "compare", map[string]any{"kind": "comparison", "primary_metric": "perplexity", "metrics": map[string]any{"tuned_perplexity": 6.0, "base_perplexity": 9.0, "delta_perplexity": -3.0}})}},
			JobSummary{Nodes: 3, NodesSucceeded: 3, BaseModel: "stories260K", Method: "qlora",
				Primary: &PrimaryMetric{Name: "perplexity", Value: 6, Base: f(9), LowerIsBetter: true, Node: "versus"}}},
		{"an unreadable spec leaves its facts out", store.Job{Spec: json.RawMessage(`{`), Nodes: []*store.Node{data}},
			JobSummary{Nodes: 1, NodesSucceeded: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := json.Marshal(summarize(&tt.job))
			want, _ := json.Marshal(tt.want)
			if string(got) != string(want) {
				t.Errorf("summarize =\n %s\nwant\n %s", got, want)
			}
		})
	}
}
