package pipeline

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/whetstone/whetstone/internal/agent"
)

// Lookup finds an agent by name; *agent.Registry satisfies it.
type Lookup interface {
	Lookup(name string) (agent.Agent, bool)
}

// Bounds on param values that no schema states: the longest string and the
// most items of an array or members of a free-form object.
const (
	MaxString = 64 << 10
	MaxItems  = 10_000
)

var idPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// PathPolicy decides which server paths a job may read;
// *sandbox.Policy implements it.
type PathPolicy interface {
	Resolve(path string) (string, error)
}

// Options are what ValidateWith checks beyond the agents' schemas.
type Options struct {
	// Paths, when set, must allow every param that names a server path
	// (agent.Param.Kind "path", "model", "tokenizer" or "dataset"); an
	// uploaded dataset id (ds_...) as a dataset source, or a registered
	// model id (mdl_...) as a model or tokenizer, is not a path: the
	// orchestrator checks it is the team's (and, as a tokenizer, that it
	// keeps one).
	Paths PathPolicy
	// URLs, when set, must allow every param that names an outbound URL
	// (agent.Param.Kind "url", such as judge_url).
	URLs URLPolicy
}

// URLPolicy decides which outbound URLs a job may call (package outbound).
type URLPolicy interface {
	Check(rawURL string) error
}

// Validate checks s against the agents in reg and returns a copy whose
// params have defaults applied and numbers coerced to their declared types.
// It returns a *ValidationError listing every problem.
func Validate(s *Spec, reg Lookup) (*Spec, error) {
	return ValidateWith(s, reg, Options{})
}

