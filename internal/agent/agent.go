// Package agent defines the contract between Whetstone's pipeline orchestrator
// and the units of work it runs (dataset, validate, preprocess, train, evaluate,
// compare, export).
//
// An Agent declares a Spec (name, typed params, input and output artifact types,
// whether it needs a GPU) and runs with an Env: validated params with defaults
// applied, the artifacts of its predecessors resolved to local paths, an empty
// output folder, and an Emitter for structured events. It returns the artifacts
// it produced, with paths relative to Env.OutDir; the orchestrator stores them.
//
// Agents are stateless: everything a run needs comes through Env, and everything
// it produces goes to OutDir or the Emitter.
package agent

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ArtifactType is the type of a value flowing along a pipeline edge.
type ArtifactType string

// The artifact types. An edge A→B is valid when some output type of A is an
// input type of B.
const (
	Dataset ArtifactType = "dataset" // a dataset file (JSONL, CSV, ...) or folder of splits
	Model   ArtifactType = "model"   // a model folder (HF layout, PEFT adapter, GGUF, ...)
	Report  ArtifactType = "report"  // a JSON report (profile, validation, evaluation, ...)
)

// Artifact is one output of a node, handed to its successors.
type Artifact struct {
	Type ArtifactType `json:"type"`
	// Name distinguishes several outputs of one type, e.g. "train" and
	// "validation", or "profile". Unique within a node's outputs.
	Name string `json:"name"`
	// Path is a local file or folder. Agents return it relative to Env.OutDir;
	// in Env.Inputs it is absolute and readable.
	Path string `json:"path,omitempty"`
	// URI is where the orchestrator stored the artifact (blob key); set by the
	// orchestrator, not by agents.
	URI string `json:"uri,omitempty"`
	// Meta holds small, JSON-encodable facts successors and the UI use
	// (rows, format, base_model, method, metrics, ...).
	Meta map[string]any `json:"meta,omitempty"`
}

// BlobRef is the prefix of a portable reference to a stored artifact:
// "blob:KEY", KEY its blob key (a folder's ends in "/"), or a file under a
// folder artifact's key. Reports and meta that successors read name
// artifacts this way, never by the local path one worker read them at:
// Env.ResolveSource turns such a reference into a readable local path on any
// worker, whatever its data folder.
const BlobRef = "blob:"

// Ref returns a portable reference to local, the artifact's local Path or a
// file or folder under it: BlobRef + URI (+ the path under a folder
// artifact) when the artifact is stored. It returns local unchanged when
// the artifact has no URI (an agent run outside the orchestrator, on the
// user's own files) or local is not inside a.Path; "" stays "".
func (a Artifact) Ref(local string) string {
	if local == "" || a.URI == "" || a.Path == "" {
		return local
	}
	rel, err := filepath.Rel(a.Path, local)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return local
	}
	if rel == "." {
		return BlobRef + a.URI
	}
	if !strings.HasSuffix(a.URI, "/") {
		return local // a file artifact has nothing under it
	}
	return BlobRef + a.URI + filepath.ToSlash(rel)
}

// IsRef reports whether s is a reference the platform resolves
// (Env.ResolveSource) rather than a local path: a blob reference (BlobRef)
// or a produced model's id ("mdl_...").
func IsRef(s string) bool {
	return strings.HasPrefix(s, BlobRef) || strings.HasPrefix(s, "mdl_")
}

// ParamType is the JSON type of a param.
type ParamType string

// The param types.
const (
	String  ParamType = "string"
	Integer ParamType = "integer"
	Number  ParamType = "number"
	Boolean ParamType = "boolean"
	Array   ParamType = "array"  // of Items
	Object  ParamType = "object" // with Fields
)

// Param declares one typed param of an agent. It drives validation, the
// defaults, GET /api/v1/agents (the UI's forms) and the OpenAPI document.
type Param struct {
	Name        string    `json:"name"`
	Type        ParamType `json:"type"`
	Description string    `json:"description"`
	// Default is applied when the param is absent. Nil means no default.
	Default  any  `json:"default,omitempty"`
	Required bool `json:"required,omitempty"`
	// Min and Max bound integer and number params (inclusive).
	Min *float64 `json:"minimum,omitempty"`
	Max *float64 `json:"maximum,omitempty"`
	// Enum lists the allowed values of a string param, or of the items of an
	// array of strings.
	Enum []string `json:"enum,omitempty"`
	// Items is the item type of an Array param.
	Items ParamType `json:"items,omitempty"`
	// Fields are the members of an Object param.
	Fields []Param `json:"fields,omitempty"`
	// Values is the type of every member of an Object param whose member
	// names are free (a map such as columns: {instruction: prompt}); an
	// Object param has Fields or Values.
	Values ParamType `json:"values,omitempty"`
	// Kind says what a string holds: "path" (a server path), "dataset" (a
	// path or an uploaded dataset id), "model" (a model folder or a
	// registered model id), "tokenizer" (a folder with a tokenizer, or a
	// registered model that keeps one), "url", "secret". The server decides
	// which of them a job may name by it (which paths, which team's stored
	// objects); the UI picks controls by it. Optional.
	Kind string `json:"kind,omitempty"`
	// Check, when set, is run on a string param's value after the schema
	// checks when a pipeline is validated (at submit time); its error is
	// reported on the param's field. It states what the schema cannot (a
	// device name such as cuda:N). It is not part of the JSON schema.
	Check func(string) error `json:"-"`
}

