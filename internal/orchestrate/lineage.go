package orchestrate

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/store"
)

// Lineage: every output artifact carries Meta["lineage"], the base model
// (by folder name and content version) and the dataset versions upstream of
// it ({"base_model", "base_model_version", "datasets":
// [store.DatasetVersion]}): the versions its node's dataset params name
// (uploaded datasets by id, files and folders by content) merged with its
// inputs' lineage. succeed records the datasets with the job and the
// lineage with each model.

// lineageKey is the Meta key.
const lineageKey = "lineage"

// datasetVersions returns the versions of the datasets a node's params
// name: params of kind dataset, and eval_sets (paths or uploaded ids).
// References it cannot read (blob keys, models, URLs, missing files) are
// left out; the agent reports those.
func (o *Orchestrator) datasetVersions(ctx context.Context, team string, decls []agent.Param, params map[string]any, workDir string) []store.DatasetVersion {
	var out []store.DatasetVersion
	for _, d := range decls {
		if d.Kind != "dataset" && d.Name != "eval_sets" {
			continue
		}
		var refs []string
		switch v := params[d.Name].(type) {
		case string:
			refs = []string{v}
		case []any:
			for _, x := range v {
				if s, ok := x.(string); ok {
					refs = append(refs, s)
				}
			}
		case []string:
			refs = v
		}
		for _, ref := range refs {
			if dv, ok := o.datasetVersion(ctx, team, ref, workDir); ok {
				out = store.MergeDatasets(out, []store.DatasetVersion{dv})
			}
		}
	}
	return out
}

func (o *Orchestrator) datasetVersion(ctx context.Context, team, ref, workDir string) (store.DatasetVersion, bool) {
	if ref == "" || strings.HasPrefix(ref, agent.BlobRef) || strings.HasPrefix(ref, "mdl_") || strings.Contains(ref, "://") {
		return store.DatasetVersion{}, false
	}
	if strings.HasPrefix(ref, "ds_") {
		if ds, err := o.st.ForTeam(team).GetDataset(ctx, ref); err == nil {
			v := ds.Version
			if v == "" {
				v = "sha256:" + ds.SHA256
			}
			return store.DatasetVersion{ID: ds.ID, Name: ds.Name, Version: v}, true
		}
	}
	p := ref
	if !filepath.IsAbs(p) {
		p = filepath.Join(workDir, p)
	}
	sum, n := o.contentSum(p)
	if n == 0 {
		return store.DatasetVersion{}, false
	}
	return store.DatasetVersion{Source: ref, Name: filepath.Base(ref), Version: "sha256:" + sum}, true
}

// contentSum returns the hex SHA-256 of the file at p, or for a folder
// listingSum's, and the number of files hashed (0 when p cannot be read).
func (o *Orchestrator) contentSum(p string) (string, int) {
	st, err := os.Stat(p)
	if err != nil {
		return "", 0
	}
	if !st.IsDir() {
		sum := o.fileSum(p, st)
		if sum == "unreadable" {
			return "", 0
		}
		return sum, 1
	}
	sum, n := o.listingSum(p)
	return sum, n
}

