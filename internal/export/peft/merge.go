package peft

import (
	"fmt"
	"strings"
)

// Source gives a model's tensors by Hugging Face name as float32 with their
// PyTorch shape (the same contract as convert.Source).
type Source interface {
	Names() []string
	Shape(name string) ([]int, bool)
	Float32(name string) ([]float32, []int, error)
}

// Merged returns a view of base with the adapter merged into each adapted
// module's weight, W' = W + s·B·A, computed in float64 and rounded once to
// float32. Weights are merged when read, one tensor at a time.
func Merged(base Source, a *Adapter) (Source, error) {
	m := &merged{base: base, layers: map[string]*Layer{}}
	for _, l := range a.Layers {
		name := l.Module + ".weight"
		shape, ok := base.Shape(name)
		if !ok {
			return nil, fmt.Errorf("adapter module %s: base model has no %s", l.Module, name)
		}
		if len(shape) != 2 || shape[0] != l.Out || shape[1] != l.In {
			return nil, fmt.Errorf("adapter module %s: base weight is %v, adapter is [%d, %d]", l.Module, shape, l.Out, l.In)
		}
		m.layers[name] = l
	}
	return m, nil
}

type merged struct {
	base   Source
	layers map[string]*Layer
}

func (m *merged) Names() []string                 { return m.base.Names() }
func (m *merged) Shape(name string) ([]int, bool) { return m.base.Shape(name) }

func (m *merged) Float32(name string) ([]float32, []int, error) {
	w, shape, err := m.base.Float32(name)
	if err != nil {
		return nil, nil, err
	}
	l, ok := m.layers[name]
	if !ok {
		return w, shape, nil
	}
	acc := make([]float64, l.In)
	for o := 0; o < l.Out; o++ {
		clear(acc)
		for k := 0; k < l.Rank; k++ {
			b := float64(l.B[o*l.Rank+k])
			for i, v := range l.A[k*l.In : (k+1)*l.In] {
				acc[i] += b * float64(v)
			}
		}
		row := w[o*l.In : (o+1)*l.In]
		for i := range row {
			row[i] = float32(float64(row[i]) + l.Scale*acc[i])
		}
	}
	return w, shape, nil
}

// ShortTarget maps a module path to the target name PEFT lists in
// target_modules ("model.layers.0.self_attn.q_proj" → "q_proj").
func ShortTarget(module string) string {
	if i := strings.LastIndex(module, "."); i >= 0 {
		return module[i+1:]
	}
	return module
}