// Port declares an input or output of an agent.
type Port struct {
	Type ArtifactType `json:"type"`
	// Name of the output ("train", "report", ...) or a label for the input.
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Required inputs must be fed by an edge. Ignored for outputs.
	Required bool `json:"required,omitempty"`
	// Multiple inputs accept several artifacts of the type.
	Multiple bool `json:"multiple,omitempty"`
}

// Spec is what an agent declares about itself.
type Spec struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Category    string  `json:"category,omitempty"` // "data", "training", "evaluation", "export"
	Params      []Param `json:"params"`
	Inputs      []Port  `json:"inputs"`
	Outputs     []Port  `json:"outputs"`
	GPU         bool    `json:"gpu"` // true when the agent can use a GPU
}

// Agent is a unit of work in a pipeline.
type Agent interface {
	Spec() Spec
	// Run does the work. It must return promptly once ctx is done, with
	// ctx.Err() or an error wrapping it. Errors caused by bad input (a
	// malformed file, an unknown model) should be wrapped with Permanent so
	// the orchestrator does not retry them.
	Run(ctx context.Context, env *Env) ([]Artifact, error)
}

// Env is everything one run of an agent gets.
type Env struct {
	JobID   string
	NodeID  string
	Attempt int // 1 on the first try
	// Params are validated and have defaults applied.
	Params Params
	// Inputs are the outputs of the node's predecessors, in edge order, with
	// absolute local Paths.
	Inputs []Artifact
	// OutDir is an empty folder for this run's outputs.
	OutDir string
	// WorkDir is the folder relative paths in params are resolved against
	// (where `whet run` was started, or the server's working folder).
	WorkDir string
	Emit    Emitter
	Logger  *slog.Logger
	// ResolveSource turns a dataset or model reference (a local path, an
	// uploaded dataset id, an s3:// URI) into a readable local path. kind is
	// the Kind of the param that names ref ("" when none says): for
	// KindTokenizer a stored model folder is fetched with only its
	// tokenizer's files (tokenizer.Files), not its weights. It may be nil in
	// tests, where sources are plain paths.
	ResolveSource func(ctx context.Context, ref, kind string) (string, error)
	// HTTP is the client for outbound requests (an LLM judge); on a server
	// it reaches only the addresses the outbound policy allows. Nil means a
	// plain client (`whet run`, tests).
	HTTP *http.Client
	// Checkpoints keeps the node's checkpoints in the blob store, so a later
	// attempt on any worker, or the same node re-run in a new job, resumes
	// from the latest. Nil outside the orchestrator.
	Checkpoints Checkpoints
}

// Checkpoints stores a long node's checkpoints away from its worker. They
// belong to the node's content (agent, params, inputs), not to one attempt.
type Checkpoints interface {
	// Save uploads the local checkpoint folder dir as the one at step,
	// then drops older ones.
	Save(ctx context.Context, step int, dir string) error
	// Restore downloads the latest complete checkpoint into
	// parent/checkpoint-STEP and returns STEP, or 0 when there is none.
	Restore(ctx context.Context, parent string) (int, error)
}

// KindTokenizer is the Param.Kind of a tokenizer param, and the kind a
// source resolved for its tokenizer alone is resolved as (Env.Resolve).
const KindTokenizer = "tokenizer"

// Resolve returns a readable local path for ref, a param or meta value
// naming a source (a path, an uploaded dataset, a registered model, a
// BlobRef), for a param of kind (its Param.Kind; KindTokenizer when only
// the tokenizer's files are read): through ResolveSource when set, which
// alone decides what a job may read; else (tests, agents run outside the
// orchestrator) ref itself, relative to WorkDir. Returns an error when ref
// is empty, or a permanent one when it names nothing.
func (e *Env) Resolve(ctx context.Context, ref, kind string) (string, error) {
	if ref == "" {
		return "", Permanent(errors.New("empty source"))
	}
	if e.ResolveSource != nil {
		return e.ResolveSource(ctx, ref, kind)
	}
	p := ref
	if !filepath.IsAbs(p) {
		p = filepath.Join(e.WorkDir, p)
	}
	if _, err := os.Stat(p); err != nil {
		return "", Permanent(err) // retrying finds no file either
	}
	return p, nil
}

// Input returns the first input artifact of type t, or false.
func (e *Env) Input(t ArtifactType) (Artifact, bool) {
	for _, a := range e.Inputs {
		if a.Type == t {
			return a, true
		}
	}
	return Artifact{}, false
}

// InputsOf returns every input artifact of type t, in order.
func (e *Env) InputsOf(t ArtifactType) []Artifact {
	var out []Artifact
	for _, a := range e.Inputs {
		if a.Type == t {
			out = append(out, a)
		}
	}
	return out
}

// Emitter receives an agent's structured events. Implementations must be
// safe for concurrent use and must never block on slow consumers.
type Emitter interface {
	// Log records a log line.
	Log(level slog.Level, msg string, attrs ...slog.Attr)
	// Progress reports completion in [0,1], an ETA (0 when unknown) and a
	// short message such as "step 40/100".
	Progress(fraction float64, eta time.Duration, message string)
	// Metrics reports named values at a step (loss, learning_rate,
	// grad_norm, tokens_per_s, ...).
	Metrics(step int, values map[string]float64)
}

// Discard is an Emitter that drops everything.
var Discard Emitter = discard{}

type discard struct{}

func (discard) Log(slog.Level, string, ...slog.Attr)    {}
func (discard) Progress(float64, time.Duration, string) {}
func (discard) Metrics(int, map[string]float64)         {}

// PermanentError marks an error that retrying cannot fix (bad input).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err so the orchestrator fails the node without retrying.
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err, or an error it wraps, is permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}
