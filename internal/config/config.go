// Package config holds Whetstone's one configuration struct, read from an
// optional YAML file, WHET_* environment variables and command-line flags, in
// that order of increasing precedence.
package config

import (
	"bytes"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
)

// Config is everything `whet serve`, `whet worker` and `whet run` need.
type Config struct {
	// DataDir holds the SQLite database (whet.db), the blob folder (blobs/)
	// and scratch space (tmp/). Defaults to ./whet-data.
	DataDir string `yaml:"data_dir"`
	// Database is the metadata database: a SQLite file path (or
	// sqlite://PATH), or a PostgreSQL URL postgres://USER@HOST:PORT/DB.
	// Defaults to DataDir/whet.db.
	Database string `yaml:"database"`
	// WorkerID names a worker across restarts; a restarted worker takes the
	// nodes its previous life held back at once. Defaults to HOST-HASH-N
	// (HASH of the data folder, N the first free slot of DataDir/worker-N.lock).
	WorkerID string `yaml:"worker_id"`
	// Labels are what this worker advertises to nodes' requires.labels,
	// comma-separated (gpu-a100,eu).
	Labels string `yaml:"labels"`
	// GPUs overrides the number of GPUs a worker advertises (default: the
	// /dev/nvidiaN devices).
	GPUs int `yaml:"gpus"`
	// BlobDir is the local blob store's root. Defaults to DataDir/blobs.
	BlobDir string `yaml:"blob_dir"`
	// BlobURL selects an S3 blob store instead of BlobDir:
	// s3://BUCKET/PREFIX?endpoint=http://HOST:PORT&region=R&path_style=true,
	// credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
	BlobURL string `yaml:"blob_url"`
	// Events selects a cross-process event fan-out: redis://HOST:PORT/DB.
	// Empty: subscribers poll the store for other processes' events.
	Events string `yaml:"events"`
	// ScratchCacheBytes bounds the local cache of blobs downloaded for node
	// inputs when the blob store is not a local folder. Defaults to 10 GiB.
	ScratchCacheBytes int64 `yaml:"scratch_cache_bytes"`
	// Retain is the retention policy `whet gc` (and the server, hourly)
	// applies: comma-separated KIND=AGE, kinds jobs, events, cache, blobs,
	// ages like 30d or 12h; a kind not named is kept forever.
	Retain string `yaml:"retain"`
	// Addr is the API's listen address. Defaults to "127.0.0.1:8080" (this
	// machine only); listen on a network address with auth on.
	Addr string `yaml:"addr"`
	// WorkDir is the folder relative paths in pipeline params resolve
	// against. Defaults to the process's working folder.
	WorkDir string `yaml:"work_dir"`
	// Concurrency is how many nodes one worker process runs at once.
	// Defaults to 2.
	Concurrency int `yaml:"concurrency"`
	// MaxUploadBytes bounds one dataset upload. Defaults to 10 GiB.
	MaxUploadBytes int64 `yaml:"max_upload_bytes"`
	// MaxAttempts is a node's default number of tries. Defaults to 3.
	MaxAttempts int `yaml:"max_attempts"`
	// RetryBase is the first retry delay; each retry doubles it, with
	// ±25% jitter, up to RetryMax. Defaults to 2s and 5m.
	RetryBase time.Duration `yaml:"retry_base"`
	RetryMax  time.Duration `yaml:"retry_max"`
	// LeaseTimeout is how long a running node stays owned by its worker
	// without a heartbeat; after it a dead worker's node is delivered again.
	// Workers heartbeat every LeaseTimeout/3. Defaults to 30s.
	LeaseTimeout time.Duration `yaml:"lease_timeout"`
	// PollInterval is how often workers poll the queue, SSE streams poll the
	// event history for other processes' events, and running nodes check for
	// cancellation. Defaults to 500ms.
	PollInterval time.Duration `yaml:"poll_interval"`
	// Heartbeat is the SSE keep-alive comment interval. Defaults to 15s.
	Heartbeat time.Duration `yaml:"heartbeat"`
	// DryRunTimeout bounds a dry run (POST /api/v1/jobs?dry_run=true, which
	// runs data agents and a training warm-up inside the request, and
	// `whet run --dry-run`); past it the work is stopped and the request
	// answers 504 (whet run exits 1). Defaults to 5m.
	DryRunTimeout time.Duration `yaml:"dry_run_timeout"`
	// LogLevel is debug, info, warn or error. Defaults to info.
	LogLevel string `yaml:"log_level"`
	// BaseModels is a folder of Hugging Face models (each subfolder's name
	// is its model id) that /v1 fine-tunes and serves. Empty: none.
	BaseModels string `yaml:"base_models"`
	// AllowPath lists the server folders jobs submitted to the API may read
	// (dataset sources, base models, tokenizers), symlinks resolved. Empty:
	// the work folder while auth is off, nothing while it is on. `whet run`
	// is not restricted.
	AllowPath []string `yaml:"allow_path"`
	// AllowURL lists the outbound destinations jobs submitted to the API may
	// send requests to (an LLM judge's judge_url): host, host:port or a CIDR
	// range. Empty: any public address. Loopback, private, link-local and
	// other special addresses are refused unless listed. `whet run` is not
	// restricted.
	AllowURL []string `yaml:"allow_url"`
	// SecretKeyFile holds the 32-byte key (raw, hex or base64) that seals
	// params marked secret (AES-256-GCM). Defaults to DataDir/secret.key,
	// created on first start; workers on other machines need the same file.
	SecretKeyFile string `yaml:"secret_key_file"`
	// InferenceBatch is the most sequences /v1 decodes together. Defaults
	// to 16.
	InferenceBatch int `yaml:"inference_batch"`
	// InferenceQueue is the most /v1 sequences waiting for a slot before
	// requests get 429. Defaults to 64.
	InferenceQueue int `yaml:"inference_queue"`
	// LogFormat is text or json. Defaults to text.
	LogFormat string `yaml:"log_format"`
	// MetricsAddr, when set, serves /metrics on its own listener (and not on
	// the API address); `whet worker` serves metrics only there.
	MetricsAddr string `yaml:"metrics_addr"`
	// IsolateAgents runs each node of `whet serve` and `whet worker` in a
	// child process (`whet agent-exec`), so an agent that runs out of memory
	// or crashes fails its attempt instead of taking the server down.
	// Defaults to true; `whet run` runs agents in its own process.
	IsolateAgents *bool `yaml:"isolate_agents"`
	// AgentMemoryLimit is the most memory (anonymous RSS, bytes) one agent
	// process may use before it is killed and its attempt fails. Defaults
	// to three quarters of the machine's memory.
	AgentMemoryLimit int64 `yaml:"agent_memory_limit"`

	// Auth is auto, required or off. Defaults to auto: off when the listen
	// address is loopback, required otherwise.
	Auth string `yaml:"auth"`
	// InsecureNoAuth lets auth off serve a non-loopback address (logged as
	// a warning).
	InsecureNoAuth bool `yaml:"insecure_no_auth"`
	// JWTSecret is a file holding the HS256 shared secret for bearer JWTs.
	JWTSecretFile string `yaml:"jwt_secret_file"`
	// JWKSURL is where RS256/ES256 keys for bearer JWTs are fetched (OIDC).
	JWKSURL string `yaml:"jwks_url"`
	// JWTIssuer and JWTAudience, when set, must match a JWT's iss and aud.
	JWTIssuer   string `yaml:"jwt_issuer"`
	JWTAudience string `yaml:"jwt_audience"`
	// JWTTeamClaim and JWTRoleClaim name the claims holding team and role.
	// Default "team" and "role".
	JWTTeamClaim string `yaml:"jwt_team_claim"`
	JWTRoleClaim string `yaml:"jwt_role_claim"`
	// RateLimit is requests per second per key, e.g. 20/s (or 1200/m).
	// Empty: none.
	RateLimit string `yaml:"rate_limit"`
	// RateBurst is the rate limit's bucket. Defaults to twice the rate.
	RateBurst int `yaml:"rate_burst"`
	// MaxRunningJobs is how many jobs of one team run at once; more wait
	// pending. 0: no limit.
	MaxRunningJobs int `yaml:"max_running_jobs"`
	// QuotaBytes bounds what one team stores (datasets and models). 0: none.
	QuotaBytes int64 `yaml:"quota_bytes"`
	// TLSCert and TLSKey serve HTTPS (TLS 1.2 and later) with HSTS.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// CORSOrigins lists the origins allowed cross-origin requests ("*":
	// any). Empty: CORS is off.
	CORSOrigins []string `yaml:"cors_origin"`
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	var c Config
	c.fill()
	return c
}

