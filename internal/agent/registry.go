package agent

import (
	"fmt"
	"sort"
	"sync"
)

// Registry maps agent names to agents. The zero value is ready to use.
type Registry struct {
	mu     sync.RWMutex
	agents map[string]Agent
}

// Register adds a. It returns an error if the name is empty or taken.
func (r *Registry) Register(a Agent) error {
	name := a.Spec().Name
	if name == "" {
		return fmt.Errorf("register agent: empty name")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.agents == nil {
		r.agents = map[string]Agent{}
	}
	if _, ok := r.agents[name]; ok {
		return fmt.Errorf("register agent %q: already registered", name)
	}
	r.agents[name] = a
	return nil
}

// Lookup returns the agent called name.
func (r *Registry) Lookup(name string) (Agent, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, ok := r.agents[name]
	return a, ok
}

// Specs returns every agent's spec, sorted by name.
func (r *Registry) Specs() []Spec {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Spec, 0, len(r.agents))
	for _, a := range r.agents {
		out = append(out, a.Spec())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
