// Package compare is the compare agent: it re-runs the base model (without
// the fine-tuned adapter or weights) on exactly the samples of an evaluation
// report, then reports metric deltas with paired bootstrap confidence
// intervals, per-sample win/tie/loss and side-by-side outputs, as JSON and
// as one self-contained HTML page.
package compare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/evaluate"
	"github.com/whetstone/whetstone/internal/data/contam"
	"github.com/whetstone/whetstone/internal/eval"
	"github.com/whetstone/whetstone/internal/gpus"
)

// Output file names.
const (
	ReportFile = "comparison.json"
	HTMLFile   = "comparison.html"
)

// Agent is the compare agent.
type Agent struct {
	models evaluate.Models
}

// New returns the compare agent loading models with load; nil means
// Whetstone's engine on the device of the device param
// (enginemodel.LoadOn).
func New(load eval.Loader) agent.Agent {
	return &Agent{models: evaluate.Models{Load: load, GPUs: gpus.Default}}
}

// Spec implements agent.Agent.
func (a *Agent) Spec() agent.Spec {
	return agent.Spec{
		Name:        "compare",
		Description: "Base model against the fine-tuned model on the same evaluation samples: metric deltas with bootstrap confidence intervals, per-sample win/tie/loss, side-by-side outputs, and an offline HTML report with charts.",
		Category:    "evaluation",
		Params: []agent.Param{
			{Name: "report_html", Type: agent.Boolean, Default: true, Description: "also write comparison.html. Defaults to true."},
			{Name: "contamination_ngram", Type: agent.Integer, Default: contam.DefaultN, Min: agent.F64(contam.MinN), Max: agent.F64(contam.MaxN),
				Description: "n-gram size (words) of the contamination check between the training split next to the evaluated one and the evaluated rows (report field contamination)"},
			{Name: "bootstrap", Type: agent.Integer, Default: 1000, Min: agent.F64(10), Max: agent.F64(1000000),
				Description: "bootstrap resamples for the confidence intervals. Defaults to 1000."},
			{Name: "seed", Type: agent.Integer, Default: 42, Min: agent.F64(-(1 << 53)), Max: agent.F64(1 << 53), Description: "seed of the bootstrap. Defaults to 42."},
			{Name: "confidence", Type: agent.Number, Default: 0.95, Min: agent.F64(0.5), Max: agent.F64(0.999),
				Description: "confidence level of the intervals. Defaults to 0.95."},
			{Name: "judge_key", Type: agent.String, Kind: "secret",
				Description: "API key for the judge endpoint recorded in the evaluation, when it used the judge metric (keys are never stored in reports)."},
			evaluate.DeviceParam(),
		},
		Inputs: []agent.Port{
			{Type: agent.Report, Name: "evaluation", Required: true, Multiple: true,
				Description: "the fine-tuned model's evaluation report; with two, the first is the base and nothing is re-run"},
			{Type: agent.Model, Name: "model", Description: "optional: the evaluated model, used instead of the one the report names (which is fetched from the blob store on whichever worker runs this node)"},
			{Type: agent.Dataset, Name: "dataset", Description: "optional: the evaluated dataset, used instead of the one the report names"},
		},
		Outputs: []agent.Port{
			{Type: agent.Report, Name: eval.KindComparison, Description: "comparison.json"},
			{Type: agent.Report, Name: "comparison_html", Description: "comparison.html, self-contained"},
		},
	}
}