// ValidateWith is Validate with the checks of opts.
func ValidateWith(s *Spec, reg Lookup, opts Options) (*Spec, error) {
	v := &validator{paths: opts.Paths, urls: opts.URLs}
	out := &Spec{Name: s.Name, Edges: slices.Clone(s.Edges)}
	if strings.TrimSpace(s.Name) == "" {
		v.add("", "name", "is required")
	} else if len(s.Name) > 200 {
		v.add("", "name", "is longer than 200 characters")
	}
	if len(s.Nodes) == 0 {
		v.add("", "nodes", "at least one node is required")
	}
	specs := map[string]agent.Spec{}
	seen := map[string]bool{}
	for i, n := range s.Nodes {
		id := n.ID
		switch {
		case n.ID == "":
			v.add("", fmt.Sprintf("nodes[%d].id", i), "is required")
			id = fmt.Sprintf("#%d", i)
		case !idPattern.MatchString(n.ID):
			v.add(n.ID, "id", "must start with a letter and hold only letters, digits, '_' and '-' (at most 64)")
		case seen[n.ID]:
			v.add(n.ID, "id", "is used by more than one node")
		}
		seen[n.ID] = true
		if n.MaxAttempts < 0 || n.MaxAttempts > 100 {
			v.add(id, "max_attempts", fmt.Sprintf("%d is out of range [1,100]", n.MaxAttempts))
		}
		if r := n.Requires; r != nil {
			if r.CPUs < 0 || r.CPUs > 4096 {
				v.add(id, "requires.cpus", fmt.Sprintf("%d is out of range [0,4096]", r.CPUs))
			}
			if r.MemoryGB < 0 || r.MemoryGB > 1<<20 {
				v.add(id, "requires.memory_gb", fmt.Sprintf("%g is out of range [0,1048576]", r.MemoryGB))
			}
			if r.GPUs < 0 || r.GPUs > 64 {
				v.add(id, "requires.gpus", fmt.Sprintf("%d is out of range [0,64]", r.GPUs))
			}
			for k, l := range r.Labels {
				if l == "" || len(l) > 128 {
					v.add(id, fmt.Sprintf("requires.labels[%d]", k), "must be 1 to 128 characters")
				}
			}
		}
		nn := n
		if n.Agent == "" {
			v.add(id, "agent", "is required")
			out.Nodes = append(out.Nodes, nn)
			continue
		}
		a, ok := reg.Lookup(n.Agent)
		if !ok {
			v.add(id, "agent", fmt.Sprintf("unknown agent %q", n.Agent))
			out.Nodes = append(out.Nodes, nn)
			continue
		}
		sp := a.Spec()
		specs[n.ID] = sp
		nn.Params = v.params(id, "params", sp.Params, n.Params)
		out.Nodes = append(out.Nodes, nn)
	}

	// Edges: dangling, self, duplicate.
	type pair struct{ a, b string }
	dup := map[pair]bool{}
	for i, e := range s.Edges {
		f := fmt.Sprintf("edges[%d]", i)
		bad := false
		if !seen[e.From] || e.From == "" {
			v.add(e.To, f+".from", fmt.Sprintf("unknown node %q", e.From))
			bad = true
		}
		if !seen[e.To] || e.To == "" {
			v.add(e.From, f+".to", fmt.Sprintf("unknown node %q", e.To))
			bad = true
		}
		if bad {
			continue
		}
		if e.From == e.To {
			v.add(e.From, f, "an edge cannot join a node to itself")
			continue
		}
		if dup[pair{e.From, e.To}] {
			v.add(e.To, f, fmt.Sprintf("duplicate edge %s -> %s", e.From, e.To))
		}
		dup[pair{e.From, e.To}] = true
		// Artifact types.
		fs, okf := specs[e.From]
		ts, okt := specs[e.To]
		if okf && okt {
			if !compatible(fs.Outputs, ts.Inputs) {
				v.add(e.To, f, fmt.Sprintf("incompatible artifacts: %s (%s) outputs %s but %s (%s) accepts %s",
					e.From, fs.Name, types(fs.Outputs), e.To, ts.Name, types(ts.Inputs)))
			}
		}
	}
	if cyc := cycle(s); len(cyc) > 0 {
		v.add(cyc[0], "edges", "cycle: "+strings.Join(append(cyc, cyc[0]), " -> "))
	}
	// Required inputs.
	for _, n := range s.Nodes {
		sp, ok := specs[n.ID]
		if !ok {
			continue
		}
		fed := map[agent.ArtifactType]int{}
		for _, p := range s.Preds(n.ID) {
			if ps, ok := specs[p]; ok {
				for _, o := range ps.Outputs {
					fed[o.Type]++
				}
			} else if !seen[p] {
				continue
			} else {
				// Unknown predecessor agent: don't pile on.
				for _, in := range sp.Inputs {
					fed[in.Type]++
				}
			}
		}
		for _, in := range sp.Inputs {
			if in.Required && fed[in.Type] == 0 {
				v.add(n.ID, "inputs."+in.Name, fmt.Sprintf("missing required %s input: add an edge from a node that outputs a %s", in.Type, in.Type))
			}
		}
	}
	if len(v.errs) > 0 {
		return nil, &ValidationError{Errors: v.errs}
	}
	return out, nil
}

func compatible(outs, ins []agent.Port) bool {
	for _, o := range outs {
		for _, i := range ins {
			if o.Type == i.Type {
				return true
			}
		}
	}
	return false
}

func types(ps []agent.Port) string {
	if len(ps) == 0 {
		return "nothing"
	}
	var ts []string
	for _, p := range ps {
		if !slices.Contains(ts, string(p.Type)) {
			ts = append(ts, string(p.Type))
		}
	}
	return strings.Join(ts, ", ")
}

