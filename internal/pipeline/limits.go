package pipeline

import (
	"bytes"
	"fmt"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Limits on a spec document, checked before it is decoded, so that a small
// body cannot make the server build a huge value: aliases that expand
// exponentially ("billion laughs"), or nesting deep enough to exhaust memory
// in the decoder.
const (
	// MaxDepth is the deepest nesting of mappings and sequences.
	MaxDepth = 64
	// MaxValues is how many values (scalars, mappings, sequences) the
	// document may hold once every alias is expanded.
	MaxValues = 200_000
)

// checkShape refuses documents deeper than MaxDepth or larger than MaxValues
// once aliases are expanded. Flow-style nesting ([[[...]]], JSON) is counted
// on the raw bytes first, since even parsing it costs memory per level.
func checkShape(data []byte) error {
	if err := flowDepth(data); err != nil {
		return err
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil // the decoder reports syntax errors with line and column
	}
	w := &shapeWalker{anchors: map[string]ast.Node{}, sizes: map[ast.Node]int{}}
	total := 0
	for _, d := range f.Docs {
		n, err := w.size(d.Body, 0)
		if err != nil {
			return err
		}
		total += n
		if total > MaxValues {
			return w.tooLarge(d.Body)
		}
	}
	return nil
}

// flowDepth scans brackets outside quoted strings, and the leading run of
// each line (indentation and "- " sequence markers), whose length bounds
// block nesting.
func flowDepth(data []byte) error {
	for n, l := range bytes.Split(data, []byte("\n")) {
		markers, indent := 0, 0
		for i := 0; i < len(l); i++ {
			if l[i] == ' ' {
				indent++
			} else if l[i] == '-' && (i+1 == len(l) || l[i+1] == ' ') {
				markers++
			} else {
				break
			}
		}
		if markers > MaxDepth || indent > 8*MaxDepth {
			return &SyntaxError{Msg: fmt.Sprintf("line %d: nested deeper than %d levels", n+1, MaxDepth)}
		}
	}
	depth, line := 0, 1
	var quote byte
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c == '\n' {
			line++
		}
		switch {
		case quote == '"':
			if c == '\\' {
				i++
			} else if c == '"' {
				quote = 0
			}
		case quote == '\'':
			if c == '\'' {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || data[i-1] == ' ' || data[i-1] == '\t' || data[i-1] == '\n'):
			for i < len(data) && data[i] != '\n' {
				i++
			}
			i--
		case c == '[' || c == '{':
			depth++
			if depth > MaxDepth {
				return &SyntaxError{Msg: fmt.Sprintf("line %d: nested deeper than %d levels", line, MaxDepth)}
			}
		case c == ']' || c == '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return nil
}

type shapeWalker struct {
	anchors map[string]ast.Node
	sizes   map[ast.Node]int // expanded sizes of anchored values
}

func (w *shapeWalker) tooLarge(n ast.Node) error {
	line := 0
	if n != nil && n.GetToken() != nil {
		line = n.GetToken().Position.Line
	}
	return &SyntaxError{Msg: fmt.Sprintf("line %d: the document expands to more than %d values (YAML aliases or a huge body)", line, MaxValues)}
}

// size returns the number of values n stands for with aliases expanded.
func (w *shapeWalker) size(n ast.Node, depth int) (int, error) {
	if n == nil {
		return 0, nil
	}
	if depth > MaxDepth {
		line := 0
		if n.GetToken() != nil {
			line = n.GetToken().Position.Line
		}
		return 0, &SyntaxError{Msg: fmt.Sprintf("line %d: nested deeper than %d levels", line, MaxDepth)}
	}
	if s, ok := w.sizes[n]; ok {
		return s, nil
	}
	total := 1
	add := func(c ast.Node, d int) error {
		s, err := w.size(c, d)
		if err != nil {
			return err
		}
		total += s
		if total > MaxValues {
			return w.tooLarge(n)
		}
		return nil
	}
	switch x := n.(type) {
	case *ast.DocumentNode:
		return w.size(x.Body, depth)
	case *ast.TagNode:
		return w.size(x.Value, depth)
	case *ast.AnchorNode:
		s, err := w.size(x.Value, depth)
		if err != nil {
			return 0, err
		}
		if x.Name != nil {
			w.anchors[x.Name.String()] = x.Value
		}
		if x.Value != nil {
			w.sizes[x.Value] = s
		}
		return s, nil
	case *ast.AliasNode:
		name := ""
		if x.Value != nil {
			name = x.Value.String()
		}
		target, ok := w.anchors[name]
		if !ok {
			return 1, nil // undefined alias: the decoder reports it
		}
		return w.sizes[target], nil
	case *ast.MappingNode:
		for _, v := range x.Values {
			if err := add(v, depth+1); err != nil {
				return 0, err
			}
		}
		return total, nil
	case *ast.MappingValueNode:
		if err := add(x.Key, depth); err != nil {
			return 0, err
		}
		if err := add(x.Value, depth); err != nil {
			return 0, err
		}
		return total - 1, nil
	case *ast.MappingKeyNode:
		return w.size(x.Value, depth)
	case *ast.SequenceNode:
		for _, v := range x.Values {
			if err := add(v, depth+1); err != nil {
				return 0, err
			}
		}
		return total, nil
	}
	return 1, nil
}