func (c *Config) fill() {
	c.DataDir = cmp.Or(c.DataDir, "whet-data")
	c.Database = cmp.Or(strings.TrimPrefix(c.Database, "sqlite://"), filepath.Join(c.DataDir, "whet.db"))
	c.BlobDir = cmp.Or(c.BlobDir, filepath.Join(c.DataDir, "blobs"))
	c.SecretKeyFile = cmp.Or(c.SecretKeyFile, filepath.Join(c.DataDir, "secret.key"))
	c.Addr = cmp.Or(c.Addr, "127.0.0.1:8080")
	if c.WorkDir == "" {
		c.WorkDir, _ = os.Getwd()
	}
	c.Concurrency = cmp.Or(c.Concurrency, 2)
	c.MaxUploadBytes = cmp.Or(c.MaxUploadBytes, 10<<30)
	c.ScratchCacheBytes = cmp.Or(c.ScratchCacheBytes, 10<<30)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, 3)
	c.RetryBase = cmp.Or(c.RetryBase, 2*time.Second)
	c.RetryMax = cmp.Or(c.RetryMax, 5*time.Minute)
	c.LeaseTimeout = cmp.Or(c.LeaseTimeout, 30*time.Second)
	c.PollInterval = cmp.Or(c.PollInterval, 500*time.Millisecond)
	c.Heartbeat = cmp.Or(c.Heartbeat, 15*time.Second)
	c.DryRunTimeout = cmp.Or(c.DryRunTimeout, 5*time.Minute)
	c.LogLevel = cmp.Or(c.LogLevel, "info")
	c.InferenceBatch = cmp.Or(c.InferenceBatch, 16)
	c.InferenceQueue = cmp.Or(c.InferenceQueue, 64)
	c.LogFormat = cmp.Or(c.LogFormat, "text")
	if c.IsolateAgents == nil {
		on := true
		c.IsolateAgents = &on
	}
}