// cycle returns the nodes of one cycle, or nil.
func cycle(s *Spec) []string {
	adj := map[string][]string{}
	for _, e := range s.Edges {
		if e.From != e.To {
			adj[e.From] = append(adj[e.From], e.To)
		}
	}
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var found []string
	var visit func(n string) bool
	visit = func(n string) bool {
		color[n] = grey
		stack = append(stack, n)
		for _, m := range adj[n] {
			switch color[m] {
			case grey:
				i := slices.Index(stack, m)
				found = slices.Clone(stack[i:])
				return true
			case white:
				if visit(m) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		return false
	}
	for _, n := range s.Nodes {
		if color[n.ID] == white && visit(n.ID) {
			return found
		}
	}
	return nil
}

// TopoOrder returns node ids so that every edge goes forward; ties keep spec
// order. s must be valid.
func TopoOrder(s *Spec) []string {
	indeg := map[string]int{}
	for _, e := range s.Edges {
		indeg[e.To]++
	}
	var order []string
	done := map[string]bool{}
	for len(order) < len(s.Nodes) {
		progressed := false
		for _, n := range s.Nodes {
			if done[n.ID] || indeg[n.ID] > 0 {
				continue
			}
			done[n.ID] = true
			order = append(order, n.ID)
			for _, m := range s.Succs(n.ID) {
				indeg[m]--
			}
			progressed = true
		}
		if !progressed {
			break
		}
	}
	return order
}

type validator struct {
	errs  []FieldError
	paths PathPolicy
	urls  URLPolicy
}

// serverPath checks a string param that names a server path.
func (v *validator) serverPath(node, f string, d agent.Param, s string) bool {
	if d.Kind == "url" && v.urls != nil && s != "" {
		if err := v.urls.Check(s); err != nil {
			v.add(node, f, err.Error())
			return false
		}
		return true
	}
	if v.paths == nil || s == "" {
		return true
	}
	switch d.Kind {
	case "path", "dataset":
		if strings.HasPrefix(s, "ds_") {
			return true // an uploaded dataset id (eval_sets take them too)
		}
	case "model", "tokenizer":
		if strings.HasPrefix(s, "mdl_") {
			return true // a registered model id (the orchestrator checks the team's)
		}
	default:
		return true
	}
	if strings.Contains(s, "://") || strings.HasPrefix(s, agent.BlobRef) {
		// blob: names a stored object directly (agents use it between
		// nodes); from a user it would bypass teams and the sandbox.
		v.add(node, f, fmt.Sprintf("%q: only server paths and uploaded dataset ids are supported here", s))
		return false
	}
	if _, err := v.paths.Resolve(s); err != nil {
		v.add(node, f, err.Error())
		return false
	}
	return true
}

func (v *validator) add(node, field, msg string) {
	v.errs = append(v.errs, FieldError{Node: node, Field: field, Message: msg})
}

// params checks values against decls and returns them with defaults.
func (v *validator) params(node, path string, decls []agent.Param, vals map[string]any) map[string]any {
	out := map[string]any{}
	known := map[string]bool{}
	for _, d := range decls {
		known[d.Name] = true
		f := path + "." + d.Name
		val, ok := vals[d.Name]
		if !ok || val == nil {
			if d.Required {
				v.add(node, f, "is required")
			} else if d.Default != nil {
				out[d.Name] = d.Default
			}
			continue
		}
		if c, ok := v.value(node, f, d, val); ok {
			out[d.Name] = c
		}
	}
	var unknown []string
	for k := range vals {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		msg := "unknown param"
		if len(decls) > 0 {
			names := make([]string, len(decls))
			for i, d := range decls {
				names[i] = d.Name
			}
			msg += " (known: " + strings.Join(names, ", ") + ")"
		}
		v.add(node, path+"."+k, msg)
	}
	return out
}

func typeName(x any) string {
	switch x.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64, float64, int, uint64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", x)
}

// value checks one value against d, returning it coerced.
func (v *validator) value(node, f string, d agent.Param, val any) (any, bool) {
	bad := func(want string) (any, bool) {
		v.add(node, f, fmt.Sprintf("must be %s, got %s", want, typeName(val)))
		return nil, false
	}
	switch d.Type {
	case agent.String:
		s, ok := val.(string)
		if !ok {
			return bad("a string")
		}
		if len(s) > MaxString {
			v.add(node, f, fmt.Sprintf("is longer than %d bytes", MaxString))
			return nil, false
		}
		if len(d.Enum) > 0 && !slices.Contains(d.Enum, s) {
			v.add(node, f, fmt.Sprintf("%q is not one of %s", s, strings.Join(d.Enum, ", ")))
			return nil, false
		}
		if d.Check != nil {
			if err := d.Check(s); err != nil {
				v.add(node, f, err.Error())
				return nil, false
			}
		}
		if !v.serverPath(node, f, d, s) {
			return nil, false
		}
		return s, true
	case agent.Boolean:
		b, ok := val.(bool)
		if !ok {
			return bad("a boolean")
		}
		return b, true
	case agent.Integer:
		var n int64
		switch x := val.(type) {
		case int64:
			n = x
		case int:
			n = int64(x)
		case float64:
			if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
				v.add(node, f, fmt.Sprintf("must be an integer, got %v", x))
				return nil, false
			}
			n = int64(x)
		default:
			return bad("an integer")
		}
		if !v.inRange(node, f, d, float64(n)) {
			return nil, false
		}
		return n, true
	case agent.Number:
		var x float64
		switch y := val.(type) {
		case int64:
			x = float64(y)
		case int:
			x = float64(y)
		case float64:
			x = y
		default:
			return bad("a number")
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			v.add(node, f, "must be a finite number")
			return nil, false
		}
		if !v.inRange(node, f, d, x) {
			return nil, false
		}
		return x, true
	case agent.Array:
		arr, ok := val.([]any)
		if !ok {
			if ss, ok2 := val.([]string); ok2 {
				for _, s := range ss {
					arr = append(arr, s)
				}
			} else {
				return bad("an array")
			}
		}
		if len(arr) > MaxItems {
			v.add(node, f, fmt.Sprintf("has %d items, more than %d", len(arr), MaxItems))
			return nil, false
		}
		// Items keep the param's Kind: each path of eval_sets is checked
		// as a scalar path param is.
		item := agent.Param{Type: d.Items, Enum: d.Enum, Min: d.Min, Max: d.Max, Kind: d.Kind}
		if d.Items == "" {
			return arr, true
		}
		out := make([]any, 0, len(arr))
		okAll := true
		for i, e := range arr {
			c, ok := v.value(node, fmt.Sprintf("%s[%d]", f, i), item, e)
			okAll = okAll && ok
			out = append(out, c)
		}
		return out, okAll
	case agent.Object:
		m, ok := val.(map[string]any)
		if !ok {
			return bad("an object")
		}
		if len(d.Fields) > 0 {
			return v.params(node, f, d.Fields, m), true
		}
		if d.Values == "" {
			// A schema without fields or a value type is a bug of the
			// agent (a test walks every schema); accept nothing unchecked.
			v.add(node, f, "this object param has no schema")
			return nil, false
		}
		if len(m) > MaxItems {
			v.add(node, f, fmt.Sprintf("has %d members, more than %d", len(m), MaxItems))
			return nil, false
		}
		out := make(map[string]any, len(m))
		okAll := true
		for k, e := range m {
			c, ok := v.value(node, f+"."+k, agent.Param{Type: d.Values, Enum: d.Enum, Min: d.Min, Max: d.Max, Kind: d.Kind}, e)
			okAll = okAll && ok
			out[k] = c
		}
		return out, okAll
	}
	return val, true
}

func (v *validator) inRange(node, f string, d agent.Param, x float64) bool {
	if d.Min != nil && x < *d.Min {
		v.add(node, f, fmt.Sprintf("%v is below the minimum %v", x, *d.Min))
		return false
	}
	if d.Max != nil && x > *d.Max {
		v.add(node, f, fmt.Sprintf("%v is above the maximum %v", x, *d.Max))
		return false
	}
	return true
}
