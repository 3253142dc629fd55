package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/sandbox"
)

func TestPrecedence(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "whet.yaml")
	os.WriteFile(file, []byte("data_dir: /from/file\naddr: \":1\"\nconcurrency: 3\nlease_timeout: 45s\n"), 0o644)
	env := map[string]string{"WHET_ADDR": ":2", "WHET_CONCURRENCY": "5", "WHET_RETRY_BASE": "1s"}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	l := Bind(fs)
	if err := fs.Parse([]string{"-config", file, "-concurrency", "7"}); err != nil {
		t.Fatal(err)
	}
	c, err := l.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/from/file" || c.Database != "/from/file/whet.db" || c.Addr != ":2" || c.Concurrency != 7 ||
		c.LeaseTimeout != 45*time.Second || c.RetryBase != time.Second || c.MaxAttempts != 3 {
		t.Errorf("config = %+v", c)
	}
}

func TestErrorsNameTheField(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file, env, want string
	}{
		{"concurrency: 0\nmax_attempts: 500\n", "", "max_attempts"},
		{"data_dirr: x\n", "", `unknown field "data_dirr"`},
		{"lease_timeout: soon\n", "", "bad duration"},
		{"", "WHET_POLL_INTERVAL=fast", "WHET_POLL_INTERVAL"},
		{"log_level: loud\n", "", "log_level"},
	} {
		file := filepath.Join(t.TempDir(), "c.yaml")
		os.WriteFile(file, []byte(tc.file), 0o644)
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		l := Bind(fs)
		fs.Parse([]string{"-config", file})
		k, v, _ := strings.Cut(tc.env, "=")
		_, err := l.Load(func(s string) string {
			if s == k {
				return v
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %q: error %v, want one naming %q", tc.file, tc.env, err, tc.want)
		}
	}
}

func TestIsolateAgentsDefaultsOn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file, env string
		args            []string
		want            bool
	}{
		{"default", "", "", nil, true},
		{"file off", "isolate_agents: false\n", "", nil, false},
		{"env off", "", "false", nil, false},
		{"flag off beats env on", "", "true", []string{"-isolate-agents=false"}, false},
		{"bare flag on beats file off", "isolate_agents: false\n", "", []string{"-isolate-agents"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "c.yaml")
			os.WriteFile(file, []byte(tc.file), 0o644)
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			l := Bind(fs)
			if err := fs.Parse(append([]string{"-config", file}, tc.args...)); err != nil {
				t.Fatal(err)
			}
			c, err := l.Load(func(k string) string {
				if k == "WHET_ISOLATE_AGENTS" {
					return tc.env
				}
				return ""
			})
			if err != nil {
				t.Fatal(err)
			}
			if c.Isolated() != tc.want {
				t.Errorf("Isolated() = %v, want %v", c.Isolated(), tc.want)
			}
		})
	}
}

// TestServerFilesWithWorkDir: with the default ./whet-data (relative to the
// server's current folder) and --work-dir elsewhere, an allowed folder
// holding the data folder still refuses it: the sandbox resolves relative
// paths against the work folder, so ServerFiles must name the files where
// the server opens them.
func TestServerFilesWithWorkDir(t *testing.T) {
	cwd, work := t.TempDir(), t.TempDir()
	t.Chdir(cwd)
	c := Default()
	c.WorkDir = work
	os.MkdirAll(filepath.Join(cwd, "whet-data", "blobs"), 0o755)
	os.WriteFile(filepath.Join(cwd, "whet-data", "secret.key"), []byte("k"), 0o600)
	for _, f := range c.ServerFiles() {
		if !filepath.IsAbs(f) {
			t.Errorf("ServerFiles has %q, want absolute paths", f)
		}
	}
	p, err := sandbox.New(c.WorkDir, []string{cwd}, c.ServerFiles()...)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(cwd, "whet-data", "secret.key"), filepath.Join(cwd, "whet-data", "blobs"), cwd} {
		if _, err := p.Resolve(path); err == nil {
			t.Errorf("Resolve(%q) allowed, want refused: the server's data folder", path)
		}
	}
}