// listingSum hashes the sorted listing of relative names and file SHA-256s
// under p (p itself, named ".", when it is a file; at most 10,000 files) and
// returns the hex sum and the number of files.
func (o *Orchestrator) listingSum(p string) (string, int) {
	h := sha256.New()
	n := 0
	filepath.WalkDir(p, func(path string, e fs.DirEntry, err error) error {
		if err != nil || n > 10000 {
			return filepath.SkipAll
		}
		if e.IsDir() {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(p, path)
		fmt.Fprintf(h, "%s %s\n", filepath.ToSlash(rel), o.fileSum(path, fi))
		n++
		return nil
	})
	return fmt.Sprintf("%x", h.Sum(nil)), n
}

// lineageOf decodes an artifact's Meta["lineage"]; nil when absent.
func lineageOf(a agent.Artifact) *store.Lineage {
	v, ok := a.Meta[lineageKey]
	if !ok {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var l store.Lineage
	if json.Unmarshal(b, &l) != nil {
		return nil
	}
	return &l
}

// addLineage sets Meta["lineage"] on each output: own dataset versions
// merged with the inputs', and the base model (the inputs', else the
// output's Meta["base_model"]) by name and content version (baseModel; a
// registered model of team, mdl_..., by its id and stored version:
// modelVersion) with its chain back to the original base (chainOf).
// Outputs without any are left alone.
func (o *Orchestrator) addLineage(ctx context.Context, team string, inputs []agent.Artifact, own []store.DatasetVersion, outs []agent.Artifact) {
	var up store.Lineage
	for _, a := range inputs {
		if l := lineageOf(a); l != nil {
			up.Datasets = store.MergeDatasets(up.Datasets, l.Datasets)
			if up.BaseModel == "" {
				up.BaseModel, up.BaseModelVersion, up.Chain = l.BaseModel, l.BaseModelVersion, l.Chain
			}
		}
	}
	if strings.ContainsAny(up.BaseModel, `/\`) {
		// recorded before lineage named base models by folder (a server path)
		name, version := o.baseModel(up.BaseModel)
		up.BaseModel, up.BaseModelVersion = name, cmp.Or(up.BaseModelVersion, version)
	}
	switch {
	case strings.HasPrefix(up.BaseModel, "mdl_") && (up.BaseModelVersion == "" || len(up.Chain) == 0):
		// recorded before registered bases had a version, or before chains
		m := o.registered(ctx, team, up.BaseModel)
		up.BaseModelVersion = cmp.Or(up.BaseModelVersion, modelVersion(m))
		if len(up.Chain) == 0 {
			up.Chain = o.chainOf(ctx, team, up.BaseModel, m, 0)
		}
	case up.BaseModel != "" && len(up.Chain) == 0:
		up.Chain = []store.Ancestor{{BaseModel: up.BaseModel, Version: up.BaseModelVersion}}
	}
	up.Datasets = store.MergeDatasets(up.Datasets, own)
	for i := range outs {
		l := up
		if b, ok := outs[i].Meta["base_model"].(string); ok && b != "" && l.BaseModel == "" {
			if strings.HasPrefix(b, "mdl_") {
				m := o.registered(ctx, team, b)
				l.BaseModel, l.BaseModelVersion, l.Chain = b, modelVersion(m), o.chainOf(ctx, team, b, m, 0)
			} else {
				l.BaseModel, l.BaseModelVersion = o.baseModel(b)
				l.Chain = []store.Ancestor{{BaseModel: l.BaseModel, Version: l.BaseModelVersion}}
			}
		}
		if l.BaseModel == "" && len(l.Datasets) == 0 {
			continue
		}
		if l.Datasets == nil {
			l.Datasets = []store.DatasetVersion{}
		}
		// as JSON values, the form Meta has once stored
		var v any
		b, _ := json.Marshal(l)
		json.Unmarshal(b, &v)
		if outs[i].Meta == nil {
			outs[i].Meta = map[string]any{}
		}
		outs[i].Meta[lineageKey] = v
	}
}

// maxChain bounds how many registered models chainOf looks up to rebuild
// the chain of lineage recorded before chains.
const maxChain = 64

// chainOf returns the chain (store.Lineage's Chain) of a model whose base
// is team's registered model id, m (nil when the store has no such model of
// team): m's own chain, then m. m's lineage recorded before chains is
// followed back through the store (up to maxChain models, depth counting
// those already followed). A model not found is its id alone.
func (o *Orchestrator) chainOf(ctx context.Context, team, id string, m *store.Model, depth int) []store.Ancestor {
	if m == nil {
		return []store.Ancestor{{ModelID: id}}
	}
	var chain []store.Ancestor
	var datasets []store.DatasetVersion
	if l := m.Lineage; l != nil {
		datasets = l.Datasets
		switch {
		case len(l.Chain) > 0:
			chain = slices.Clone(l.Chain)
		case strings.HasPrefix(l.BaseModel, "mdl_") && depth < maxChain:
			chain = o.chainOf(ctx, team, l.BaseModel, o.registered(ctx, team, l.BaseModel), depth+1)
		case strings.HasPrefix(l.BaseModel, "mdl_"):
			chain = []store.Ancestor{{ModelID: l.BaseModel}}
		case l.BaseModel != "":
			chain = []store.Ancestor{{BaseModel: filepath.Base(filepath.Clean(l.BaseModel)), Version: l.BaseModelVersion}}
		}
	}
	return append(chain, store.Ancestor{ModelID: m.ID, Name: m.Name, Version: modelVersion(m), JobID: m.JobID, Datasets: datasets})
}

// baseModel returns the display name of the base model at ref (its folder
// name; the train agent records an absolute path) and, when ref is an
// absolute path it can read, its content version (store.Lineage's
// BaseModelVersion). Each file is hashed once per path, size and
// modification time (fileSum), so a base model many jobs use is read once.
func (o *Orchestrator) baseModel(ref string) (name, version string) {
	clean := filepath.Clean(ref)
	name = filepath.Base(clean)
	if !filepath.IsAbs(clean) {
		return name, ""
	}
	st, err := os.Stat(clean)
	if err != nil {
		return name, ""
	}
	files := map[string]string{} // name -> path
	if st.IsDir() {
		entries, err := os.ReadDir(clean)
		if err != nil {
			return name, ""
		}
		for _, e := range entries {
			if n := e.Name(); !e.IsDir() && (n == "config.json" || weightFile(n)) {
				files[n] = filepath.Join(clean, n)
			}
		}
	} else {
		files[name] = clean
	}
	if len(files) == 0 {
		return name, ""
	}
	h := sha256.New()
	for _, n := range slices.Sorted(maps.Keys(files)) {
		fi, err := os.Stat(files[n]) // follows links, as Hugging Face cache snapshots use
		if err != nil {
			return name, ""
		}
		sum := o.fileSum(files[n], fi)
		if sum == "unreadable" {
			return name, ""
		}
		fmt.Fprintf(h, "%s %s\n", n, sum)
	}
	return name, fmt.Sprintf("sha256:%x", h.Sum(nil))
}

// registered returns team's registered model id, nil when the store has
// none (another team's included) or cannot be read (logged).
func (o *Orchestrator) registered(ctx context.Context, team, id string) *store.Model {
	if o.st == nil {
		return nil
	}
	m, err := o.st.ForTeam(team).GetModel(ctx, id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) && o.log != nil {
			o.log.WarnContext(ctx, "lineage: base model not read", slog.String("model_id", id), slog.Any("error", err))
		}
		return nil
	}
	return m
}

// modelVersion returns the content version (store.Lineage's
// BaseModelVersion) of a registered model, from the file SHA-256s the
// store recorded when it was registered (Meta "files", or "sha256" for a
// single file), not from a worker's copy: the same version baseModel gives
// its folder. "" when m is nil or its files lack sums.
func modelVersion(m *store.Model) string {
	if m == nil {
		return ""
	}
	sums := map[string]string{} // name -> hex sha256
	if !strings.HasSuffix(m.URI, "/") {
		// A file is hashed whatever its name, as baseModel does.
		s, _ := m.Meta["sha256"].(string)
		sums[path.Base(m.URI)] = s
	} else {
		var files []struct {
			Path   string `json:"path"`
			SHA256 string `json:"sha256"`
		}
		b, _ := json.Marshal(m.Meta["files"])
		if json.Unmarshal(b, &files) != nil {
			return ""
		}
		for _, f := range files {
			if !strings.Contains(f.Path, "/") && (f.Path == "config.json" || weightFile(f.Path)) {
				sums[f.Path] = f.SHA256
			}
		}
	}
	if len(sums) == 0 {
		return ""
	}
	h := sha256.New()
	for _, n := range slices.Sorted(maps.Keys(sums)) {
		if sums[n] == "" {
			return ""
		}
		fmt.Fprintf(h, "%s %s\n", n, sums[n])
	}
	return fmt.Sprintf("sha256:%x", h.Sum(nil))
}

// weightFile reports whether a file name is a model weight file.
func weightFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".safetensors", ".bin", ".pt", ".pth", ".gguf":
		return true
	}
	return false
}
