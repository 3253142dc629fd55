package api

import (
	"bytes"
	"cmp"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"
)

//go:embed docs.html.tmpl
var docsFS embed.FS

var docsTmpl = template.Must(template.New("docs.html.tmpl").Funcs(template.FuncMap{
	"lower": strings.ToLower,
	"join":  strings.Join,
}).ParseFS(docsFS, "docs.html.tmpl"))

// docsHandler serves /docs: the API reference rendered server-side from the
// OpenAPI document, with inline CSS and no external resources, so it works
// offline. The page is rendered once, on the first request.
func docsHandler(oapi *huma.OpenAPI) http.HandlerFunc {
	var (
		once sync.Once
		page []byte
		err  error
	)
	return func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { page, err = renderDocs(oapi) })
		if err != nil {
			http.Error(w, "render docs: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		w.Write(page)
	}
}

// renderDocs renders the reference page for oapi. It works on the JSON form
// of the document (what /openapi.json serves).
func renderDocs(oapi *huma.OpenAPI) ([]byte, error) {
	raw, err := json.Marshal(oapi)
	if err != nil {
		return nil, fmt.Errorf("marshal openapi: %w", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("unmarshal openapi: %w", err)
	}
	comps := obj(obj(doc["components"])["schemas"])
	d := &docsRender{schemas: comps}
	p := docsPage{}
	info := obj(doc["info"])
	p.Title, _ = info["title"].(string)
	p.Version, _ = info["version"].(string)
	p.Description, _ = info["description"].(string)

	byTag := map[string]*docsTag{}
	for _, path := range sortedKeys(obj(doc["paths"])) {
		item := obj(obj(doc["paths"])[path])
		for _, m := range []string{"get", "head", "post", "put", "patch", "delete", "options"} {
			op := obj(item[m])
			if op == nil {
				continue
			}
			o := d.operation(m, path, op)
			tag := "other"
			if tags, _ := op["tags"].([]any); len(tags) > 0 {
				tag = fmt.Sprint(tags[0])
			}
			if byTag[tag] == nil {
				byTag[tag] = &docsTag{Name: tag}
				p.Tags = append(p.Tags, byTag[tag])
			}
			byTag[tag].Ops = append(byTag[tag].Ops, o)
		}
	}
	slices.SortStableFunc(p.Tags, func(a, b *docsTag) int { return cmp.Compare(a.Name, b.Name) })
	for _, name := range sortedKeys(comps) {
		p.Schemas = append(p.Schemas, docsSchema{Name: name, Rows: d.rows(obj(comps[name]), map[string]bool{name: true}, 0)})
	}
	var buf bytes.Buffer
	if err := docsTmpl.Execute(&buf, p); err != nil {
		return nil, fmt.Errorf("render docs: %w", err)
	}
	return buf.Bytes(), nil
}

type docsPage struct {
	Title, Version, Description string
	Tags                        []*docsTag
	Schemas                     []docsSchema
}

// Depths lists the nesting levels the stylesheet indents.
func (docsPage) Depths() []int { return []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9} }

type docsTag struct {
	Name string
	Ops  []docsOp
}

type docsOp struct {
	ID, Method, Path, Summary, Description string
	Params                                 []docsParam
	Body                                   *docsContent
	Responses                              []docsResponse
}

type docsParam struct {
	Name, In, Type, Description, Constraints string
	Required                                 bool
}

// docsContent is a request or response body: its media types and schema.
type docsContent struct {
	Required bool
	Types    []string
	Ref      string // component name when the schema is a $ref
	Rows     []docsRow
}

type docsResponse struct {
	Status, Description string
	Error               bool
	Content             *docsContent
}

type docsSchema struct {
	Name string
	Rows []docsRow
}

// docsRow is one field of a schema flattened into a table; Depth indents it
// under its parent.
type docsRow struct {
	Depth                                int
	Name, Type, Ref, Description, Constr string
	Required                             bool
}

type docsRender struct{ schemas map[string]any }

