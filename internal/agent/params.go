package agent

import (
	"fmt"
	"math"
)

// Params are an agent's validated params with defaults applied. Getters
// return the zero value when a param is absent or of another type; the
// orchestrator validates types before an agent runs.
type Params map[string]any

// String returns the string param name.
func (p Params) String(name string) string {
	s, _ := p[name].(string)
	return s
}

// Int returns the integer param name.
func (p Params) Int(name string) int {
	switch v := p[name].(type) {
	case int:
		return v
	case int64:
		return int(v)
	case float64:
		return int(math.Round(v))
	case uint64:
		return int(v)
	}
	return 0
}

// Float returns the number param name.
func (p Params) Float(name string) float64 {
	switch v := p[name].(type) {
	case float64:
		return v
	case int:
		return float64(v)
	case int64:
		return float64(v)
	case uint64:
		return float64(v)
	}
	return 0
}

// Bool returns the boolean param name.
func (p Params) Bool(name string) bool {
	b, _ := p[name].(bool)
	return b
}

// Strings returns the array-of-strings param name.
func (p Params) Strings(name string) []string {
	switch v := p[name].(type) {
	case []string:
		return v
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return nil
}

// Object returns the object param name as Params (nil when absent).
func (p Params) Object(name string) Params {
	switch v := p[name].(type) {
	case map[string]any:
		return Params(v)
	case Params:
		return v
	}
	return nil
}

// Has reports whether name is set.
func (p Params) Has(name string) bool {
	_, ok := p[name]
	return ok
}

// F64 returns a pointer to v, for Param.Min and Param.Max.
func F64(v float64) *float64 { return &v }
