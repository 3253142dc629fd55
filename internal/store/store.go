// Package store is Whetstone's metadata store: jobs and their nodes,
// datasets, models, the output cache and every job's event history.
// sqlitestore is the embedded implementation; a PostgreSQL one implements the
// same interfaces and passes the same storetest suite.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
)

// Sentinel errors; backends translate their own into these.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// Status is a job's or a node's state.
type Status string

// The statuses.
const (
	Pending   Status = "pending"
	Running   Status = "running"
	Succeeded Status = "succeeded"
	Failed    Status = "failed"
	Cancelled Status = "cancelled"
)

// Terminal reports whether s is final.
func (s Status) Terminal() bool { return s == Succeeded || s == Failed || s == Cancelled }

// Job is one run of a pipeline.
type Job struct {
	ID     string `json:"job_id"`
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Team owns the job, its nodes, events and outputs. "" is DefaultTeam.
	Team string `json:"team,omitempty"`
	// Spec is the validated pipeline (defaults applied), as JSON; clients
	// redraw and re-run a job from it.
	Spec       json.RawMessage `json:"spec,omitempty"`
	WorkDir    string          `json:"-"`
	CreatedAt  time.Time       `json:"created_at"`
	StartedAt  *time.Time      `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at"`
	Error      string          `json:"error"`
	// Datasets are the dataset versions the job's nodes read (AddJobDatasets).
	Datasets []DatasetVersion `json:"datasets"`
	Nodes    []*Node          `json:"nodes,omitempty"`
}

// DatasetVersion is one dataset, by content: an uploaded dataset (ID) or a
// file or folder read in place (Source, a path as the pipeline wrote it).
type DatasetVersion struct {
	ID     string `json:"dataset_id,omitempty"`
	Name   string `json:"name,omitempty"`
	Source string `json:"source,omitempty"`
	// Version is "sha256:" and the hex SHA-256 of the bytes (of a folder:
	// of its sorted listing of file names and SHA-256s). The same bytes give
	// the same version wherever they are.
	Version string `json:"version"`
}

// Lineage is where a model came from: its base model and every dataset
// version upstream of it in its job.
type Lineage struct {
	// BaseModel is the base model's display name: its folder name, never
	// a server path.
	BaseModel string `json:"base_model,omitempty"`
	// BaseModelVersion is "sha256:" and the hex SHA-256 of the base model's
	// content: of the lines "NAME SHA256\n", sorted by name, of its
	// config.json and weight files (*.safetensors, *.bin, *.pt, *.pth,
	// *.gguf). "" when the folder could not be read.
	BaseModelVersion string           `json:"base_model_version,omitempty"`
	Datasets         []DatasetVersion `json:"datasets"`
	// Chain is where the base model came from, oldest first: the original
	// base model (a folder, by BaseModel name and Version), then each
	// registered model trained from it in turn, down to this model's own
	// base (the last element, the one BaseModel names). One element when
	// the base is a folder; nil when no base model is known (and in
	// lineage recorded before chains).
	Chain []Ancestor `json:"chain,omitempty"`
}

// Ancestor is one model of a Lineage's Chain: the original base model (a
// folder: BaseModel, Version) or a registered model (ModelID, Name, JobID,
// Version, and the Datasets its own job trained it on). A registered
// model the store no longer has (or never had) is its ModelID alone.
type Ancestor struct {
	// ModelID is the registered model's id (mdl_...); "" for the
	// original base.
	ModelID string `json:"model_id,omitempty"`
	// Name is the registered model's name (job/node/output).
	Name string `json:"name,omitempty"`
	// BaseModel is the original base model's display name: its folder
	// name, never a server path. "" for a registered model.
	BaseModel string `json:"base_model,omitempty"`
	// Version is the model's content version, as Lineage's
	// BaseModelVersion; "" when unknown.
	Version string `json:"version,omitempty"`
	// JobID is the job that made the registered model.
	JobID string `json:"job_id,omitempty"`
	// Datasets are the dataset versions the registered model's job read
	// (its Lineage.Datasets).
	Datasets []DatasetVersion `json:"datasets,omitempty"`
}