func (d *docsRender) operation(method, path string, op map[string]any) docsOp {
	o := docsOp{Method: strings.ToUpper(method), Path: path}
	o.ID, _ = op["operationId"].(string)
	o.Summary, _ = op["summary"].(string)
	o.Description, _ = op["description"].(string)
	params, _ := op["parameters"].([]any)
	for _, pa := range params {
		pm := obj(pa)
		s := obj(pm["schema"])
		typ, _ := d.typeOf(s)
		prm := docsParam{Type: typ, Constraints: constraints(s)}
		prm.Name, _ = pm["name"].(string)
		prm.In, _ = pm["in"].(string)
		prm.Required, _ = pm["required"].(bool)
		prm.Description, _ = pm["description"].(string)
		if prm.Description == "" {
			prm.Description, _ = s["description"].(string)
		}
		o.Params = append(o.Params, prm)
	}
	if rb := obj(op["requestBody"]); rb != nil {
		o.Body = d.content(obj(rb["content"]))
		o.Body.Required, _ = rb["required"].(bool)
	}
	resps := obj(op["responses"])
	codes := sortedKeys(resps)
	slices.SortStableFunc(codes, func(a, b string) int { return cmp.Compare(statusOrder(a), statusOrder(b)) })
	for _, code := range codes {
		rm := obj(resps[code])
		r := docsResponse{Status: code}
		r.Description, _ = rm["description"].(string)
		if c := obj(rm["content"]); len(c) > 0 {
			r.Content = d.content(c)
		}
		n, _ := strconv.Atoi(code)
		r.Error = code == "default" || n >= 400
		if r.Content != nil && slices.Contains(r.Content.Types, "application/problem+json") {
			r.Error = true
			if r.Content.Ref != "" {
				r.Content.Rows = nil // the problem schema is shown once, under Schemas
			}
		}
		o.Responses = append(o.Responses, r)
	}
	return o
}

// statusOrder sorts numeric statuses first, then "default".
func statusOrder(code string) int {
	if n, err := strconv.Atoi(strings.ReplaceAll(code, "X", "0")); err == nil {
		return n
	}
	return 1000
}

func (d *docsRender) content(c map[string]any) *docsContent {
	out := &docsContent{Types: sortedKeys(c)}
	for _, t := range out.Types {
		s := obj(obj(c[t])["schema"])
		if s == nil {
			continue
		}
		seen := map[string]bool{}
		if ref, ok := s["$ref"].(string); ok {
			out.Ref = refName(ref)
			seen[out.Ref] = true
			s = obj(d.schemas[out.Ref])
		}
		out.Rows = d.rows(s, seen, 0)
		if len(out.Rows) == 0 {
			typ, ref := d.typeOf(s)
			out.Rows = []docsRow{{Name: "(body)", Type: typ, Ref: ref, Constr: constraints(s), Description: str(s["description"])}}
		}
		break // every media type of an operation shares one schema here
	}
	return out
}

// rows flattens the fields of object schema s (and of the objects nested in
// it, resolving $refs) into table rows. seen holds the component names on
// the current path so recursive schemas stop.
func (d *docsRender) rows(s map[string]any, seen map[string]bool, depth int) []docsRow {
	if depth > 8 {
		return nil
	}
	s, _ = d.resolve(s)
	var out []docsRow
	for _, key := range []string{"oneOf", "anyOf", "allOf"} {
		alts, _ := s[key].([]any)
		for i, a := range alts {
			as := obj(a)
			typ, ref := d.typeOf(as)
			out = append(out, docsRow{Depth: depth, Name: fmt.Sprintf("(%s %d)", key, i+1), Type: typ, Ref: ref,
				Description: str(as["description"]), Constr: constraints(as)})
			out = append(out, d.children(as, seen, depth+1)...)
		}
	}
	props := obj(s["properties"])
	req := map[string]bool{}
	if r, ok := s["required"].([]any); ok {
		for _, n := range r {
			req[fmt.Sprint(n)] = true
		}
	}
	for _, name := range sortedKeys(props) {
		ps := obj(props[name])
		typ, ref := d.typeOf(ps)
		out = append(out, docsRow{Depth: depth, Name: name, Type: typ, Ref: ref, Required: req[name],
			Description: str(ps["description"]), Constr: constraints(ps)})
		out = append(out, d.children(ps, seen, depth+1)...)
	}
	if ap := obj(s["additionalProperties"]); len(ap) > 0 && len(props) == 0 {
		typ, ref := d.typeOf(ap)
		out = append(out, docsRow{Depth: depth, Name: "{key}", Type: typ, Ref: ref, Description: str(ap["description"]), Constr: constraints(ap)})
		out = append(out, d.children(ap, seen, depth+1)...)
	}
	return out
}