// Isolated reports whether agents run in child processes (IsolateAgents,
// true unless set false).
func (c *Config) Isolated() bool { return c.IsolateAgents == nil || *c.IsolateAgents }

// Validate reports the first bad field.
func (c *Config) Validate() error {
	switch {
	case c.Concurrency < 1 || c.Concurrency > 1000:
		return fmt.Errorf("config: concurrency: %d out of range [1,1000]", c.Concurrency)
	case c.BlobURL != "" && !strings.HasPrefix(c.BlobURL, "s3://"):
		return fmt.Errorf("config: blob_url: %q: want s3://BUCKET/PREFIX?endpoint=...", c.BlobURL)
	case c.Events != "" && !strings.HasPrefix(c.Events, "redis://") && !strings.HasPrefix(c.Events, "rediss://"):
		return fmt.Errorf("config: events: %q: want redis://HOST:PORT/DB", c.Events)
	case c.ScratchCacheBytes < 0:
		return fmt.Errorf("config: scratch_cache_bytes: must not be negative")
	case c.MaxUploadBytes < 1:
		return fmt.Errorf("config: max_upload_bytes: must be positive")
	case c.MaxAttempts < 1 || c.MaxAttempts > 100:
		return fmt.Errorf("config: max_attempts: %d out of range [1,100]", c.MaxAttempts)
	case c.RetryBase <= 0 || c.RetryMax < c.RetryBase:
		return fmt.Errorf("config: retry_base/retry_max: need 0 < retry_base <= retry_max")
	case c.LeaseTimeout < 300*time.Millisecond:
		return fmt.Errorf("config: lease_timeout: %s is below 300ms", c.LeaseTimeout)
	case c.PollInterval <= 0:
		return fmt.Errorf("config: poll_interval: must be positive")
	case c.Heartbeat <= 0:
		return fmt.Errorf("config: heartbeat: must be positive")
	case c.DryRunTimeout <= 0:
		return fmt.Errorf("config: dry_run_timeout: must be positive")
	case c.Auth != "" && c.Auth != "auto" && c.Auth != "required" && c.Auth != "off":
		return fmt.Errorf("config: auth: %q is not auto, required or off", c.Auth)
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return fmt.Errorf("config: tls_cert/tls_key: give both or neither")
	case c.AgentMemoryLimit < 0:
		return fmt.Errorf("config: agent_memory_limit: must not be negative")
	case c.MaxRunningJobs < 0 || c.QuotaBytes < 0 || c.RateBurst < 0:
		return fmt.Errorf("config: max_running_jobs/quota_bytes/rate_burst: must not be negative")
	case c.JWTSecretFile != "" && c.JWKSURL != "":
		return fmt.Errorf("config: jwt_secret_file/jwks_url: give one, not both")
	}
	if _, err := ParseRate(c.RateLimit); err != nil {
		return fmt.Errorf("config: rate_limit: %w", err)
	}
	if _, err := ParseRetain(c.Retain); err != nil {
		return fmt.Errorf("config: retain: %w", err)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log_level: %q is not debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "", "text", "json":
	default:
		return fmt.Errorf("config: log_format: %q is not text or json", c.LogFormat)
	}
	return nil
}

