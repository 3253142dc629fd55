package reader

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/assets"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
)

// dataset returns the path of a shared dataset asset.
func dataset(tb testing.TB, rel string) string { return assets.Path(tb, "datasets", rel) }

// readAll reads every row, collecting recoverable errors.
func readAll(tb testing.TB, path string, opts Options) ([]Row, []error, error) {
	tb.Helper()
	r, err := Open(path, opts)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	var rows []Row
	var soft []error
	for {
		row, err := r.Next()
		if err == io.EOF {
			return rows, soft, nil
		}
		if err != nil {
			if IsFatal(err) {
				return rows, soft, err
			}
			soft = append(soft, err)
			continue
		}
		rows = append(rows, row)
	}
}

func TestRealAssets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path  string
		rows  int
		key   string
		line0 int
	}{
		{"llama-factory/alpaca_en_demo.json", 999, "instruction", 2},
		{"llama-factory/dpo_en_demo.json", 300, "chosen", 2},
		{"llama-factory/kto_en_demo.json", 300, "label", 2},
		{"llama-factory/c4_demo.jsonl", 300, "text", 1},
		{"llama-factory/v1_sft_demo.jsonl", 500, "messages", 1},
		{"llama-factory/wiki_demo.txt", 30, "text", 1},
		{"torchtune/chat_tiny.json", 1, "conversations", 2},
		{"torchtune/hh_rlhf_tiny.json", 1, "chosen", 1},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			rows, soft, err := readAll(t, dataset(t, tt.path), Options{})
			if err != nil || len(soft) > 0 {
				t.Fatalf("read: %v %v", err, soft)
			}
			if len(rows) != tt.rows {
				t.Fatalf("rows = %d, want %d", len(rows), tt.rows)
			}
			if _, ok := rows[0].Fields[tt.key]; !ok {
				t.Errorf("first row has no %q: %v", tt.key, rows[0].Fields)
			}
			if rows[0].Line != tt.line0 {
				t.Errorf("first row line = %d, want %d", rows[0].Line, tt.line0)
			}
		})
	}
}

func TestAlpacaLines(t *testing.T) {
	t.Parallel()
	// alpaca_en_demo.json is pretty-printed with 2-space indents: each
	// record starts on a line "  {". Check every reported line against
	// the file.
	p := dataset(t, "llama-factory/alpaca_en_demo.json")
	rows, _, err := readAll(t, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(p)
	lines := strings.Split(string(data), "\n")
	for i, r := range rows {
		if got := lines[r.Line-1]; strings.TrimSpace(got) != "{" {
			t.Fatalf("row %d: line %d is %q, want a record start", i, r.Line, got)
		}
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

func TestBrokenFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, content string
		fatal         bool
		line, col     int
		msg           string
		rows          int // rows read besides the error
	}{
		{"bad.jsonl", "{\"a\": 1}\n{\"a\": 2,}\n{\"a\": 3}\n", false, 2, 9, "malformed JSON", 2},
		{"notobj.jsonl", "{\"a\": 1}\n[1,2]\n", false, 2, 1, "expected an object", 1},
		{"latin1.jsonl", "{\"a\": \"ok\"}\n{\"a\": \"caf\xe9\"}\n", false, 2, 11, "invalid UTF-8", 1},
		{"nul.jsonl", "{\"a\": \"x\"}\n{\"a\": \"x\x00y\"}\n", false, 2, 9, "NUL byte", 1},
		{"midbom.jsonl", "{\"a\": 1}\n\xef\xbb\xbf{\"a\": 2}\n", false, 2, 1, "byte order mark", 1},
		{"bom.jsonl", "\xef\xbb\xbf{\"a\": 1}\n{\"a\": 2}\n", false, 0, 0, "", 2},
		{"utf16.jsonl", "\xff\xfe{\x00", true, 1, 1, "UTF-16", 0},
		{"array.json", "[\n  {\"a\": 1},\n  {\"a\": 2\n  {\"a\": 3}\n]\n", true, 4, 3, "malformed JSON", 1},
		{"trunc.json", "[\n  {\"a\": 1},\n  {\"a\": ", true, 3, 0, "unexpected end", 1},
		{"enc.json", "[\n  {\"a\": \"ok\"},\n  {\"a\": \"caf\xe9\"}\n]", true, 3, 13, "invalid UTF-8", 1},
		{"scalar.json", "[\n 1,\n {\"a\": 2}\n]", false, 2, 2, "expected a JSON object", 1},
		{"ragged.csv", "a,b\n1,2\n3\n4,5\n", false, 3, 1, "ragged row", 2},
		{"quote.csv", "a,b\n1,\"x\"y\n", true, 2, 0, "quote", 0},
		{"enc.csv", "a,b\n1,caf\xe9\n", false, 2, 6, "invalid UTF-8", 0},
		{"enc.txt", "hello\nw\xf0rld\nbye\n", false, 2, 2, "invalid UTF-8", 2},
		{"empty.csv", "", true, 1, 0, "empty file", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows, soft, err := readAll(t, write(t, tt.name, tt.content), Options{})
			if tt.msg == "" {
				if err != nil || len(soft) > 0 {
					t.Fatalf("unexpected errors: %v %v", err, soft)
				}
			} else {
				if !tt.fatal {
					if err != nil || len(soft) != 1 {
						t.Fatalf("want one soft error, got fatal %v, soft %v", err, soft)
					}
					err = soft[0]
				} else if err == nil {
					t.Fatalf("want a fatal error, got rows %v soft %v", rows, soft)
				}
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("error %v (%T) is not *Error", err, err)
				}
				if e.Fatal != tt.fatal || e.Line != tt.line || (tt.col != 0 && e.Column != tt.col) || !strings.Contains(e.Msg, tt.msg) {
					t.Errorf("got %+v (%v), want line %d col %d fatal %v msg ~%q", e, e, tt.line, tt.col, tt.fatal, tt.msg)
				}
				if !strings.Contains(e.Error(), tt.name) {
					t.Errorf("error %q does not name the file", e.Error())
				}
			}
			if len(rows) != tt.rows {
				t.Errorf("rows = %d, want %d", len(rows), tt.rows)
			}
		})
	}
}

func TestJSONShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, content string
		want          []map[string]any
	}{
		{"splits.json", `{"train": [{"a": "x"}, {"a": "y"}], "test": [{"a": "z"}]}`,
			[]map[string]any{{"a": "x", "_split": "train"}, {"a": "y", "_split": "train"}, {"a": "z", "_split": "test"}}},
		{"columnar.json", "\xef\xbb\xbf{\"q\": [\"a\", \"b\"], \"n\": [1, {\"x\": [2]}]}",
			[]map[string]any{{"q": "a", "n": 1.0}, {"q": "b", "n": map[string]any{"x": []any{2.0}}}}},
		{"lines.json", "{\"a\": 1}\n{\"a\": 2}\n", []map[string]any{{"a": 1.0}, {"a": 2.0}}},
		{"array.jsonl", `[{"a": 1}]`, []map[string]any{{"a": 1.0}}},
		{"t.tsv", "q\ta\nx \"y\"\tz\n", []map[string]any{{"q": "x \"y\"", "a": "z"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows, soft, err := readAll(t, write(t, tt.name, tt.content), Options{})
			if err != nil || len(soft) > 0 {
				t.Fatal(err, soft)
			}
			var got []map[string]any
			for _, r := range rows {
				got = append(got, r.Fields)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestTextSplit(t *testing.T) {
	t.Parallel()
	p := write(t, "t.txt", "one\ntwo\n\n\nthree\n")
	for split, want := range map[string][]string{
		"line":      {"one", "two", "three"},
		"paragraph": {"one\ntwo", "three"},
		"file":      {"one\ntwo\n\n\nthree"},
	} {
		rows, _, err := readAll(t, p, Options{TextSplit: split})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rows {
			got = append(got, r.Fields["text"].(string))
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s (-want +got)\n%s", split, d)
		}
	}
}

type msg struct {
	Role    string `parquet:"role"`
	Content string `parquet:"content"`
}

type chatRow struct {
	Messages []msg `parquet:"messages,list"`
	Score    int64 `parquet:"score"`
}

// WriteParquet writes n chat rows to path with parquet-go's writer.
func writeParquet(tb testing.TB, path string, n int) {
	tb.Helper()
	rows := make([]chatRow, n)
	for i := range rows {
		rows[i] = chatRow{Messages: []msg{{"user", "hi " + string(rune('a'+i%26))}, {"assistant", "hello"}}, Score: int64(i)}
	}
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := parquet.Write(f, rows, parquet.Compression(&parquet.Zstd)); err != nil {
		tb.Fatal(err)
	}
}

func TestParquet(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "chat.parquet")
	writeParquet(t, p, 150)
	rows, soft, err := readAll(t, p, Options{})
	if err != nil || len(soft) > 0 {
		t.Fatal(err, soft)
	}
	if len(rows) != 150 {
		t.Fatalf("rows = %d", len(rows))
	}
	want := map[string]any{"messages": []any{map[string]any{"role": "user", "content": "hi c"}, map[string]any{"role": "assistant", "content": "hello"}}, "score": int64(2)}
	if d := cmp.Diff(want, rows[2].Fields); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	if rows[149].Line != 150 {
		t.Errorf("last line = %d", rows[149].Line)
	}
	// A corrupt file gives an error, not a panic.
	_, _, err = readAll(t, write(t, "bad.parquet", "PAR1 not really PAR1"), Options{})
	if err == nil || !strings.Contains(err.Error(), "Parquet") {
		t.Errorf("corrupt parquet: %v", err)
	}
}

func TestCompressed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	content := "{\"text\": \"one\"}\n{\"text\": \"two\"}\n{\"text\": \"caf\xe9\"}\n"
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(content))
	zw.Close()
	enc, _ := zstd.NewWriter(nil)
	zst := enc.EncodeAll([]byte(content), nil)
	for name, data := range map[string][]byte{"d.jsonl.gz": gz.Bytes(), "d.jsonl.zst": zst} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o644)
		rows, soft, err := readAll(t, p, Options{})
		if err != nil || len(rows) != 2 || len(soft) != 1 || rows[1].Fields["text"] != "two" {
			t.Errorf("%s: rows %v soft %v err %v", name, rows, soft, err)
		}
		var e *Error
		if errors.As(soft[0], &e) && (e.Line != 3 || e.Column != 14) {
			t.Errorf("%s: error %v", name, e)
		}
	}
	// Not really gzip.
	p := filepath.Join(dir, "bad.json.gz")
	os.WriteFile(p, []byte("[{}]"), 0o644)
	if _, err := Open(p, Options{}); err == nil || !strings.Contains(err.Error(), "gzip") {
		t.Errorf("bad gzip: %v", err)
	}
}