// MergeDatasets returns a with the versions of b it lacks appended (same
// ID, Source and Version), in order.
func MergeDatasets(a, b []DatasetVersion) []DatasetVersion {
	for _, d := range b {
		dup := false
		for _, x := range a {
			if x.ID == d.ID && x.Source == d.Source && x.Version == d.Version {
				dup = true
				break
			}
		}
		if !dup {
			a = append(a, d)
		}
	}
	return a
}

// Node is one node of a job.
type Node struct {
	JobID       string         `json:"-"`
	ID          string         `json:"id"`
	Agent       string         `json:"agent"`
	Params      map[string]any `json:"params"`
	Preds       []string       `json:"-"`
	Status      Status         `json:"status"`
	Attempts    int            `json:"attempts"`
	MaxAttempts int            `json:"max_attempts"`
	// Deaths counts the attempts whose worker died holding the lease
	// (ReleaseDead); those attempts stay spent.
	Deaths     int              `json:"-"`
	Cache      bool             `json:"-"`
	Queued     bool             `json:"-"`
	LeaseOwner string           `json:"-"`
	LeaseUntil time.Time        `json:"-"`
	StartedAt  *time.Time       `json:"started_at"`
	FinishedAt *time.Time       `json:"finished_at"`
	Outputs    []agent.Artifact `json:"outputs"`
	Error      string           `json:"error"`
	CacheKey   string           `json:"-"`
	Cached     bool             `json:"cached"`
}

// NodeRef names a node.
type NodeRef struct{ JobID, NodeID string }

// Released is a node ReleaseDead handed back: its attempts so far (the dead
// one included) and how many of them died with their worker.
type Released struct {
	NodeRef
	Attempts, MaxAttempts, Deaths int
}

// Event is one entry of a job's history. Seq is assigned by AppendEvent:
// 1, 2, 3... per job, without gaps.
type Event struct {
	JobID string          `json:"job_id"`
	Seq   int64           `json:"seq"`
	Type  string          `json:"type"` // log, progress, metric, node, status
	Node  string          `json:"node,omitempty"`
	Time  time.Time       `json:"time"`
	Data  json.RawMessage `json:"data"`
}

// Dataset is an uploaded dataset file.
type Dataset struct {
	ID        string    `json:"dataset_id"`
	Name      string    `json:"name"`
	Team      string    `json:"team,omitempty"` // "" is DefaultTeam
	Size      int64     `json:"size"`
	SHA256    string    `json:"sha256"`
	Format    string    `json:"format"`
	BlobKey   string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	// Version is "sha256:" + SHA256: uploads of the same bytes have the
	// same version. A dataset is never changed after upload.
	Version string `json:"version"`
	// Profile (rows, detected format, columns, field lengths) and Sample
	// (the first rows in canonical form) are computed once at upload.
	// GetDataset returns them; ListDatasets leaves them out.
	Profile json.RawMessage `json:"profile,omitempty"`
	Sample  json.RawMessage `json:"sample,omitempty"`
	// Summary is the profile's headline, which ListDatasets returns in
	// place of Profile; nil from GetDataset and for datasets without a
	// profile.
	Summary *DatasetSummary `json:"summary,omitempty"`
}

// DatasetSummary is the headline of a dataset's profile.
type DatasetSummary struct {
	// Rows is the number of records read.
	Rows int `json:"rows"`
	// Format is the detected record format (alpaca, sharegpt, messages,
	// completion, text, preference, kto), not the file's type.
	Format string `json:"format"`
	// Columns are the source's column names in order; empty, not nil.
	Columns []string `json:"columns"`
	// Error says why the upload could not be profiled; the other fields
	// are then zero.
	Error string `json:"error,omitempty"`
}

