package api

import (
	"context"
	"encoding/json"
	"strings"
	"sync"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/eval"
	"github.com/whetstone/whetstone/internal/store"
)

// JobSummary is what the runs list shows of a job beside its own fields:
// node counts and the facts of its training and evaluation, read from its
// spec and its nodes' output metadata.
type JobSummary struct {
	Nodes          int `json:"nodes" doc:"how many nodes the pipeline has"`
	NodesSucceeded int `json:"nodes_succeeded" doc:"how many of them succeeded"`
	// BaseModel is the base model's name (the last element of its path),
	// never a server path.
	BaseModel    string         `json:"base_model,omitempty" doc:"the base model's folder name (a model another node made: node/output, a registered model: its id)"`
	Method       string         `json:"method,omitempty" doc:"the train node's method: lora, qlora, full"`
	FinalLoss    *float64       `json:"final_loss,omitempty" doc:"the train node's last training loss"`
	FinalValLoss *float64       `json:"final_val_loss,omitempty" doc:"the train node's last validation loss"`
	Primary      *PrimaryMetric `json:"primary_metric,omitempty" doc:"the metric that decides the run's comparison or evaluation"`
}

// PrimaryMetric is a run's headline metric: the compare node's primary
// metric on the tuned model (with the base model's value), else the
// evaluate node's, else the final validation loss.
type PrimaryMetric struct {
	Name          string   `json:"name"`
	Value         float64  `json:"value"`
	Base          *float64 `json:"base,omitempty" doc:"the base model's value, when a compare node measured it"`
	LowerIsBetter bool     `json:"lower_is_better"`
	Node          string   `json:"node" doc:"the node that measured it"`
}

// jobListItem is a job of GET /jobs: the job's own fields (without nodes)
// and its summary.
type jobListItem struct {
	store.Job
	Summary *JobSummary `json:"summary,omitempty"`
}

// summaryCache keeps the summaries of ended jobs, which no longer change,
// so listing them again reads no nodes. It forgets everything past
// maxSummaries entries.
type summaryCache struct {
	mu sync.Mutex
	m  map[string]*JobSummary
}

const maxSummaries = 20000

func (c *summaryCache) get(id string) *JobSummary {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[id]
}

func (c *summaryCache) put(id string, s *JobSummary) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxSummaries {
		c.m = map[string]*JobSummary{}
	}
	c.m[id] = s
}

// listItems loads each job's nodes and summarises them (an ended job's
// summary comes from the cache after the first time). A job whose nodes
// cannot be read keeps its fields and has no summary.
func (s *Server) listItems(ctx context.Context, rd store.Reader, jobs []*store.Job) []jobListItem {
	out := make([]jobListItem, len(jobs))
	for i, j := range jobs {
		out[i].Job = *j
		out[i].Nodes = nil
		if sum := s.summaries.get(j.ID); sum != nil && j.Status.Terminal() {
			out[i].Summary = sum
			continue
		}
		full, err := rd.GetJob(ctx, j.ID)
		if err != nil {
			s.Logger.WarnContext(ctx, "list jobs: summary", "job_id", j.ID, "error", err)
			continue
		}
		out[i].Summary = summarize(full)
		if full.Status.Terminal() {
			s.summaries.put(j.ID, out[i].Summary)
		}
	}
	return out
}

func num(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

func ptr(f float64) *float64 { return &f }

// modelName is how the summary names a base model: a folder by its last
// element, a node's output by its blob reference as node/output
// (eval.DisplayPath: "tune/model"), an id as it is; "" for "".
func modelName(p string) string {
	return eval.DisplayPath(strings.ReplaceAll(p, "\\", "/"))
}

// summarize reads a job's summary from its spec and nodes.
func summarize(j *store.Job) *JobSummary {
	sum := &JobSummary{Nodes: len(j.Nodes)}
	var spec struct {
		Nodes []struct {
			ID     string         `json:"id"`
			Agent  string         `json:"agent"`
			Params map[string]any `json:"params"`
		} `json:"nodes"`
	}
	if len(j.Spec) > 0 {
		_ = json.Unmarshal(j.Spec, &spec) // a spec we cannot read leaves the spec's facts out
	}
	if sum.Nodes == 0 {
		sum.Nodes = len(spec.Nodes)
	}
	for _, n := range spec.Nodes {
		if n.Agent != "train" {
			continue
		}
		if b, ok := n.Params["base_model"].(string); ok && sum.BaseModel == "" {
			sum.BaseModel = modelName(b)
		}
		if m, ok := n.Params["method"].(string); ok && sum.Method == "" {
			sum.Method = m
		}
	}
	var fromEval *PrimaryMetric
	for _, n := range j.Nodes {
		if n.Status == store.Succeeded {
			sum.NodesSucceeded++
		}
		for _, a := range n.Outputs {
			switch {
			case n.Agent == "train" && a.Type == agent.Model:
				if b, ok := a.Meta["base_model"].(string); ok && b != "" {
					sum.BaseModel = modelName(b)
				}
				if m, ok := a.Meta["method"].(string); ok && m != "" {
					sum.Method = m
				}
				if v, ok := num(a.Meta["final_loss"]); ok {
					sum.FinalLoss = ptr(v)
				}
				if v, ok := num(a.Meta["final_val_loss"]); ok {
					sum.FinalValLoss = ptr(v)
				}
			case a.Type == agent.Report && a.Meta["kind"] == eval.KindComparison:
				name, _ := a.Meta["primary_metric"].(string)
				ms, _ := a.Meta["metrics"].(map[string]any)
				if v, ok := num(ms["tuned_"+name]); ok && name != "" {
					p := &PrimaryMetric{Name: name, Value: v, LowerIsBetter: eval.LowerIsBetter(name), Node: n.ID}
					if b, ok := num(ms["base_"+name]); ok {
						p.Base = ptr(b)
					}
					sum.Primary = p
				}
			case a.Type == agent.Report && a.Meta["kind"] == eval.KindEvaluation && fromEval == nil:
				ms, _ := a.Meta["metrics"].(map[string]any)
				names := make([]string, 0, len(ms))
				for k, v := range ms {
					if _, ok := num(v); ok {
						names = append(names, k)
					}
				}
				if name := eval.PrimaryMetric(names); name != "" {
					v, _ := num(ms[name])
					fromEval = &PrimaryMetric{Name: name, Value: v, LowerIsBetter: eval.LowerIsBetter(name), Node: n.ID}
				}
			}
		}
	}
	if sum.Primary == nil {
		sum.Primary = fromEval
	}
	if sum.Primary == nil && sum.FinalValLoss != nil {
		for _, n := range j.Nodes {
			if n.Agent == "train" && n.Status == store.Succeeded {
				sum.Primary = &PrimaryMetric{Name: "val_loss", Value: *sum.FinalValLoss, LowerIsBetter: true, Node: n.ID}
				break
			}
		}
	}
	return sum
}