// setting is one configuration field as a flag and an environment variable.
type setting struct {
	name, help string
	ptr        any
}

func (c *Config) settings() []setting {
	return []setting{
		{"data-dir", "data folder: SQLite database, blobs, scratch (default ./whet-data)", &c.DataDir},
		{"database", "metadata database: a SQLite file (or sqlite://PATH) or postgres://USER@HOST:PORT/DB (default DATA_DIR/whet.db)", &c.Database},
		{"worker-id", "this worker's name across restarts (default HOST-HASH(data-dir)-N)", &c.WorkerID},
		{"labels", "labels this worker advertises to nodes' requires.labels, comma-separated", &c.Labels},
		{"gpus", "GPUs this worker advertises (default: count of /dev/nvidiaN)", &c.GPUs},
		{"blob-dir", "local blob store folder (default DATA_DIR/blobs)", &c.BlobDir},
		{"blob-url", "S3 blob store s3://BUCKET/PREFIX?endpoint=http://HOST:PORT&region=R&path_style=true (default: the local blob-dir)", &c.BlobURL},
		{"events", "cross-process event fan-out redis://HOST:PORT/DB (default: poll the store)", &c.Events},
		{"scratch-cache-bytes", "local cache of downloaded input blobs (default 10 GiB)", &c.ScratchCacheBytes},
		{"retain", "retention, e.g. jobs=30d,events=30d,cache=14d,blobs=1d (default: keep everything)", &c.Retain},
		{"addr", "API listen address (default 127.0.0.1:8080: this machine only)", &c.Addr},
		{"work-dir", "folder relative paths in params resolve against (default: current folder)", &c.WorkDir},
		{"concurrency", "nodes one worker runs at once (default 2)", &c.Concurrency},
		{"max-upload-bytes", "largest dataset upload in bytes (default 10 GiB)", &c.MaxUploadBytes},
		{"max-attempts", "default tries per node (default 3)", &c.MaxAttempts},
		{"retry-base", "first retry delay, doubled each retry (default 2s)", &c.RetryBase},
		{"retry-max", "largest retry delay (default 5m)", &c.RetryMax},
		{"lease-timeout", "a dead worker's node is redelivered after this (default 30s)", &c.LeaseTimeout},
		{"poll-interval", "queue, event and cancellation polling interval (default 500ms)", &c.PollInterval},
		{"heartbeat", "SSE keep-alive interval (default 15s)", &c.Heartbeat},
		{"dry-run-timeout", "longest a dry run (POST /api/v1/jobs?dry_run=true: then 504; whet run --dry-run: then exit 1) may take before it is stopped (default 5m)", &c.DryRunTimeout},
		{"log-level", "debug, info, warn or error (default info)", &c.LogLevel},
		{"base-models", "folder of Hugging Face models (subfolder name = model id) that /v1 fine-tunes and serves", &c.BaseModels},
		{"allow-path", "a server folder jobs may read (repeatable; env: a :-separated list); default: the work folder while auth is off", &c.AllowPath},
		{"allow-url", "an outbound host, host:port or CIDR jobs may call (judge_url; repeatable; env: a comma-separated list); default: public addresses only", &c.AllowURL},
		{"secret-key-file", "32-byte key sealing secret params such as judge_key (default DATA_DIR/secret.key, created)", &c.SecretKeyFile},
		{"inference-batch", "most sequences /v1 decodes together (default 16)", &c.InferenceBatch},
		{"inference-queue", "most /v1 sequences waiting before requests get 429 (default 64)", &c.InferenceQueue},
		{"log-format", "text or json (default text)", &c.LogFormat},
		{"isolate-agents", "run each node in a child process that a crash or out-of-memory kill ends without the server (default true)", &c.IsolateAgents},
		{"agent-memory-limit", "bytes of memory one agent process may use before it is killed (default: 3/4 of this machine's memory)", &c.AgentMemoryLimit},
		{"metrics-addr", "serve Prometheus /metrics on this address instead of the API's (worker: the only place)", &c.MetricsAddr},
		{"auth", "auto, required or off (default auto: off when listening on loopback only)", &c.Auth},
		{"insecure-no-auth", "allow --auth off on a non-loopback address", &c.InsecureNoAuth},
		{"jwt-secret-file", "file holding the HS256 secret for bearer JWTs", &c.JWTSecretFile},
		{"jwks-url", "JWKS URL for RS256/ES256 bearer JWTs (OIDC provider)", &c.JWKSURL},
		{"jwt-issuer", "required JWT iss", &c.JWTIssuer},
		{"jwt-audience", "required JWT aud", &c.JWTAudience},
		{"jwt-team-claim", "JWT claim naming the team (default team)", &c.JWTTeamClaim},
		{"jwt-role-claim", "JWT claim naming the role: admin, member or viewer (default role)", &c.JWTRoleClaim},
		{"rate-limit", "requests per key, e.g. 20/s or 600/m (default: none)", &c.RateLimit},
		{"rate-burst", "rate limit bucket size (default twice the rate)", &c.RateBurst},
		{"max-running-jobs", "jobs one team runs at once; more wait pending (default: no limit)", &c.MaxRunningJobs},
		{"quota-bytes", "bytes of datasets and models one team may store (default: no limit)", &c.QuotaBytes},
		{"tls-cert", "TLS certificate file (serve HTTPS, TLS 1.2+)", &c.TLSCert},
		{"tls-key", "TLS private key file", &c.TLSKey},
		{"cors-origin", "an origin allowed cross-origin requests, * for any (repeatable; default: CORS off)", &c.CORSOrigins},
	}
}