// Summarize returns the summary of a profile as computed at upload (a
// profile report: rows, source_format, format, columns: [{name}]; or
// {"error": ...}). Returns nil for an empty or unreadable profile.
func Summarize(profile json.RawMessage) *DatasetSummary {
	var p struct {
		Rows         int    `json:"rows"`
		Format       string `json:"format"`
		SourceFormat string `json:"source_format"`
		Columns      []struct {
			Name string `json:"name"`
		} `json:"columns"`
		Error string `json:"error"`
	}
	if len(profile) == 0 || json.Unmarshal(profile, &p) != nil {
		return nil
	}
	s := &DatasetSummary{Rows: p.Rows, Format: p.SourceFormat, Columns: make([]string, 0, len(p.Columns)), Error: p.Error}
	if s.Format == "" {
		s.Format = p.Format
	}
	for _, c := range p.Columns {
		s.Columns = append(s.Columns, c.Name)
	}
	return s
}

// Model is a model artifact produced by a node.
type Model struct {
	ID        string         `json:"model_id"`
	Name      string         `json:"name"`
	Team      string         `json:"team,omitempty"` // "" is DefaultTeam
	JobID     string         `json:"job_id"`
	NodeID    string         `json:"node_id"`
	Output    string         `json:"output"`
	URI       string         `json:"uri"` // blob key; a folder when it ends in "/"
	Size      int64          `json:"size"`
	Files     []string       `json:"files"`
	Meta      map[string]any `json:"meta,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
	// Lineage is the base model and dataset versions the model came from;
	// nil when not recorded.
	Lineage *Lineage `json:"lineage,omitempty"`
}

// Format is what m's files are: its metadata's "format" when that is a
// non-empty string (peft-lora or hf for a trained model; adapter, merged or
// gguf for an export), else its output's name.
func (m *Model) Format() string {
	if f, ok := m.Meta["format"].(string); ok && f != "" {
		return f
	}
	return m.Output
}

// ListParams pages a list. Limit defaults to 50.
type ListParams struct {
	Limit, Offset int
	Status        Status // ListJobs only: filter when set
	// Query (ListModels, ListDatasets), when set, keeps the models whose
	// name, id or job id contains it, or the datasets whose name or id does,
	// ignoring the case of ASCII letters. It is plain text, not a pattern.
	Query string
	// Formats (ListModels, ListDatasets), when set, keeps the models whose
	// Format is one of them, or the datasets whose detected record format
	// (Summary.Format) is.
	Formats []string
	// After (ListModels), when set, pages by key instead of by position:
	// the list starts after the model that After names, in the newest-first
	// order (created earlier, or at the same time with a smaller id), so a
	// model created or deleted between pages neither shifts a later page
	// nor makes it skip or repeat one. Offset, if any, counts from there;
	// the total still counts every model the filters keep.
	After *Cursor
}

// Cursor is a model's place in ListModels' newest-first order: its
// CreatedAt and ID (which breaks ties). The model need not still exist.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// CursorOf returns m's place, to list the models after it.
func CursorOf(m *Model) *Cursor { return &Cursor{CreatedAt: m.CreatedAt, ID: m.ID} }

// ClaimParams takes a node's lease.
type ClaimParams struct {
	JobID, NodeID, Owner string
	Now, LeaseUntil      time.Time
}

// FinishNodeParams records a node's end.
type FinishNodeParams struct {
	JobID, NodeID string
	// Owner must hold the lease; "" skips the check.
	Owner    string
	Status   Status
	Outputs  []agent.Artifact
	Error    string
	CacheKey string
	Cached   bool
	At       time.Time
}

// Reader reads metadata.
type Reader interface {
	// GetJob returns the job with its nodes, or ErrNotFound.
	GetJob(ctx context.Context, id string) (*Job, error)
	// ListJobs returns jobs newest first, without nodes, and the total count.
	ListJobs(ctx context.Context, p ListParams) ([]*Job, int, error)
	// GetNode returns one node, or ErrNotFound.
	GetNode(ctx context.Context, jobID, nodeID string) (*Node, error)
	// ListEvents returns a job's events with Seq > after, in order, at most
	// limit (default 1000).
	ListEvents(ctx context.Context, jobID string, after int64, limit int) ([]Event, error)
	GetDataset(ctx context.Context, id string) (*Dataset, error)
	// FindDataset returns team's dataset ("" is DefaultTeam) with the given
	// SHA-256 and name, with its profile and sample (the oldest when there
	// are several), or ErrNotFound. A ForTeam reader finds only its own
	// team's.
	FindDataset(ctx context.Context, team, sha256, name string) (*Dataset, error)
	// ListDatasets returns datasets newest first, with Summary and without
	// Profile and Sample, filtered by p.Query and p.Formats, and the count
	// of every dataset the filters keep.
	ListDatasets(ctx context.Context, p ListParams) ([]*Dataset, int, error)
	GetModel(ctx context.Context, id string) (*Model, error)
	// ListModels returns models newest first, filtered by p.Query and
	// p.Formats, and the count of every model the filters keep.
	ListModels(ctx context.Context, p ListParams) ([]*Model, int, error)
	// GetCache returns the outputs team cached under key ("" team is
	// DefaultTeam). Teams never see each other's cache.
	GetCache(ctx context.Context, team, key string) ([]agent.Artifact, bool, error)
	// ActiveJobs returns the ids of jobs that are pending or running.
	ActiveJobs(ctx context.Context) ([]string, error)
	// StoredBytes sums the sizes of the datasets and models in scope (the
	// team's for a ForTeam reader, every team's otherwise).
	StoredBytes(ctx context.Context) (int64, error)
}

// Tx is a write transaction. Every method must see the transaction's own
// earlier writes.
type Tx interface {
	Reader
	// CreateJob inserts a job and its nodes.
	CreateJob(ctx context.Context, j *Job) error
	// SetJobStatus moves a job that is not terminal to status; it sets
	// started_at when moving to running and finished_at when terminal.
	// Returns false when the job was already terminal (or already had status).
	SetJobStatus(ctx context.Context, id string, status Status, errMsg string, at time.Time) (bool, error)
	// ClaimNode takes the lease of a pending node, or of a running node whose
	// lease expired, counting an attempt. It returns the node and whether it
	// was claimed; when not, the node's status tells why.
	ClaimNode(ctx context.Context, p *ClaimParams) (*Node, bool, error)
	// RenewLease extends the lease; false when owner lost it.
	RenewLease(ctx context.Context, jobID, nodeID, owner string, until time.Time) (bool, error)
	// FinishNode records a running node's end; false when the node was not
	// running or owner does not hold it.
	FinishNode(ctx context.Context, p *FinishNodeParams) (bool, error)
	// RetryNode gives a running node's lease back and sets it pending with
	// errMsg, for another attempt. False when owner does not hold it.
	RetryNode(ctx context.Context, jobID, nodeID, owner, errMsg string) (bool, error)
	// MarkQueued flags a node as handed to the queue; false when it already was.
	MarkQueued(ctx context.Context, jobID, nodeID string) (bool, error)
	// CancelNodes moves the job's pending nodes to cancelled.
	CancelNodes(ctx context.Context, jobID string, at time.Time) error
	// ReleaseDead sets running nodes whose worker is gone back to pending,
	// counting a death each, and returns them: leases that ended before
	// now, and, when ownerPrefix is not "", every lease whose owner starts
	// with it (a restarted worker's leases from before its restart). The
	// attempt their claim counted stays spent.
	ReleaseDead(ctx context.Context, now time.Time, ownerPrefix string) ([]Released, error)
	// ReleaseNode hands a running node owner holds back (pending) without
	// spending an attempt: its claim's attempt is given back. For a clean
	// shutdown. False when owner does not hold it.
	ReleaseNode(ctx context.Context, jobID, nodeID, owner string) (bool, error)
	// AppendEvent assigns e.Seq (the job's next) and stores e.
	AppendEvent(ctx context.Context, e *Event) error
	// AppendActiveEvent is AppendEvent for a job that is pending or running;
	// it stores nothing and returns false once the job has ended, so a job's
	// history ends with its final status event.
	AppendActiveEvent(ctx context.Context, e *Event) (bool, error)
	// PutCache caches outputs under team and key ("" team is DefaultTeam).
	PutCache(ctx context.Context, team, key string, outputs []agent.Artifact) error
	// AddJobDatasets records dataset versions a job read, keeping those
	// already recorded (MergeDatasets). Returns ErrNotFound for an unknown
	// job.
	AddJobDatasets(ctx context.Context, jobID string, ds []DatasetVersion) error
	// CreateDataset and CreateModel store d.Team/m.Team ("" is DefaultTeam).
	CreateDataset(ctx context.Context, d *Dataset) error
	// CreateDatasetOnce stores d unless d.Team already has a dataset with
	// d.SHA256 and d.Name (FindDataset): then it stores nothing and returns
	// that dataset and false. Otherwise it stores d and returns d and true.
	// Calls racing on the same team, SHA-256 and name store one dataset. A
	// d without SHA256 is always stored.
	CreateDatasetOnce(ctx context.Context, d *Dataset) (*Dataset, bool, error)
	CreateModel(ctx context.Context, m *Model) error
	// DeleteModel removes a model's record (not its files); ErrNotFound
	// when there is none.
	DeleteModel(ctx context.Context, id string) error
	// DeleteDataset removes an uploaded dataset's record (not its blob);
	// ErrNotFound when there is none. Jobs keep the dataset versions they
	// recorded (Job.Datasets) and models their lineage.
	DeleteDataset(ctx context.Context, id string) error
	// Raw is the backend's transaction handle (*sql.Tx for sqlitestore), for
	// a queue that enqueues in the same transaction.
	Raw() any
}

// Store is a metadata store.
type Store interface {
	Reader
	// ForTeam returns a Reader whose every query is limited to team's rows
	// (a team_id condition in the query itself): another team's job, node,
	// event history, dataset, model or cache entry is ErrNotFound (or
	// absent from lists and counts). ActiveJobs is limited too. "" is
	// DefaultTeam.
	ForTeam(team string) Reader
	Keys
	Audit
	// InTx runs fn in one write transaction, committing when it returns nil.
	InTx(ctx context.Context, fn func(tx Tx) error) error
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
	Close() error
}

// DefaultTeam owns everything when auth is off, and every row written
// before teams existed.
const DefaultTeam = "default"

// TeamOr returns team, or DefaultTeam when it is "".
func TeamOr(team string) string {
	if team == "" {
		return DefaultTeam
	}
	return team
}

// Role is what a key or token may do.
type Role string

// The roles: admin works on every team; member reads and writes its team;
// viewer only reads its team.
const (
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
	RoleViewer Role = "viewer"
)

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleMember || r == RoleViewer }

// Key is an API key. Only its hash is stored; the key itself is shown once.
type Key struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Team       string     `json:"team"`
	Role       Role       `json:"role"`
	Hash       string     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// Keys stores API keys.
type Keys interface {
	// CreateKey stores k (ID and Hash set by the caller). ErrConflict when
	// the id or hash exists.
	CreateKey(ctx context.Context, k *Key) error
	// KeyByHash returns the key with hash, revoked or expired ones too (the
	// caller decides); ErrNotFound when none.
	KeyByHash(ctx context.Context, hash string) (*Key, error)
	// ListKeys lists keys newest first; team "" lists every team's.
	ListKeys(ctx context.Context, team string, p ListParams) ([]*Key, int, error)
	// RevokeKey sets a key's revoked time. team "" matches any team.
	// ErrNotFound when there is no such key (in team).
	RevokeKey(ctx context.Context, team, id string, at time.Time) error
	// TouchKey records a key's last use.
	TouchKey(ctx context.Context, id string, at time.Time) error
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID        int64     `json:"id"`
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"` // key id or JWT subject; "" when unknown
	Team      string    `json:"team"`
	Action    string    `json:"action"` // e.g. "POST /api/v1/jobs", "auth.failed"
	Resource  string    `json:"resource"`
	Status    int       `json:"status"`
	Client    string    `json:"client"`
	RequestID string    `json:"request_id"`
}

// Audit is the append-only audit log: entries are added, never changed.
type Audit interface {
	// AppendAudit assigns e.ID and stores e.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// ListAudit lists entries newest first; team "" lists every team's.
	ListAudit(ctx context.Context, team string, p ListParams) ([]AuditEntry, int, error)
}

// NewID returns a new id with prefix, sortable by creation time:
// prefix_<12 hex of unix ms><8 hex random>.
func NewID(prefix string) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return fmt.Sprintf("%s_%012x%s", prefix, time.Now().UnixMilli(), hex.EncodeToString(b[:]))
}
