package orchestrate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/auth"
	"github.com/whetstone/whetstone/internal/pipeline"
)

// Plan is a dry run: what a pipeline would do, found without running it.
type Plan struct {
	Nodes []PlanNode `json:"nodes"`
}

// PlanNode is one node of a Plan.
type PlanNode struct {
	ID    string `json:"id"`
	Agent string `json:"agent"`
	// Cached says the node's outputs would be taken from the cache.
	Cached bool `json:"cached"`
	// Estimate is what the node will need, for agents that estimate
	// (agent.Estimator: train) and will run; null otherwise.
	Estimate *agent.Estimate `json:"estimate"`
	// Error says why the node could not be estimated.
	Error string `json:"error,omitempty"`
}

// ErrDryRunTimeout is a dry run stopped at its limit (PlanWithin). The API
// answers it with 504, `whet run --dry-run` with exit code 1.
var ErrDryRunTimeout = errors.New("dry run timed out")

// PlanWithin is Plan bounded by limit (--dry-run-timeout; 0 or less: no
// limit), for POST /api/v1/jobs?dry_run=true and `whet run --dry-run`
// alike. Its work (data agents in a scratch folder, a train node's warm-up,
// each in its agent process when agents are isolated) runs under ctx: when
// ctx ends first (a client that goes away, Ctrl-C) the error is ctx's;
// past limit the work is cancelled and the error wraps ErrDryRunTimeout,
// saying what was stopped, the limit and what to do.
func (o *Orchestrator) PlanWithin(ctx context.Context, spec *pipeline.Spec, workDir string, limit time.Duration) (*Plan, error) {
	if limit <= 0 {
		return o.Plan(ctx, spec, workDir)
	}
	dctx, cancel := context.WithTimeoutCause(ctx, limit, ErrDryRunTimeout)
	defer cancel()
	p, err := o.Plan(dctx, spec, workDir)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(dctx), ErrDryRunTimeout) {
		return nil, fmt.Errorf("%w: the dry run (data agents and training warm-up) ran longer than its limit of %s (--dry-run-timeout) and was stopped; "+
			"run the pipeline without a dry run, plan it on less data, or raise --dry-run-timeout", ErrDryRunTimeout, limit)
	}
	return p, err
}

// Plan validates spec as Submit does and returns its nodes in execution
// order without running the job:
//   - Cached: the node's cache key (the one execute computes, on the
//     cached outputs of its predecessors) has an entry whose blobs exist.
//     A node after one that will run is not cached.
//   - Estimate: agents that estimate (agent.Estimator) are asked what
//     they will need. Their inputs are the cached outputs of their
//     predecessors, or, for data agents (category data) that are not
//     cached, what those agents write when run in a scratch folder that
//     is removed afterwards: exact rows and tokens, for the cost of one
//     streaming pass over the source. Nothing is stored or queued.
//
// Relative paths resolve against workDir ("" for the configured WorkDir).
// Returns a *pipeline.ValidationError for an invalid spec.
func (o *Orchestrator) Plan(ctx context.Context, spec *pipeline.Spec, workDir string) (*Plan, error) {
	v, err := pipeline.ValidateWith(spec, o.reg, o.validateOptions())
	if err != nil {
		return nil, err
	}
	if workDir == "" {
		workDir = o.cfg.WorkDir
	}
	team := auth.TeamOf(ctx)
	scratch := filepath.Join(o.cfg.ScratchDir, "plan-"+randHex(6))
	defer os.RemoveAll(scratch)

	// Nodes with an estimator downstream need their outputs.
	needed := map[string]bool{}
	var mark func(id string)
	mark = func(id string) {
		for _, p := range v.Preds(id) {
			if !needed[p] {
				needed[p] = true
				mark(p)
			}
		}
	}
	for _, n := range v.Nodes {
		if ag, ok := o.reg.Lookup(n.Agent); ok {
			if _, ok := ag.(agent.Estimator); ok {
				mark(n.ID)
			}
		}
	}

	plan := &Plan{Nodes: []PlanNode{}}
	cached := map[string]bool{}
	outs := map[string][]agent.Artifact{} // cached outputs (blob keys) or scratch outputs (local paths)
	for _, id := range pipeline.TopoOrder(v) {
		n, _ := v.Node(id)
		ag, _ := o.reg.Lookup(n.Agent)
		pn := PlanNode{ID: id, Agent: n.Agent}
		preds := v.Preds(id)
		allCached, allKnown := true, true
		var ins []agent.Artifact
		for _, p := range preds {
			allCached = allCached && cached[p]
			_, ok := outs[p]
			allKnown = allKnown && ok
			ins = append(ins, outs[p]...)
		}
		if allCached && (n.Cache == nil || *n.Cache) {
			key := o.cacheKey(ctx, team, workDir, ag.Spec(), n.Agent, n.Params, ins)
			if hit, ok, err := o.st.GetCache(ctx, team, key); err == nil && ok && o.blobsExist(ctx, hit) {
				pn.Cached, cached[id], outs[id] = true, true, hit
			}
		}
		est, isEst := ag.(agent.Estimator)
		if !pn.Cached && allKnown && (isEst || needed[id] && ag.Spec().Category == "data") {
			env, err := o.planEnv(ctx, team, workDir, filepath.Join(scratch, id), n.Params, ins)
			switch {
			case err != nil:
				pn.Error = err.Error()
			case isEst:
				if pn.Estimate, err = est.Estimate(ctx, env); err != nil {
					pn.Error = fmt.Sprintf("estimate: %v", err)
				}
			default:
				arts, err := safeRun(ctx, ag, env)
				if err != nil {
					pn.Error = fmt.Sprintf("dry run of the data agent: %v", err)
					break
				}
				for i := range arts {
					arts[i].Path = filepath.Join(env.OutDir, arts[i].Path)
				}
				outs[id] = arts
			}
			if pn.Error != "" {
				o.log.InfoContext(ctx, "plan: node not estimated", slog.String("node", id), slog.String("error", pn.Error))
			}
		}
		plan.Nodes = append(plan.Nodes, pn)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return plan, nil
}

// planEnv is the environment of a node run or estimated by Plan in dir:
// cached inputs (stored artifacts) are materialized there; the others are
// scratch outputs with local paths.
func (o *Orchestrator) planEnv(ctx context.Context, team, workDir, dir string, params map[string]any, ins []agent.Artifact) (*agent.Env, error) {
	env := &agent.Env{JobID: "plan", NodeID: filepath.Base(dir), Attempt: 1, Params: agent.Params(params), OutDir: filepath.Join(dir, "out"),
		WorkDir: workDir, Emit: agent.Discard, Logger: o.log, HTTP: o.http,
		ResolveSource: func(ctx context.Context, ref, kind string) (string, error) {
			return o.ResolveSource(ctx, team, ref, kind, workDir, filepath.Join(dir, "src"))
		}}
	if err := os.MkdirAll(env.OutDir, 0o755); err != nil {
		return nil, err
	}
	for i, a := range ins {
		if a.URI != "" { // cached: a stored artifact
			local, err := o.materialize(ctx, a.URI, filepath.Join(dir, "in", fmt.Sprint(i), a.Name))
			if err != nil {
				return nil, fmt.Errorf("input %s: %w", a.Name, err)
			}
			a.Path = local
		}
		env.Inputs = append(env.Inputs, a)
	}
	return env, nil
}