// Run implements agent.Agent.
func (a *Agent) Run(ctx context.Context, env *agent.Env) ([]agent.Artifact, error) {
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	emit := env.Emit
	if emit == nil {
		emit = agent.Discard
	}
	reports := env.InputsOf(agent.Report)
	if len(reports) == 0 || len(reports) > 2 {
		return nil, agent.Permanent(fmt.Errorf("compare: want one or two evaluation reports, got %d", len(reports)))
	}
	var evals []*eval.Evaluation
	for _, r := range reports {
		path := r.Path
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			path = filepath.Join(path, evaluate.ReportFile)
		}
		e, err := eval.ReadEvaluation(path)
		if err != nil {
			return nil, agent.Permanent(fmt.Errorf("compare: %w", err))
		}
		portable(e)
		evals = append(evals, e)
	}
	p := env.Params
	refs := newResolver(env)
	var base, tuned *eval.Evaluation
	var model eval.ModelRef // the evaluated model as local paths here
	if len(evals) == 2 {
		base, tuned = evals[0], evals[1]
		// Nothing is re-run: the model is read for its history only.
		var err error
		if model, err = localModel(ctx, env, refs, tuned.Model, false); err != nil {
			emit.Log(slog.LevelWarn, "evaluated model not readable here", slog.String("error", err.Error()))
			model = eval.ModelRef{}
		}
	} else {
		tuned = evals[0]
		var err error
		if model, err = localModel(ctx, env, refs, tuned.Model, true); err != nil {
			return nil, err
		}
		if base, err = a.runBase(ctx, env, refs, tuned, model); err != nil {
			return nil, err
		}
	}
	emit.Progress(0.95, 0, "bootstrap")
	c, err := eval.Compare(base, tuned, eval.CompareOptions{
		Resamples: p.Int("bootstrap"), Confidence: p.Float("confidence"), Seed: int64(p.Int("seed")),
	})
	if err != nil {
		return nil, agent.Permanent(err)
	}
	if m, ok := env.Input(agent.Model); ok {
		c.Preference = preference(m.Meta, p.Float("confidence"))
	}
	if h := model.History; h != "" {
		if c.History, err = eval.ReadHistory(h); err != nil {
			// A broken history costs the chart, not the comparison.
			emit.Log(slog.LevelWarn, "training history unreadable", slog.String("error", err.Error()))
			c.History = nil
		}
	}
	evalFile, err := localSplit(ctx, env, refs, tuned.Dataset)
	if err != nil {
		emit.Log(slog.LevelWarn, "evaluated split not readable here; contamination check skipped", slog.String("error", err.Error()))
	}
	if train := trainFileFor(evalFile); evalFile != "" && train != "" {
		emit.Progress(0.97, 0, "contamination")
		n := contam.DefaultN
		if p.Has("contamination_ngram") {
			n = p.Int("contamination_ngram")
		}
		if c.Contamination, err = contamination(ctx, train, evalFile, n); err != nil {
			emit.Log(slog.LevelWarn, "contamination check skipped", slog.String("error", err.Error()))
			c.Contamination = nil
		} else if c.Contamination.Rows > 0 {
			emit.Log(slog.LevelWarn, "training rows overlap the evaluated split", slog.Int("contaminated_rows", c.Contamination.Rows),
				slog.Int("train_rows", c.Contamination.TrainRows))
		}
	}
	if err := evaluate.WriteJSON(filepath.Join(env.OutDir, ReportFile), c); err != nil {
		return nil, err
	}
	deltas := map[string]float64{}
	meta := map[string]any{"kind": eval.KindComparison, "primary_metric": c.Primary}
	for _, m := range c.Metrics {
		deltas["delta_"+m.Name] = m.Delta.Estimate
		deltas["base_"+m.Name] = m.Base.Estimate
		deltas["tuned_"+m.Name] = m.Tuned.Estimate
		if m.Name == c.Primary {
			meta["improved"] = m.Improved
			meta["significant"] = m.Significant
			meta["wins"], meta["ties"], meta["losses"] = m.Wins, m.Ties, m.Losses
		}
	}
	meta["metrics"] = deltas
	if len(evals) == 1 {
		meta["device"] = base.Device // where the base model was re-run
	}
	emit.Metrics(len(c.Samples), deltas)
	out := []agent.Artifact{{Type: agent.Report, Name: eval.KindComparison, Path: ReportFile, Meta: meta}}
	if p.Bool("report_html") || !p.Has("report_html") {
		f, err := os.Create(filepath.Join(env.OutDir, HTMLFile))
		if err != nil {
			return nil, fmt.Errorf("compare: %w", err)
		}
		if err := eval.WriteHTML(f, c); err != nil {
			f.Close()
			return nil, fmt.Errorf("compare: render html: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("compare: %w", err)
		}
		out = append(out, agent.Artifact{Type: agent.Report, Name: "comparison_html", Path: HTMLFile,
			Meta: map[string]any{"content_type": "text/html"}})
	}
	log.InfoContext(ctx, "compared", slog.String("primary_metric", c.Primary), slog.Int("samples", len(c.Samples)))
	emit.Progress(1, 0, "done")
	return out, nil
}