// children returns the nested rows of field schema s: its object's fields,
// or its items' or map values' fields.
func (d *docsRender) children(s map[string]any, seen map[string]bool, depth int) []docsRow {
	for {
		if items := obj(s["items"]); items != nil {
			s = items
			continue
		}
		if ap := obj(s["additionalProperties"]); len(ap) > 0 && len(obj(s["properties"])) == 0 {
			s = ap
			continue
		}
		break
	}
	if ref, ok := s["$ref"].(string); ok {
		name := refName(ref)
		if seen[name] {
			return nil
		}
		seen = mapsWith(seen, name)
	}
	return d.rows(s, seen, depth)
}

// resolve follows a $ref to its component schema.
func (d *docsRender) resolve(s map[string]any) (map[string]any, string) {
	if ref, ok := s["$ref"].(string); ok {
		name := refName(ref)
		if c := obj(d.schemas[name]); c != nil {
			return c, name
		}
		return map[string]any{}, name
	}
	return s, ""
}

// typeOf describes a schema's type: "string", "array of Node", "map of
// string", "integer | null"; ref names the component it points to.
func (d *docsRender) typeOf(s map[string]any) (typ, ref string) {
	if r, ok := s["$ref"].(string); ok {
		return refName(r), refName(r)
	}
	var types []string
	switch t := s["type"].(type) {
	case string:
		types = []string{t}
	case []any:
		for _, x := range t {
			types = append(types, fmt.Sprint(x))
		}
	}
	for i, t := range types {
		switch t {
		case "array":
			it, r := d.typeOf(obj(s["items"]))
			types[i], ref = "array of "+cmp.Or(it, "any"), r
		case "object":
			if ap := obj(s["additionalProperties"]); len(ap) > 0 && len(obj(s["properties"])) == 0 {
				vt, r := d.typeOf(ap)
				types[i], ref = "map of "+cmp.Or(vt, "any"), r
			}
		}
	}
	if f, ok := s["format"].(string); ok && len(types) > 0 {
		types[0] += " (" + f + ")"
	}
	if len(types) == 0 {
		for _, key := range []string{"oneOf", "anyOf"} {
			if alts, _ := s[key].([]any); len(alts) > 0 {
				var ts []string
				for _, a := range alts {
					t, _ := d.typeOf(obj(a))
					ts = append(ts, t)
				}
				return strings.Join(ts, " | "), ""
			}
		}
		return "any", ""
	}
	return strings.Join(types, " | "), ref
}

// constraints lists a schema's validation keywords in short form.
func constraints(s map[string]any) string {
	var c []string
	add := func(label, key string) {
		if v, ok := s[key]; ok {
			b, _ := json.Marshal(v)
			c = append(c, label+" "+string(b))
		}
	}
	if e, ok := s["enum"].([]any); ok {
		var vs []string
		for _, v := range e {
			b, _ := json.Marshal(v)
			vs = append(vs, string(b))
		}
		c = append(c, "one of "+strings.Join(vs, ", "))
	}
	add("default", "default")
	add("≥", "minimum")
	add(">", "exclusiveMinimum")
	add("≤", "maximum")
	add("<", "exclusiveMaximum")
	add("min length", "minLength")
	add("max length", "maxLength")
	add("pattern", "pattern")
	add("min items", "minItems")
	add("max items", "maxItems")
	return strings.Join(c, "; ")
}

func refName(ref string) string { return ref[strings.LastIndexByte(ref, '/')+1:] }

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }

func str(v any) string { s, _ := v.(string); return s }

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func mapsWith(m map[string]bool, k string) map[string]bool {
	out := make(map[string]bool, len(m)+1)
	for x := range m {
		out[x] = true
	}
	out[k] = true
	return out
}
