package testsvc

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// OwnS3 is an S3 server (versitygw) that a test starts and stops itself, to
// take S3 away mid-run; its data outlives a stop.
type OwnS3 struct {
	S3
	bin, root string
	cmd       *exec.Cmd
}

// StartOwnS3 starts versitygw on a free port over a fresh folder with one
// bucket, "down". It needs the binary scripts/services.sh installs (on PATH
// or in ~/go/bin) and skips without it, or fails under
// WHET_REQUIRE_SERVICES=1. The server is killed when t ends.
func StartOwnS3(t testing.TB) *OwnS3 {
	t.Helper()
	bin, err := exec.LookPath("versitygw")
	if err != nil {
		if bin = filepath.Join(os.Getenv("HOME"), "go", "bin", "versitygw"); !exists(bin) {
			if os.Getenv("WHET_REQUIRE_SERVICES") == "1" {
				t.Fatal("versitygw binary not found (scripts/services.sh installs it)")
			}
			t.Skip("versitygw binary not found (scripts/services.sh installs it)")
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	s := &OwnS3{S3: S3{Endpoint: "http://127.0.0.1:" + port, AccessKey: "down-key", Secret: "down-secret", Bucket: "down"},
		bin: bin, root: t.TempDir()}
	if err := os.MkdirAll(filepath.Join(s.root, s.Bucket), 0o755); err != nil { // a folder under the root is a bucket
		t.Fatal(err)
	}
	s.Start(t)
	t.Cleanup(s.Stop)
	return s
}

// Start starts the server again (after Stop) and waits until it answers.
func (s *OwnS3) Start(t testing.TB) {
	t.Helper()
	s.cmd = exec.Command(s.bin, "--access", s.AccessKey, "--secret", s.Secret, "--port", s.Endpoint[len("http://"):], "posix", s.root)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for range 200 {
		if Reachable(s.Endpoint[len("http://"):]) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("versitygw did not start")
}

// Stop kills the server (SIGKILL: nothing flushed, connections dropped).
func (s *OwnS3) Stop() {
	if s.cmd != nil && s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }
