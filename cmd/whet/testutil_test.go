package main

import (
	"bytes"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// lockedLog is a log buffer that a server goroutine writes while the test
// reads.
type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitHealthy polls url until it answers 200, or fails the test with logs.
func waitHealthy(t *testing.T, url string, logs *lockedLog) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never answered 200:\n%s", url, logs.String())
}

// allowRepoAndShared are the --allow-path flags a test server needs to read
// the repository's examples and the bundled assets in ../shared.
func allowRepoAndShared(t testing.TB) []string {
	root := repoRoot(t)
	return []string{"--allow-path", root, "--allow-path", filepath.Join(root, "..", "shared")}
}
