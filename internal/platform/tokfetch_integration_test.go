//go:build integration

package platform_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/assets"
	"github.com/whetstone/whetstone/internal/platform"
	"github.com/whetstone/whetstone/internal/store"
	"github.com/whetstone/whetstone/internal/testsvc"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

// registerModel stores a model folder in p's blob store: the smollm2
// tokenizer's files, a config.json and weights of weightBytes random
// bytes, registered as a model. It returns the model and the SHA-256 of
// its weights.
func registerModel(t *testing.T, p *platform.Platform, weightBytes int) (*store.Model, string) {
	t.Helper()
	ctx := context.Background()
	tokDir := assets.Path(t, "tokenizers", "smollm2-135m")
	files := map[string][]byte{"config.json": []byte(`{"model_type": "llama"}`)}
	ents, err := os.ReadDir(tokDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(tokDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	weights := make([]byte, weightBytes)
	rand.Read(weights)
	files["model.safetensors"] = weights
	m := &store.Model{ID: store.NewID("mdl"), Name: "merged/export/merged", JobID: "job_x", NodeID: "export", Output: "merged",
		URI: "jobs/job_x/export/merged-" + testsvc.Name("") + "/", CreatedAt: time.Now().UTC()}
	for name, b := range files {
		info, err := p.Blobs.Put(ctx, m.URI+name, bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		m.Files, m.Size = append(m.Files, name), m.Size+info.Size
	}
	slices.Sort(m.Files)
	if err := p.Store.InTx(ctx, func(tx store.Tx) error { return tx.CreateModel(ctx, m) }); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(weights)
	return m, hex.EncodeToString(sum[:])
}

// filesUnder lists the files under dir, slash-separated and relative to it.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// cacheBytes returns the bytes p's blob cache holds and whether it holds
// the content sum.
func cacheBytes(t *testing.T, p *platform.Platform, sum string) (int64, bool) {
	t.Helper()
	var n int64
	ents, _ := os.ReadDir(filepath.Join(p.Config.DataDir, "cache"))
	has := false
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && e.Name()[0] != '.' {
			n += fi.Size()
			has = has || e.Name() == sum
		}
	}
	return n, has
}

// sameTokenizer fails unless the tokenizers in dirs a and b encode text and
// render a chat alike.
func sameTokenizer(t *testing.T, a, b string) {
	t.Helper()
	ta, err := tokenizer.Load(a)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := tokenizer.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	const text = "Whetstone fine-tunes models: <|im_start|>user\nhello wörld 12345<|im_end|>"
	if ea, eb := ta.Encode(text, true), tb.Encode(text, true); len(ea) < 5 || !slices.Equal(ea, eb) {
		t.Errorf("encodings differ: %v from %s, %v from %s", ea, a, eb, b)
	}
	if !ta.HasChatTemplate() || ta.HasChatTemplate() != tb.HasChatTemplate() {
		t.Fatalf("chat template: %v in %s, %v in %s; want both", ta.HasChatTemplate(), a, tb.HasChatTemplate(), b)
	}
	msgs := []map[string]any{{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}}
	ca, errA := ta.ApplyChatTemplate(msgs, tokenizer.ChatOptions{})
	cb, errB := tb.ApplyChatTemplate(msgs, tokenizer.ChatOptions{})
	if errA != nil || errB != nil || ca != cb {
		t.Errorf("chats differ: %q (%v) from %s, %q (%v) from %s", ca, errA, a, cb, errB, b)
	}
}

// TestTokenizerOfStoredModelOnS3: a registered model named as a tokenizer
// is fetched from S3 with its tokenizer's files only, not its weights; the
// tokenizer it gives encodes as the whole folder's does; resolving the same
// model afterwards as a model on the same worker (the same scratch folder)
// gives the whole folder, weights included, not the partial copy. A
// dataset → preprocess job naming it as its tokenizer never downloads the
// weights either.
func TestTokenizerOfStoredModelOnS3(t *testing.T) {
	s3 := testsvc.NeedS3(t)
	t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3.Secret)
	p := machine(t, filepath.Join(t.TempDir(), "whet.db"), s3.URL(testsvc.Name("tokfetch")), true)
	ctx := context.Background()
	const weightBytes = 8 << 20
	m, weightsSum := registerModel(t, p, weightBytes)
	tokFiles := filesUnder(t, assets.Path(t, "tokenizers", "smollm2-135m"))
	var tokBytes int64
	for _, f := range tokFiles {
		fi, err := os.Stat(filepath.Join(assets.Path(t, "tokenizers", "smollm2-135m"), f))
		if err != nil {
			t.Fatal(err)
		}
		tokBytes += fi.Size()
	}

	// Resolved as a tokenizer: the tokenizer's files, nothing else.
	work, scratch := t.TempDir(), t.TempDir()
	before, _ := cacheBytes(t, p, "")
	tokDir, err := p.Orch.ResolveSource(ctx, store.DefaultTeam, m.ID, agent.KindTokenizer, work, scratch)
	if err != nil {
		t.Fatal(err)
	}
	if got := filesUnder(t, tokDir); !slices.Equal(got, tokFiles) {
		t.Errorf("resolved as a tokenizer: %v, want the tokenizer's files %v", got, tokFiles)
	}
	if got := filesUnder(t, scratch); len(got) != len(tokFiles) {
		t.Errorf("scratch holds %v after resolving a tokenizer, want the %d tokenizer files", got, len(tokFiles))
	}
	after, has := cacheBytes(t, p, weightsSum)
	t.Logf("tokenizer resolve: %d files, cache %d → %d bytes (tokenizer files %d bytes, weights %d)", len(tokFiles), before, after, tokBytes, weightBytes)
	if has || after != before+tokBytes {
		t.Errorf("resolving a tokenizer fetched %d bytes (weights cached: %v), want the tokenizer's %d", after-before, has, tokBytes)
	}
	sameTokenizer(t, assets.Path(t, "tokenizers", "smollm2-135m"), tokDir)

	// A job (before any whole-folder fetch): the dataset agent and preprocess read the tokenizer.
	runJob(t, p, fmt.Sprintf(`{"name": "tok", "nodes": [
		{"id": "data", "agent": "dataset", "params": {"source": "../shared/assets/datasets/llama-factory/alpaca_en_demo.json", "tokenizer": %[1]q}},
		{"id": "prep", "agent": "preprocess", "params": {"tokenizer": %[1]q, "template": "alpaca", "seed": 1}}],
		"edges": [{"from": "data", "to": "prep"}]}`, m.ID))
	if _, has := cacheBytes(t, p, weightsSum); has {
		t.Errorf("a job naming %s as its tokenizer downloaded the model's weights", m.ID)
	}

	// The same model as a base model, on the same worker: the whole folder.
	full, err := p.Orch.ResolveSource(ctx, store.DefaultTeam, m.ID, "model", work, scratch)
	if err != nil {
		t.Fatal(err)
	}
	if full == tokDir {
		t.Fatalf("the model resolved to the tokenizer's partial copy %s", full)
	}
	if got := filesUnder(t, full); !slices.Equal(got, m.Files) {
		t.Errorf("resolved as a model: %v, want every file %v", got, m.Files)
	}
	if fi, err := os.Stat(filepath.Join(full, "model.safetensors")); err != nil || fi.Size() != weightBytes {
		t.Errorf("weights in the model folder: %v", err)
	}
	if _, has := cacheBytes(t, p, weightsSum); !has {
		t.Error("resolving the model did not fetch its weights through the cache")
	}
	if got := filesUnder(t, tokDir); !slices.Equal(got, tokFiles) {
		t.Errorf("the tokenizer copy changed to %v after the model was resolved", got)
	}
	sameTokenizer(t, full, tokDir)

	// And as a tokenizer again, after the whole folder: still its own copy.
	again, err := p.Orch.ResolveSource(ctx, store.DefaultTeam, m.ID, agent.KindTokenizer, work, scratch)
	if err != nil || again != tokDir {
		t.Errorf("tokenizer again: %s, %v; want %s", again, err, tokDir)
	}
}

// TestTokenizerOfStoredModelLocal: with the local blob folder, a registered
// model resolves to the store's own folder whatever param names it; nothing
// is copied.
func TestTokenizerOfStoredModelLocal(t *testing.T) {
	t.Parallel()
	p := machine(t, filepath.Join(t.TempDir(), "whet.db"), "", true)
	ctx := context.Background()
	m, _ := registerModel(t, p, 1<<10)
	work, scratch := t.TempDir(), t.TempDir()
	tok, err := p.Orch.ResolveSource(ctx, store.DefaultTeam, m.ID, agent.KindTokenizer, work, scratch)
	if err != nil {
		t.Fatal(err)
	}
	full, err := p.Orch.ResolveSource(ctx, store.DefaultTeam, m.ID, "model", work, scratch)
	if err != nil {
		t.Fatal(err)
	}
	if tok != full || !slices.Equal(filesUnder(t, full), m.Files) {
		t.Errorf("tokenizer %s, model %s (%v); want the same store folder with every file %v", tok, full, filesUnder(t, full), m.Files)
	}
	if got := filesUnder(t, scratch); len(got) != 0 {
		t.Errorf("scratch holds %v with a local store, want nothing copied", got)
	}
}