// EnvName is the environment variable of a flag: data-dir is WHET_DATA_DIR.
func EnvName(flagName string) string {
	return "WHET_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Loader binds a Config to a FlagSet, then loads file, environment and
// flags in order of precedence.
type Loader struct {
	cfg   Config
	flags Config
	fs    *flag.FlagSet
	file  string
}

// Bind registers the configuration flags (and -config) on fs.
func Bind(fs *flag.FlagSet) *Loader {
	l := &Loader{fs: fs}
	fs.StringVar(&l.file, "config", os.Getenv("WHET_CONFIG"), "optional YAML configuration file (env WHET_CONFIG)")
	for _, s := range l.flags.settings() {
		help := s.help + " (env " + EnvName(s.name) + ")"
		switch p := s.ptr.(type) {
		case *string:
			fs.StringVar(p, s.name, "", help)
		case *int:
			fs.IntVar(p, s.name, 0, help)
		case *int64:
			fs.Int64Var(p, s.name, 0, help)
		case *time.Duration:
			fs.DurationVar(p, s.name, 0, help)
		case *[]string:
			fs.Var((*listFlag)(p), s.name, help)
		case *bool:
			fs.BoolVar(p, s.name, false, help)
		case **bool:
			fs.Var(optBool{p}, s.name, help)
		}
	}
	return l
}

// Load returns the configuration after fs.Parse: file, then env (getenv,
// usually os.Getenv), then the flags that were set, then defaults.
func (l *Loader) Load(getenv func(string) string) (Config, error) {
	var c Config
	if l.file != "" {
		b, err := os.ReadFile(l.file)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		if c, err = Parse(bytes.NewReader(b)); err != nil {
			return c, fmt.Errorf("config %s: %w", l.file, err)
		}
	}
	settings := c.settings()
	for _, s := range settings {
		v := getenv(EnvName(s.name))
		if v == "" {
			continue
		}
		if s.name == "allow-url" { // host:port entries: a comma-separated list
			*s.ptr.(*[]string) = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
			continue
		}
		if err := set(s.ptr, v); err != nil {
			return c, fmt.Errorf("config: %s: %w", EnvName(s.name), err)
		}
	}
	set := map[string]bool{}
	l.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for i, s := range l.flags.settings() {
		if !set[s.name] {
			continue
		}
		switch p := s.ptr.(type) {
		case *string:
			*settings[i].ptr.(*string) = *p
		case *int:
			*settings[i].ptr.(*int) = *p
		case *int64:
			*settings[i].ptr.(*int64) = *p
		case *time.Duration:
			*settings[i].ptr.(*time.Duration) = *p
		case *[]string:
			*settings[i].ptr.(*[]string) = *p
		case *bool:
			*settings[i].ptr.(*bool) = *p
		case **bool:
			*settings[i].ptr.(**bool) = *p
		}
	}
	c.fill()
	return c, c.Validate()
}

func set(ptr any, v string) error {
	switch p := ptr.(type) {
	case *string:
		*p = v
	case *int:
		n, err := strconv.Atoi(v)
		if err != nil {
			return err
		}
		*p = n
	case *int64:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return err
		}
		*p = n
	case *time.Duration:
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		*p = d
	case *[]string:
		*p = filepath.SplitList(v)
	case *bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return err
		}
		*p = b
	case **bool:
		return optBool{p}.Set(v)
	}
	return nil
}

