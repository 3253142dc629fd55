package redact

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPaths(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	r := NewPaths([]string{link, "/srv/shared", "/", ""})
	cases := []struct{ name, in, want string }{
		{"blob folder in JSON", `{"model":"` + data + `/blobs/jobs/job_1/tune/model"}`, `{"model":"tune/model"}`},
		{"a job's own folder", `"` + data + `/blobs/jobs/job_1"`, `"job_1"`},
		{"through the symlink", `{"tokenizer":"` + link + `/x/stories260K/"}`, `{"tokenizer":"stories260K"}`},
		{"the root itself", `"` + data + `"`, `"` + filepath.Base(data) + `"`},
		{"inside an error", `open /srv/shared/assets/a.jsonl: no such file or directory`, `open a.jsonl: no such file or directory`},
		{"in markup", `<code>/srv/shared/models/base</code>`, `<code>base</code>`},
		{"a longer name only starts like a root", `/srv/shared2/x`, `/srv/shared2/x`},
		{"a relative path is the user's own", `../shared/assets/models/stories260K`, `../shared/assets/models/stories260K`},
		{"other absolute paths stay", `/etc/hosts`, `/etc/hosts`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := string(r.Bytes([]byte(c.in))); got != c.want {
				t.Errorf("Bytes(%q) = %q, want %q", c.in, got, c.want)
			}
			if got := r.String(c.in); got != c.want {
				t.Errorf("String(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}

	t.Run("a job keeps its spec as written", func(t *testing.T) {
		job := `{"job_id":"j","spec":{"nodes":[{"params":{"base_model":"/srv/shared/models/base"}}]},"nodes":[{"outputs":[{"meta":{"base_model":"/srv/shared/models/base"}}]}],"error":"open ` + data + `/tmp/x: denied"}`
		want := `{"job_id":"j","spec":{"nodes":[{"params":{"base_model":"/srv/shared/models/base"}}]},"nodes":[{"outputs":[{"meta":{"base_model":"base"}}]}],"error":"open x: denied"}`
		if got := string(r.Job([]byte(job))); got != want {
			t.Errorf("Job:\n got %s\nwant %s", got, want)
		}
	})
	t.Run("decoded meta", func(t *testing.T) {
		var m map[string]any
		json.Unmarshal([]byte(`{"base_model":"/srv/shared/models/base","files":[{"path":"/srv/shared/models/base/config.json"}],"steps":3}`), &m)
		b, _ := json.Marshal(r.Any(m))
		if want := `{"base_model":"base","files":[{"path":"config.json"}],"steps":3}`; string(b) != want {
			t.Errorf("Any: got %s, want %s", b, want)
		}
	})
	if NewPaths([]string{"", "/"}) != nil {
		t.Errorf("a redactor of no usable root should be nil")
	}
	var none *Paths
	if got := none.String("/srv/shared/x"); got != "/srv/shared/x" {
		t.Errorf("nil redactor changed %q", got)
	}
}

// BenchmarkRedactJob measures what GET /jobs/{id} adds for a job whose
// node outputs name server folders (the shared example's seven nodes).
func BenchmarkRedactJob(b *testing.B) {
	r := NewPaths([]string{"/var/lib/whet", "/srv/work", "/srv/shared"})
	var sb strings.Builder
	sb.WriteString(`{"job_id":"job_1","spec":{"nodes":[{"id":"tune","params":{"base_model":"/srv/shared/models/stories260K"}}]},"nodes":[`)
	for i := range 7 {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"id":"n%d","params":{"lr":0.003},"outputs":[{"type":"model","name":"model","path":".","uri":"jobs/job_1/n%d/model/","meta":{"base_model":"/srv/shared/models/stories260K","tokenizer":"/srv/shared/models/stories260K","model":"/var/lib/whet/blobs/jobs/job_1/tune/model","metrics":{"loss":3.58,"perplexity":35.9},"history":"history.json","files":[%s]}}],"error":""}`,
			i, i, strings.Repeat(`{"path":"adapter_model.safetensors","size":195614,"sha256":"d294d50f0c5a6a0ad4cf1d9c0c0a3e5fb5628318d294d50f0c5a6a0ad4cf1d9c"},`, 20)+`{}`)
	}
	sb.WriteString(`]}`)
	job := []byte(sb.String())
	b.SetBytes(int64(len(job)))
	b.ReportAllocs()
	for b.Loop() {
		r.Job(job)
	}
}
