package retention_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/evaluate"
	"github.com/whetstone/whetstone/internal/agents/export"
	"github.com/whetstone/whetstone/internal/agents/ingest"
	"github.com/whetstone/whetstone/internal/agents/preprocess"
	"github.com/whetstone/whetstone/internal/agents/train"
	"github.com/whetstone/whetstone/internal/agents/validate"
	"github.com/whetstone/whetstone/internal/assets"
	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/config"
	"github.com/whetstone/whetstone/internal/openai"
	"github.com/whetstone/whetstone/internal/platform"
	"github.com/whetstone/whetstone/internal/retention"
	"github.com/whetstone/whetstone/internal/store"
	"github.com/whetstone/whetstone/internal/store/pgstore/pgtest"
	"github.com/whetstone/whetstone/internal/testsvc"
)

// TestKeepsV1Datasets: the datasets the OpenAI-compatible API makes live
// in folders that are not their ids (datasets/ftjob-…/file-….jsonl for a
// fine-tuning job's training and validation files,
// datasets/playground/TEAM/NAME/N.jsonl for saved eval samples). A blob
// sweep keeps them (their records name them) and still removes the folders
// no record names, on each metadata store and on S3.
func TestKeepsV1Datasets(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  func(t *testing.T, cfg *config.Config)
	}{
		{"sqlite", func(t *testing.T, cfg *config.Config) {}},
		{"postgres", func(t *testing.T, cfg *config.Config) { cfg.Database = pgtest.NewSchema(t) }},
		{"s3", func(t *testing.T, cfg *config.Config) {
			s3 := testsvc.NeedS3(t)
			t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
			t.Setenv("AWS_SECRET_ACCESS_KEY", s3.Secret)
			cfg.BlobURL = s3.URL(testsvc.Name("retention"))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := config.Default()
			cfg.DataDir, cfg.Database, cfg.BlobDir = dir, filepath.Join(dir, "whet.db"), filepath.Join(dir, "blobs")
			cfg.WorkDir = assets.RepoRoot(t)
			cfg.SecretKeyFile = filepath.Join(dir, "secret.key")
			c.cfg(t, &cfg)
			keepsV1Datasets(t, cfg)
		})
	}
}

func keepsV1Datasets(t *testing.T, cfg config.Config) {
	ctx := context.Background()
	// No workers: the fine-tuning job stays queued, and its dataset is all
	// there is of it.
	var reg agent.Registry
	for _, a := range []agent.Agent{ingest.New(), validate.New(), preprocess.New(), train.New(), evaluate.New(nil), export.New()} {
		reg.Register(a)
	}
	p, err := platform.Open(ctx, cfg, &reg, platform.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Stop(ctx)
	})
	base := t.TempDir()
	model := filepath.Join(base, "stories")
	os.MkdirAll(model, 0o755)
	src := assets.Path(t, "models", "stories260K")
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json"} {
		if err := os.Symlink(filepath.Join(src, f), filepath.Join(model, f)); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer((&openai.Server{Store: p.Store, Blobs: p.Blobs, Orch: p.Orch, BaseModels: base}).Handler())
	t.Cleanup(srv.Close)

	var rows strings.Builder
	for i := range 12 {
		fmt.Fprintf(&rows, `{"messages":[{"role":"user","content":"Who is %d?"},{"role":"assistant","content":"%d is a kid."}]}`+"\n", i, i)
	}
	train, val := upload(t, srv.URL, "train.jsonl", rows.String()), upload(t, srv.URL, "val.jsonl", rows.String())
	job := post(t, srv.URL+"/v1/fine_tuning/jobs", map[string]any{"model": "stories", "training_file": train, "validation_file": val})
	for i := range 2 {
		post(t, srv.URL+"/v1/playground/eval_samples", map[string]any{"dataset": "evals",
			"messages": []any{map[string]any{"role": "user", "content": fmt.Sprintf("Who is Mia? %d", i)}}, "preferred": "A kid."})
	}
	dss, _, err := p.Store.ListDatasets(ctx, store.ListParams{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(dss) != 4 {
		t.Fatalf("%d datasets, want 4 (training and validation files of %s, two eval sample versions)", len(dss), job["id"])
	}
	for _, d := range dss {
		t.Logf("dataset %s: %s", d.ID, d.BlobKey)
	}
	// Files no record names, in folders shaped like those: orphans.
	orphans := []string{"datasets/ftjob-gone/file-x.jsonl", "datasets/playground/default/gone/1.jsonl", "datasets/ds_gone/d.jsonl"}
	for _, k := range orphans {
		if _, err := p.Blobs.Put(ctx, k, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}

	pol, err := config.ParseRetain("blobs=1d")
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(48 * time.Hour) // everything stored counts as two days old
	for _, dry := range []bool{true, false} {
		rep, err := retention.Run(ctx, p.Store, p.Blobs, nil, pol, later, dry)
		if err != nil {
			t.Fatal(err)
		}
		got := slices.Sorted(slices.Values(rep.Blobs))
		if want := slices.Sorted(slices.Values(orphans)); !slices.Equal(got, want) {
			t.Errorf("dry run %v removed %v, want only the orphans %v", dry, got, want)
		}
	}
	for _, d := range dss {
		sum, err := readSum(ctx, p.Blobs, d.BlobKey)
		if err != nil || sum != d.SHA256 {
			t.Errorf("dataset %s (%s) after the sweep: sha256 %q, %v; want its content (%s)", d.ID, d.BlobKey, sum, err, d.SHA256)
		}
	}
	for _, k := range orphans {
		if _, err := p.Blobs.Stat(ctx, k); err == nil {
			t.Errorf("orphan %s kept", k)
		}
	}
}

func readSum(ctx context.Context, blobs blob.Store, key string) (string, error) {
	o, err := blobs.Open(ctx, key)
	if err != nil {
		return "", err
	}
	defer o.Close()
	h := sha256.New()
	if _, err := io.Copy(h, o); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func upload(t *testing.T, url, name, content string) string {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("purpose", "fine-tune")
	fw, _ := mw.CreateFormFile("file", name)
	io.WriteString(fw, content)
	mw.Close()
	resp, err := http.Post(url+"/v1/files", mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	return answer(t, resp)["id"].(string)
}

func post(t *testing.T, url string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return answer(t, resp)
}

func answer(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", resp.Request.Method, resp.Request.URL, resp.StatusCode, b)
	}
	return out
}