// runBase evaluates the base model of tuned (model: its files as local
// paths here) on the same rows, samples and settings.
func (a *Agent) runBase(ctx context.Context, env *agent.Env, refs *resolver, tuned *eval.Evaluation, model eval.ModelRef) (*eval.Evaluation, error) {
	ref := model
	// The base as reports name it: as the evaluation recorded it, or as
	// the model handed to this node names it.
	recorded := tuned.Model.BaseModel
	if m, ok := env.Input(agent.Model); ok {
		if r, err := evaluate.ResolveModel(m); err == nil {
			recorded = evaluate.RecordModel(m, r).BaseModel
		}
	}
	if ref.BaseModel == "" || (ref.Adapter == "" && filepath.Clean(ref.BaseModel) == filepath.Clean(ref.Path)) {
		return nil, agent.Permanent(fmt.Errorf("compare: the evaluated model %s has no separate base model to compare against", eval.DisplayPath(tuned.Model.Path)))
	}
	if ref.Adapter != "" && !agent.IsRef(ref.Adapter) { // a stored adapter is there by its reference
		if _, err := os.Stat(ref.Adapter); err != nil {
			return nil, agent.Permanent(fmt.Errorf("compare: the evaluated adapter %s is not readable here (connect the model to this node): %w", eval.DisplayPath(tuned.Model.Adapter), err))
		}
	}
	file, err := localSplit(ctx, env, refs, tuned.Dataset)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(file); err != nil {
		return nil, agent.Permanent(fmt.Errorf("compare: the evaluated split %s is not readable here (connect the dataset to this node): %w", eval.DisplayPath(tuned.Dataset.File), err))
	}
	rows, err := eval.ReadRows(file)
	if err != nil {
		return nil, agent.Permanent(fmt.Errorf("compare: %w", err))
	}
	if len(rows) != tuned.Dataset.Rows {
		return nil, agent.Permanent(fmt.Errorf("compare: %s has %d rows, the evaluation saw %d", eval.DisplayPath(tuned.Dataset.File), len(rows), tuned.Dataset.Rows))
	}
	emit := env.Emit
	if emit == nil {
		emit = agent.Discard
	}
	opt := eval.Options{
		Metrics:       tuned.Metrics,
		MaxNewTokens:  tuned.Generation.MaxNewTokens,
		SampleIndices: tuned.SampleIndices,
		Temperature:   tuned.Generation.Temperature,
		Seed:          tuned.Generation.Seed,
		Progress: func(f float64, eta time.Duration, msg string) {
			emit.Progress(0.95*f, eta, "base model: "+msg)
		},
	}
	if tuned.Judge != nil {
		jc := eval.NewJudgeClient(tuned.Judge.URL, env.Params.String("judge_key"), tuned.Judge.Model)
		if env.HTTP != nil {
			jc.HTTP = env.HTTP
		}
		opt.Judge = jc
	} else if slices.Contains(opt.Metrics, eval.MetricJudge) {
		return nil, agent.Permanent(errors.New("compare: the evaluation used the judge metric but records no judge endpoint"))
	}
	emit.Progress(0, 0, "loading base model")
	lm, err := a.models.LoadModel(ctx, evaluate.LoadRequest{Device: env.Params.String("device"), Base: ref.BaseModel,
		Node: env.JobID + "/" + env.NodeID, OnGPUWait: evaluate.GPUWait(emit), Logger: env.Logger})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("compare: base model: %w", err)
	}
	defer lm.Close()
	base, err := eval.Evaluate(ctx, lm.Model, lm.Tokenizer, rows, opt)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("compare: base model: %w", err)
	}
	base.Model = eval.ModelRef{Path: recorded, BaseModel: recorded}
	base.Device = lm.Device
	base.Dataset = tuned.Dataset
	for _, w := range base.Warnings {
		emit.Log(slog.LevelWarn, "base model: "+w)
	}
	return base, nil
}

// portable rewrites what an evaluation report written before reports
// recorded references (by the evaluating worker's local paths) says about
// its model and split as references to the blob keys it also records
// (agent.Artifact.Ref), so they resolve here like a newer report's. A
// report that records references, or no blob keys, is left as it is.
func portable(e *eval.Evaluation) {
	if m := (agent.Artifact{Path: e.Model.Path, URI: e.Model.URI}); !agent.IsRef(m.Path) {
		e.Model.Path, e.Model.Adapter, e.Model.BaseModel, e.Model.History = m.Ref(m.Path), m.Ref(e.Model.Adapter), m.Ref(e.Model.BaseModel), m.Ref(e.Model.History)
	}
	if d := (agent.Artifact{Path: e.Dataset.Path, URI: e.Dataset.URI}); !agent.IsRef(d.Path) {
		e.Dataset.Path, e.Dataset.File = d.Ref(d.Path), d.Ref(e.Dataset.File)
	}
}