// optBool is a boolean flag that stays nil until given, so its default
// can be true.
type optBool struct{ p **bool }

func (o optBool) String() string {
	if o.p == nil || *o.p == nil {
		return ""
	}
	return strconv.FormatBool(**o.p)
}

func (o optBool) Set(v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return err
	}
	*o.p = &b
	return nil
}

func (o optBool) IsBoolFlag() bool { return true }

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// ServerFiles returns the server's own files and folders, which jobs may
// never read by path even inside an allowed folder: the data folder
// (every team's blobs, scratch, the cache), the blob folder, the SQLite
// database, the secret key and the JWT secret and TLS key files. They are
// absolute: a relative one is where the server opens it, in its current
// folder, not in WorkDir (which relative params, and so the sandbox,
// resolve against).
func (c *Config) ServerFiles() []string {
	in := []string{c.DataDir, c.BlobDir, c.SecretKeyFile, c.JWTSecretFile, c.TLSKey}
	if db := strings.TrimPrefix(c.Database, "sqlite://"); db != "" && !strings.Contains(db, "://") {
		in = append(in, db)
	}
	var out []string
	for _, f := range in {
		if strings.TrimSpace(f) == "" {
			continue
		}
		if abs, err := filepath.Abs(f); err == nil {
			f = abs
		}
		out = append(out, f)
	}
	return out
}

// SandboxRoots returns the folders jobs submitted to the server may read:
// AllowPath and BaseModels; with nothing allowed, the work folder when auth
// is off and nothing when it is on.
func (c *Config) SandboxRoots(authOn bool) []string {
	roots := append([]string(nil), c.AllowPath...)
	if len(roots) == 0 && !authOn {
		roots = append(roots, c.WorkDir)
	}
	if c.BaseModels != "" {
		roots = append(roots, c.BaseModels)
	}
	return roots
}

// ParseRate reads a rate such as 20/s, 600/m or 20 (per second) as
// requests per second; "" is 0 (no limit).
func ParseRate(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	num, unit, _ := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q: want a positive rate such as 20/s", s)
	}
	switch unit {
	case "", "s":
		return n, nil
	case "m":
		return n / 60, nil
	case "h":
		return n / 3600, nil
	}
	return 0, fmt.Errorf("%q: unit %q: want s, m or h", s, unit)
}

// AuthRequired resolves Auth: required is true, off false, auto (or "")
// true unless every address in addrs is loopback. It refuses off on a
// non-loopback address unless InsecureNoAuth.
func (c *Config) AuthRequired(addrs ...string) (bool, error) {
	loopback := true
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			host = a
		}
		ip := net.ParseIP(host)
		if !(host == "localhost" || ip != nil && ip.IsLoopback()) {
			loopback = false
		}
	}
	switch c.Auth {
	case "required":
		return true, nil
	case "off":
		if !loopback && !c.InsecureNoAuth {
			return false, fmt.Errorf("config: auth: off on the non-loopback address %s lets anyone on the network run jobs; use --auth required with API keys, or add --insecure-no-auth", strings.Join(addrs, ", "))
		}
		return false, nil
	}
	return !loopback, nil
}

// Parse reads a YAML configuration file (unknown keys are errors). Defaults
// are not applied.
func Parse(r io.Reader) (Config, error) {
	var c Config
	b, err := io.ReadAll(r)
	if err != nil {
		return c, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return c, nil
	}
	if err := yaml.UnmarshalWithOptions(b, &c, yaml.Strict(), yaml.CustomUnmarshaler(func(d *time.Duration, b []byte) error {
		s := strings.Trim(strings.TrimSpace(string(b)), `"'`)
		v, err := time.ParseDuration(s)
		if err != nil {
			return errors.New("bad duration " + s)
		}
		*d = v
		return nil
	})); err != nil {
		return c, errors.New(yaml.FormatError(err, false, true))
	}
	return c, nil
}
