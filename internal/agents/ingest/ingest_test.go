package ingest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/data/datatest"
	"github.com/whetstone/whetstone/internal/data/profile"
	"github.com/whetstone/whetstone/internal/data/record"
)

type recorder struct {
	mu       sync.Mutex
	logs     []string
	progress []float64
}

func (r *recorder) Log(_ slog.Level, msg string, _ ...slog.Attr) {
	r.mu.Lock()
	r.logs = append(r.logs, msg)
	r.mu.Unlock()
}
func (r *recorder) Progress(f float64, _ time.Duration, _ string) {
	r.mu.Lock()
	r.progress = append(r.progress, f)
	r.mu.Unlock()
}
func (r *recorder) Metrics(int, map[string]float64) {}

func run(t *testing.T, params agent.Params) ([]agent.Artifact, string, *recorder, error) {
	t.Helper()
	rec := &recorder{}
	env := &agent.Env{Params: params, OutDir: t.TempDir(), WorkDir: datatest.Root(t), Emit: rec}
	arts, err := New().Run(context.Background(), env)
	return arts, env.OutDir, rec, err
}

func readProfile(t *testing.T, dir string) profile.Report {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "profile.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r profile.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<24)
	n := 0
	for s.Scan() {
		n++
	}
	return n
}

func TestRealDatasets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		source, tokenizer string
		format, source_   record.Format
		rows              int
	}{
		{"../shared/assets/datasets/llama-factory/alpaca_en_demo.json", "../shared/assets/tokenizers/smollm2-135m", record.Alpaca, record.Alpaca, 999},
		{"../shared/assets/datasets/llama-factory/v1_sft_demo.jsonl", "../shared/assets/models/stories260K", record.Messages, record.Messages, 500},
		{"../shared/assets/datasets/llama-factory/glaive_toolcall_en_demo.json", "", record.Messages, record.ShareGPT, 300},
		{"../shared/assets/datasets/llama-factory/dpo_en_demo.json", "", record.Preference, record.Preference, 300},
		{"../shared/assets/datasets/llama-factory/kto_en_demo.json", "", record.KTO, record.KTO, 300},
		{"../shared/assets/datasets/llama-factory/c4_demo.jsonl", "../shared/assets/tokenizers/gpt2", record.Text, record.Text, 300},
		{"../shared/assets/datasets/llama-factory/wiki_demo.txt", "", record.Text, record.Text, 30},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.source), func(t *testing.T) {
			t.Parallel()
			arts, dir, rec, err := run(t, agent.Params{"source": tt.source, "format": "auto", "tokenizer": tt.tokenizer, "samples": 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(arts) != 2 || arts[0].Type != agent.Dataset || arts[1].Type != agent.Report || arts[1].Name != "profile" {
				t.Fatalf("artifacts %+v", arts)
			}
			m := arts[0].Meta
			if m["format"] != string(tt.format) || m["source_format"] != string(tt.source_) || m["rows"] != tt.rows {
				t.Errorf("meta %v", m)
			}
			if n := countLines(t, filepath.Join(dir, arts[0].Path)); n != tt.rows {
				t.Errorf("data.jsonl has %d lines, want %d", n, tt.rows)
			}
			p := readProfile(t, dir)
			if p.Rows != tt.rows || len(p.Samples) != 2 || p.Unreadable != 0 {
				t.Errorf("profile rows %d samples %d unreadable %d", p.Rows, len(p.Samples), p.Unreadable)
			}
			if tt.tokenizer != "" {
				if p.Tokens == nil || p.Tokens.Count != tt.rows || p.Tokens.Min <= 0 {
					t.Fatalf("tokens %+v", p.Tokens)
				}
				sum := 0
				for _, b := range p.Tokens.Histogram {
					sum += b.Count
				}
				if sum != tt.rows {
					t.Errorf("histogram holds %d rows", sum)
				}
			}
			if len(rec.progress) == 0 || rec.progress[len(rec.progress)-1] != 1 {
				t.Errorf("progress events %v", rec.progress)
			}
		})
	}
}

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestColumnsAndErrors(t *testing.T) {
	t.Parallel()
	csv := write(t, "qa.csv", "q,a\nWhat is 2+2?,4\nbroken\nCapital of France?,Paris\n")
	arts, dir, _, err := run(t, agent.Params{"source": csv, "columns": map[string]any{"instruction": "q", "output": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if arts[0].Meta["format"] != "alpaca" || arts[0].Meta["rows"] != 2 || arts[0].Meta["unreadable"] != 1 {
		t.Errorf("meta %v", arts[0].Meta)
	}
	p := readProfile(t, dir)
	if len(p.UnreadableRows) != 1 || p.UnreadableRows[0].Line != 3 || !strings.Contains(p.UnreadableRows[0].Message, "ragged") {
		t.Errorf("unreadable rows %+v", p.UnreadableRows)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "data.jsonl"))
	if !strings.HasPrefix(string(b), `{"instruction":"What is 2+2?","input":"","output":"4","_line":2}`) {
		t.Errorf("data.jsonl:\n%s", b)
	}

	// on_error fail stops at the ragged row.
	if _, _, _, err := run(t, agent.Params{"source": csv, "on_error": "fail", "columns": map[string]any{"instruction": "q", "output": "a"}}); err == nil || !strings.Contains(err.Error(), "qa.csv:3") || !agent.IsPermanent(err) {
		t.Errorf("on_error fail: %v", err)
	}
	// A malformed JSON array is a permanent error naming the line.
	bad := write(t, "bad.json", "[\n {\"text\": \"a\"},\n {\"text\": \"b\"\n]\n")
	if _, _, _, err := run(t, agent.Params{"source": bad}); err == nil || !strings.Contains(err.Error(), "bad.json:4") || !agent.IsPermanent(err) {
		t.Errorf("malformed JSON: %v", err)
	}
	// Unknown columns name themselves.
	odd := write(t, "odd.jsonl", "{\"a\": 1, \"b\": 2}\n")
	if _, _, _, err := run(t, agent.Params{"source": odd}); err == nil || !strings.Contains(err.Error(), "[a b]") {
		t.Errorf("undetectable: %v", err)
	}
	if _, _, _, err := run(t, agent.Params{"source": "no/such/file.json"}); err == nil || !agent.IsPermanent(err) {
		t.Errorf("missing file: %v", err)
	}
}

func TestResolveSource(t *testing.T) {
	t.Parallel()
	p := write(t, "up.jsonl", "{\"text\": \"hello\"}\n")
	env := &agent.Env{Params: agent.Params{"source": "ds_123"}, OutDir: t.TempDir(), WorkDir: t.TempDir(), Emit: agent.Discard,
		ResolveSource: func(_ context.Context, ref, kind string) (string, error) {
			if ref != "ds_123" || kind != "dataset" {
				t.Errorf("resolve %q as %q, want ds_123 as a dataset", ref, kind)
			}
			return p, nil
		}}
	arts, err := New().Run(context.Background(), env)
	if err != nil || arts[0].Meta["rows"] != 1 {
		t.Fatalf("%v %+v", err, arts)
	}
	// The profile names the source as the pipeline did, not the server's copy.
	b, err := os.ReadFile(filepath.Join(env.OutDir, "profile.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"source": "ds_123"`) && !strings.Contains(string(b), `"source":"ds_123"`) || strings.Contains(string(b), filepath.Dir(p)) {
		t.Errorf("profile.json names its source by server path:\n%s", b)
	}
}

type pqMessage struct {
	Role    string `parquet:"role"`
	Content string `parquet:"content"`
}

type pqRow struct {
	Messages []pqMessage `parquet:"messages,list"`
}

func TestParquet(t *testing.T) {
	t.Parallel()
	rows := make([]pqRow, 40)
	for i := range rows {
		rows[i] = pqRow{Messages: []pqMessage{{"user", fmt.Sprintf("question %d?", i)}, {"assistant", "answer"}}}
	}
	p := filepath.Join(t.TempDir(), "chat.parquet")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := parquet.Write(f, rows, parquet.Compression(&parquet.Snappy)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	arts, dir, _, err := run(t, agent.Params{"source": p})
	if err != nil {
		t.Fatal(err)
	}
	if arts[0].Meta["format"] != "messages" || arts[0].Meta["rows"] != 40 {
		t.Errorf("meta %v", arts[0].Meta)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "data.jsonl"))
	if want := `{"messages":[{"role":"user","content":"question 0?"},{"role":"assistant","content":"answer"}],"_line":1}`; !strings.HasPrefix(string(b), want) {
		t.Errorf("data.jsonl starts %.120s", b)
	}
}

// TestMappingOverridesDetection: the rows look like Alpaca, but the mapping
// says the body column is the text.
func TestMappingOverridesDetection(t *testing.T) {
	t.Parallel()
	p := write(t, "m.jsonl", "{\"instruction\": \"i\", \"output\": \"o\", \"body\": \"the real text\"}\n")
	arts, dir, _, err := run(t, agent.Params{"source": p, "columns": map[string]any{"text": "body"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "data.jsonl"))
	if arts[0].Meta["format"] != "text" || !strings.Contains(string(b), `"text":"the real text"`) {
		t.Errorf("meta %v, data %s", arts[0].Meta, b)
	}
}

// TestFolderSource reads a folder of shards as one dataset.
func TestFolderSource(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "data"), 0o755)
	os.MkdirAll(filepath.Join(dir, ".cache"), 0o755)
	files := map[string]string{
		"data/train-00000-of-00002.jsonl": "{\"text\": \"first shard row one\"}\n{\"text\": \"first shard row two\"}\n",
		"data/train-00001-of-00002.jsonl": "{\"text\": \"second shard row\"}\n{\"text\": broken}\n",
		"README.md":                       "# not data\n",
		".cache/x.jsonl":                  "{\"text\": \"hidden\"}\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	arts, out, _, err := run(t, agent.Params{"source": dir})
	if err != nil {
		t.Fatal(err)
	}
	if arts[0].Meta["rows"] != 3 || arts[0].Meta["unreadable"] != 1 {
		t.Errorf("meta %v", arts[0].Meta)
	}
	p := readProfile(t, out)
	if len(p.UnreadableRows) != 1 || p.UnreadableRows[0].File != "train-00001-of-00002.jsonl" || p.UnreadableRows[0].Line != 2 {
		t.Errorf("unreadable %+v", p.UnreadableRows)
	}
	b, _ := os.ReadFile(filepath.Join(out, "data.jsonl"))
	if strings.Contains(string(b), "hidden") || !strings.Contains(string(b), "second shard row") {
		t.Errorf("data.jsonl:\n%s", b)
	}
	if _, _, _, err := run(t, agent.Params{"source": t.TempDir()}); err == nil || !strings.Contains(err.Error(), "without data files") {
		t.Errorf("empty folder: %v", err)
	}
}

// A folder source reads its regular files and links to them; a named pipe
// in it is skipped (opening it would block with no writer).
func TestDataFilesRegularOnly(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.jsonl"), []byte(`{"text":"x"}`+"\n"), 0o644)
	os.Symlink(filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl"))
	if err := syscall.Mkfifo(filepath.Join(dir, "c.jsonl"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	got, err := dataFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")}
	if !slices.Equal(got, want) {
		t.Errorf("dataFiles = %v, want %v", got, want)
	}
}
