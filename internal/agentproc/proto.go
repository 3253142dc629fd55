package agentproc

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
)

// The protocol: JSON lines. The parent writes a start message, then replies
// to the child's requests, on the child's stdin; closing stdin cancels the
// run. The child writes events, requests and one result on file descriptor
// 3 (its stdout and stderr stay free for whatever libraries print).
const (
	tStart    = "start"    // parent → child: agent, env
	tReply    = "reply"    // parent → child: answer to request ID
	tLog      = "log"      // child → parent: Emitter.Log
	tSlog     = "slog"     // child → parent: a record of Env.Logger
	tProgress = "progress" // child → parent: Emitter.Progress
	tMetrics  = "metrics"  // child → parent: Emitter.Metrics
	tResolve  = "resolve"  // child → parent: Env.ResolveSource(Ref, Kind)
	tSave     = "ckpt_save"
	tRestore  = "ckpt_restore"
	tResult   = "result" // child → parent: Outputs, or Error (Permanent)
)

// The calls a start message asks for (msg.Mode).
const (
	modeRun      = ""         // Agent.Run: outputs
	modeEstimate = "estimate" // Estimator.Estimate: an estimate
)

// maxLine bounds one protocol line the parent reads (an agent's outputs
// with their meta are the largest).
const maxLine = 16 << 20

// msg is every protocol message; Type says which fields are set.
type msg struct {
	Type string `json:"t"`
	ID   int64  `json:"id,omitempty"`

	// start
	Agent       string    `json:"agent,omitempty"`
	Mode        string    `json:"mode,omitempty"` // modeRun or modeEstimate
	Env         *startEnv `json:"env,omitempty"`
	MemoryLimit int64     `json:"memory_limit,omitempty"`

	// log, slog, progress
	Level   slog.Level    `json:"level,omitempty"`
	Message string        `json:"msg,omitempty"`
	Attrs   []attr        `json:"attrs,omitempty"`
	Frac    jfloat        `json:"fraction,omitempty"`
	ETA     time.Duration `json:"eta,omitempty"`

	// metrics
	Step   int               `json:"step,omitempty"`
	Values map[string]jfloat `json:"values,omitempty"`

	// requests and replies
	Ref  string `json:"ref,omitempty"`  // resolve
	Kind string `json:"kind,omitempty"` // resolve: the kind of the param naming Ref (agent.Env.ResolveSource)
	Dir  string `json:"dir,omitempty"`  // ckpt_save: the folder; ckpt_restore: the parent folder
	Path string `json:"path,omitempty"` // resolve reply

	// result, reply
	Outputs   []agent.Artifact `json:"outputs,omitempty"`
	Estimate  *agent.Estimate  `json:"estimate,omitempty"` // result of modeEstimate
	Error     string           `json:"error,omitempty"`
	Permanent bool             `json:"permanent,omitempty"`
}

// startEnv is the serialisable part of an agent.Env.
type startEnv struct {
	JobID   string           `json:"job_id"`
	NodeID  string           `json:"node_id"`
	Attempt int              `json:"attempt"`
	Params  map[string]any   `json:"params"`
	Inputs  []agent.Artifact `json:"inputs"`
	OutDir  string           `json:"out_dir"`
	WorkDir string           `json:"work_dir"`
	// Which callbacks the parent serves, and the outbound policy.
	Resolve     bool     `json:"resolve,omitempty"`
	Checkpoints bool     `json:"checkpoints,omitempty"`
	HTTP        bool     `json:"http,omitempty"`
	AllowURL    []string `json:"allow_url,omitempty"`
	Debug       bool     `json:"debug,omitempty"` // forward Debug records of Env.Logger
}

// jfloat is a float64 that survives JSON as NaN and ±Inf too (a diverging
// loss is news, not an encoding error).
type jfloat float64

func (f jfloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func (f *jfloat) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("float %q: %w", s, err)
		}
		*f = jfloat(v)
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = jfloat(v)
	return nil
}

// attr is a slog.Attr on the wire, its kind kept for the common ones.
type attr struct {
	Key  string          `json:"k"`
	Kind string          `json:"kind,omitempty"` // int, uint, float, bool, dur, time; empty: string
	V    json.RawMessage `json:"v"`
}

// encodeAttrs flattens groups into dotted keys.
func encodeAttrs(prefix string, as []slog.Attr, out []attr) []attr {
	for _, a := range as {
		v := a.Value.Resolve()
		key := a.Key
		if prefix != "" {
			key = prefix + "." + key
		}
		var kind string
		var raw any
		switch v.Kind() {
		case slog.KindGroup:
			out = encodeAttrs(key, v.Group(), out)
			continue
		case slog.KindInt64:
			kind, raw = "int", v.Int64()
		case slog.KindUint64:
			kind, raw = "uint", v.Uint64()
		case slog.KindFloat64:
			kind, raw = "float", jfloat(v.Float64())
		case slog.KindBool:
			kind, raw = "bool", v.Bool()
		case slog.KindDuration:
			kind, raw = "dur", int64(v.Duration())
		case slog.KindTime:
			kind, raw = "time", v.Time().Format(time.RFC3339Nano)
		default:
			raw = v.String()
		}
		b, err := json.Marshal(raw)
		if err != nil {
			b, _ = json.Marshal(fmt.Sprint(raw))
			kind = ""
		}
		out = append(out, attr{Key: key, Kind: kind, V: b})
	}
	return out
}

func decodeAttrs(as []attr) []slog.Attr {
	out := make([]slog.Attr, 0, len(as))
	for _, a := range as {
		var v slog.Value
		switch a.Kind {
		case "int":
			var n int64
			json.Unmarshal(a.V, &n)
			v = slog.Int64Value(n)
		case "uint":
			var n uint64
			json.Unmarshal(a.V, &n)
			v = slog.Uint64Value(n)
		case "float":
			var f jfloat
			f.UnmarshalJSON(a.V)
			v = slog.Float64Value(float64(f))
		case "bool":
			var b bool
			json.Unmarshal(a.V, &b)
			v = slog.BoolValue(b)
		case "dur":
			var n int64
			json.Unmarshal(a.V, &n)
			v = slog.DurationValue(time.Duration(n))
		case "time":
			var s string
			json.Unmarshal(a.V, &s)
			t, _ := time.Parse(time.RFC3339Nano, s)
			v = slog.TimeValue(t)
		default:
			var s string
			json.Unmarshal(a.V, &s)
			v = slog.StringValue(s)
		}
		out = append(out, slog.Attr{Key: a.Key, Value: v})
	}
	return out
}

func toJFloats(m map[string]float64) map[string]jfloat {
	out := make(map[string]jfloat, len(m))
	for k, v := range m {
		out[k] = jfloat(v)
	}
	return out
}

func fromJFloats(m map[string]jfloat) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = float64(v)
	}
	return out
}