// resolver turns the references a report records (agent.IsRef) into local
// paths on this worker through Env.ResolveSource (the blob store), each
// once: a file under a folder already resolved is found in it. Other
// values (the user's own paths) are returned as they are.
type resolver struct {
	env  *agent.Env
	done map[string]string // reference -> local path
}

func newResolver(env *agent.Env) *resolver {
	return &resolver{env: env, done: map[string]string{}}
}

func (r *resolver) local(ctx context.Context, ref string) (string, error) {
	if !agent.IsRef(ref) {
		return ref, nil
	}
	if p, ok := r.done[ref]; ok {
		return p, nil
	}
	for k, p := range r.done {
		if rel, ok := strings.CutPrefix(ref, k); ok && strings.HasSuffix(k, "/") {
			return filepath.Join(p, filepath.FromSlash(rel)), nil
		}
	}
	if r.env.ResolveSource == nil {
		return "", agent.Permanent(fmt.Errorf("%s is a stored artifact and this run has no blob store to read it from", ref))
	}
	p, err := r.env.ResolveSource(ctx, ref, "")
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", ref, err)
	}
	r.done[ref] = p
	return p, nil
}

// localModel returns the evaluated model as this node reads it: the model
// handed to this node when one is (it wins over the report), else what the
// report records with its training history (and, withBase, its base
// model) resolved to local paths. The evaluated weights are not fetched
// (the base is re-run without them): Path and Adapter stay references.
func localModel(ctx context.Context, env *agent.Env, refs *resolver, rec eval.ModelRef, withBase bool) (eval.ModelRef, error) {
	if a, ok := env.Input(agent.Model); ok {
		r, err := evaluate.ResolveModel(a)
		if err != nil {
			return r, agent.Permanent(fmt.Errorf("compare: %w", err))
		}
		return r, nil
	}
	out := rec
	fields := []*string{&out.History}
	if withBase {
		fields = append(fields, &out.BaseModel)
	}
	for _, f := range fields {
		if *f == rec.Path {
			continue // a plain model without a separate base: runBase says so
		}
		p, err := refs.local(ctx, *f)
		if err != nil {
			return out, fmt.Errorf("compare: the evaluated model: %w", err)
		}
		*f = p
	}
	return out, nil
}

// localSplit returns the evaluated split as a local file here: from the
// dataset handed to this node when one is, else the report's reference
// resolved (its dataset folder first, so the training split beside it is
// there for the contamination check). "" with no error when the report
// names none.
func localSplit(ctx context.Context, env *agent.Env, refs *resolver, rec eval.DatasetRef) (string, error) {
	if a, ok := evaluate.PickDataset(env); ok {
		f, err := evaluate.ValidationFile(a.Path)
		if err != nil {
			return "", agent.Permanent(fmt.Errorf("compare: %w", err))
		}
		return f, nil
	}
	if strings.HasSuffix(rec.Path, "/") && strings.HasPrefix(rec.File, rec.Path) {
		if _, err := refs.local(ctx, rec.Path); err != nil {
			return "", fmt.Errorf("compare: the evaluated split: %w", err)
		}
	}
	f, err := refs.local(ctx, rec.File)
	if err != nil {
		return "", fmt.Errorf("compare: the evaluated split: %w", err)
	}
	return f, nil
}

// preference reads a DPO model's held-out statistics (the train agent's
// meta "val_dpo") into the report's preference section; nil otherwise.
func preference(meta map[string]any, conf float64) *eval.Preference {
	raw, ok := meta["val_dpo"]
	if !ok {
		return nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil
	}
	type stats struct {
		Loss     float64 `json:"loss"`
		Accuracy float64 `json:"reward_accuracy"`
		Margin   float64 `json:"reward_margin"`
		Pairs    int     `json:"pairs"`
		Ties     int     `json:"ties"`
	}
	var v struct {
		Beta           float64 `json:"beta"`
		Initial, Final stats
	}
	if json.Unmarshal(b, &v) != nil || v.Final.Pairs == 0 {
		return nil
	}
	if conf == 0 {
		conf = 0.95
	}
	k := int(math.Round(v.Final.Accuracy * float64(v.Final.Pairs)))
	lo, hi := eval.Wilson(k, v.Final.Pairs, conf)
	return &eval.Preference{Pairs: v.Final.Pairs, Beta: v.Beta, BaseAccuracy: v.Initial.Accuracy, BaseTies: v.Initial.Ties,
		TunedAccuracy: v.Final.Accuracy, TunedTies: v.Final.Ties, Lo: lo, Hi: hi, Margin: v.Final.Margin,
		BaseLoss: v.Initial.Loss, TunedLoss: v.Final.Loss}
}
