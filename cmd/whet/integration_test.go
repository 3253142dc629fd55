//go:build integration

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/store"
	"github.com/whetstone/whetstone/internal/store/pgstore/pgtest"
)

// These tests run a real `whet serve` process. Run them with
//
//	go test -tags integration -run Integration ./cmd/whet

func buildWhet(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "whet")
	cmd := exec.Command("go", "build", "-tags", "whet_testagents", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

type server struct {
	cmd *exec.Cmd
	url string
	log *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startServer(t *testing.T, bin, dataDir string, args ...string) *server {
	t.Helper()
	addr := freePort(t)
	s := &server{url: "http://" + addr + "/api/v1", log: &lockedBuffer{}}
	s.cmd = exec.Command(bin, append(append([]string{"serve", "--addr", addr, "--data-dir", dataDir, "--work-dir", repoRoot(t)}, allowRepoAndShared(t)...), args...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Signal(syscall.SIGTERM)
			s.cmd.Wait()
		}
	})
	for range 300 {
		if resp, err := http.Get(s.url + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server did not come up:\n%s", s.log.String())
	return nil
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func history(t *testing.T, s *server, id string) []store.Event {
	var h struct{ Events []store.Event }
	getJSON(t, s.url+"/logs/history/"+id+"?limit=10000", &h)
	return h.Events
}

// SIGKILL of the serving process mid-node, then a restart on the same data
// folder: the restarted worker (same worker id) takes its dead lease back at
// once (the lease is 30 s here; the job ends well before), on SQLite and on
// PostgreSQL.
func TestIntegrationKill9Restart(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { kill9Restart(t) })
	t.Run("postgres", func(t *testing.T) { kill9Restart(t, "--database", pgtest.NewSchema(t)) })
}

func kill9Restart(t *testing.T, extra ...string) {
	bin := buildWhet(t)
	dataDir := t.TempDir()
	flags := append([]string{"--lease-timeout", "30s", "--poll-interval", "100ms"}, extra...)
	s := startServer(t, bin, dataDir, flags...)
	spec := `{"name": "durable", "nodes": [
		{"id": "a", "agent": "sleep", "params": {"seconds": 3, "steps": 30}},
		{"id": "b", "agent": "sleep", "params": {"seconds": 0.5, "steps": 5}}],
		"edges": [{"from": "a", "to": "b"}]}`
	resp, err := http.Post(s.url+"/jobs", "application/json", strings.NewReader(spec))
	if err != nil {
		t.Fatal(err)
	}
	var sub struct {
		JobID string `json:"job_id"`
	}
	json.NewDecoder(resp.Body).Decode(&sub)
	resp.Body.Close()
	// Wait until node a is well into its run, then kill -9 the server.
	var before []store.Event
	for range 200 {
		before = history(t, s, sub.JobID)
		n := 0
		for _, e := range before {
			if e.Type == "progress" {
				n++
			}
		}
		if n >= 5 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	s.cmd.Wait()
	killedAt := time.Now()

	s2 := startServer(t, bin, dataDir, flags...)
	var j store.Job
	for time.Since(killedAt) < 60*time.Second {
		getJSON(t, s2.url+"/jobs/"+sub.JobID, &j)
		if j.Status.Terminal() {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if j.Status != store.Succeeded {
		t.Fatalf("after restart: job %s (%s)\n%s", j.Status, j.Error, s2.log.String())
	}
	took := time.Since(killedAt)
	t.Logf("job finished %s after the kill", took.Round(time.Millisecond))
	if took > 20*time.Second {
		t.Errorf("job finished %s after the kill: the restarted worker waited for its old lease (30s)", took)
	}
	if a := j.Nodes[0]; a.Attempts != 2 {
		t.Errorf("node a attempts = %d, want 2 (killed once)", a.Attempts)
	}
	after := history(t, s2, sub.JobID)
	// Nothing lost: what was stored before the kill is a prefix, unchanged.
	if len(after) < len(before) {
		t.Fatalf("history shrank from %d to %d events", len(before), len(after))
	}
	for i, e := range before {
		if after[i].Seq != e.Seq || after[i].Type != e.Type || string(after[i].Data) != string(e.Data) {
			t.Fatalf("event %d changed across the restart: %+v vs %+v", i, e, after[i])
		}
	}
	// Nothing duplicated: seqs 1..N, one final status, at the end.
	finals, lost := 0, false
	for i, e := range after {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
		if e.Type == "status" && strings.Contains(string(e.Data), "succeeded") {
			finals++
		}
		if e.Type == "node" && strings.Contains(string(e.Data), "restarted: its previous run died holding this node") {
			lost = true
		}
	}
	if finals != 1 || !strings.Contains(string(after[len(after)-1].Data), "succeeded") {
		t.Errorf("%d final status events; last event %+v", finals, after[len(after)-1])
	}
	if !lost {
		t.Error("no 'worker restarted' node event in the history")
	}
}

// rss returns the peak resident set size of pid in bytes (VmHWM).
func rss(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

func TestIntegrationUpload1GBStreams(t *testing.T) {
	bin := buildWhet(t)
	s := startServer(t, bin, t.TempDir(), "--max-upload-bytes", strconv.FormatInt(2<<30, 10))
	const size = 1 << 30
	line := []byte(`{"text": "` + strings.Repeat("whetstone ", 9) + `"}` + "\n") // 104 bytes
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	h := sha256.New()
	go func() {
		w, _ := mw.CreateFormFile("file", "big.jsonl")
		ww := io.MultiWriter(w, h)
		buf := bytes.Repeat(line, 10000)
		for n := 0; n < size; {
			k := min(len(buf), size-n)
			if _, err := ww.Write(buf[:k]); err != nil {
				pw.CloseWithError(err)
				return
			}
			n += k
		}
		mw.Close()
		pw.Close()
	}()
	t0 := time.Now()
	resp, err := http.Post(s.url+"/datasets/upload", mw.FormDataContentType(), pr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d store.Dataset
	json.NewDecoder(resp.Body).Decode(&d)
	if resp.StatusCode != 201 || d.Size != size || d.SHA256 != hex.EncodeToString(h.Sum(nil)) {
		t.Fatalf("upload = %d %+v", resp.StatusCode, d)
	}
	peak := rss(t, s.cmd.Process.Pid)
	t.Logf("1 GiB upload in %s, server peak RSS %d MB", time.Since(t0).Round(time.Millisecond), peak>>20)
	if peak > 100<<20 {
		t.Errorf("server peak RSS %d MB, want under 100 MB", peak>>20)
	}
}

func startWorker(t *testing.T, bin, dataDir string, args ...string) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	log := &lockedBuffer{}
	cmd := exec.Command(bin, append(append([]string{"worker", "--data-dir", dataDir, "--work-dir", repoRoot(t)}, allowRepoAndShared(t)...), args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	return cmd, log
}

// A separate `whet worker` shares the server's database: it takes nodes,
// its events reach the server's SSE clients, and cancelling through the
// server stops its agents.
func TestIntegrationSeparateWorker(t *testing.T) {
	bin := buildWhet(t)
	dataDir := t.TempDir()
	flags := []string{"--poll-interval", "100ms", "--concurrency", "1"}
	s := startServer(t, bin, dataDir, flags...)
	_, wlog := startWorker(t, bin, dataDir, "--poll-interval", "100ms", "--concurrency", "4")
	var ids []string
	for i := range 4 {
		spec := fmt.Sprintf(`{"name": "w%d", "nodes": [{"id": "a", "agent": "sleep", "params": {"seconds": 1, "steps": 5}}]}`, i)
		resp, err := http.Post(s.url+"/jobs", "application/json", strings.NewReader(spec))
		if err != nil {
			t.Fatal(err)
		}
		var sub struct {
			JobID string `json:"job_id"`
		}
		json.NewDecoder(resp.Body).Decode(&sub)
		resp.Body.Close()
		ids = append(ids, sub.JobID)
	}
	for _, id := range ids {
		var j store.Job
		for range 300 {
			getJSON(t, s.url+"/jobs/"+id, &j)
			if j.Status.Terminal() {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if j.Status != store.Succeeded {
			t.Fatalf("job %s: %s %s\nserver:\n%s\nworker:\n%s", id, j.Status, j.Error, s.log.String(), wlog.String())
		}
		if n := len(history(t, s, id)); n < 10 {
			t.Errorf("job %s: %d events in history", id, n)
		}
	}
	if !strings.Contains(wlog.String(), "node running") {
		t.Fatalf("the worker ran no node:\n%s", wlog.String())
	}
	// Cancel through the server a node the worker runs (the server is busy
	// with a long node of its own, so the worker takes the second job).
	var long []string
	for i := range 2 {
		spec := fmt.Sprintf(`{"name": "long%d", "nodes": [{"id": "a", "agent": "sleep", "params": {"seconds": 60, "steps": 600}}]}`, i)
		resp, _ := http.Post(s.url+"/jobs", "application/json", strings.NewReader(spec))
		var sub struct {
			JobID string `json:"job_id"`
		}
		json.NewDecoder(resp.Body).Decode(&sub)
		resp.Body.Close()
		long = append(long, sub.JobID)
	}
	time.Sleep(1500 * time.Millisecond)
	t0 := time.Now()
	for _, id := range long {
		req, _ := http.NewRequest("DELETE", s.url+"/jobs/"+id, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("cancel: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	for _, id := range long {
		var j store.Job
		for range 100 {
			getJSON(t, s.url+"/jobs/"+id, &j)
			if j.Nodes[0].Status == store.Cancelled {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if j.Nodes[0].Status != store.Cancelled {
			t.Errorf("job %s node still %s %s after cancel", id, j.Nodes[0].Status, time.Since(t0))
		}
	}
	t.Logf("both long nodes cancelled within %s", time.Since(t0).Round(time.Millisecond))
	if n := strings.Count(wlog.String(), "node cancelled"); n == 0 {
		t.Errorf("no node was cancelled on the worker:\n%s", wlog.String())
	}
}

// SIGTERM to a worker hands its running node back at once without spending
// an attempt: an API-only process (serve --no-worker) and two workers on
// PostgreSQL, each with its own data folder; the node (max_attempts 1) ends
// on the other worker long before the 30 s lease.
func TestIntegrationSIGTERMHandsBack(t *testing.T) {
	bin := buildWhet(t)
	db := pgtest.NewSchema(t)
	flags := []string{"--database", db, "--lease-timeout", "30s", "--poll-interval", "100ms"}
	api := startServer(t, bin, t.TempDir(), append(flags, "--no-worker")...)
	w1, log1 := startWorker(t, bin, t.TempDir(), flags...)
	spec := `{"name": "handback", "nodes": [{"id": "a", "agent": "sleep", "max_attempts": 1, "cache": false, "params": {"seconds": 3, "steps": 30}}]}`
	resp, err := http.Post(api.url+"/jobs", "application/json", strings.NewReader(spec))
	if err != nil {
		t.Fatal(err)
	}
	var sub struct {
		JobID string `json:"job_id"`
	}
	json.NewDecoder(resp.Body).Decode(&sub)
	resp.Body.Close()
	for range 400 {
		n := 0
		for _, e := range history(t, api, sub.JobID) {
			if e.Type == "progress" {
				n++
			}
		}
		if n >= 3 {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	w2, log2 := startWorker(t, bin, t.TempDir(), flags...)
	termAt := time.Now()
	w1.Process.Signal(syscall.SIGTERM)
	if err := w1.Wait(); err != nil {
		t.Errorf("worker 1 exit: %v\n%s", err, log1.String())
	}
	if d := time.Since(termAt); d > 5*time.Second {
		t.Errorf("worker 1 took %s to stop", d)
	}
	var j store.Job
	for time.Since(termAt) < 60*time.Second {
		getJSON(t, api.url+"/jobs/"+sub.JobID, &j)
		if j.Status.Terminal() {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if j.Status != store.Succeeded || j.Nodes[0].Attempts != 1 {
		t.Fatalf("job %s (%s), attempts %d\nworker 2:\n%s", j.Status, j.Error, j.Nodes[0].Attempts, log2.String())
	}
	if took := time.Since(termAt); took > 20*time.Second {
		t.Errorf("job finished %s after SIGTERM; the lease is 30s", took)
	}
	handed := false
	for _, e := range history(t, api, sub.JobID) {
		handed = handed || strings.Contains(string(e.Data), "handed back: worker stopping")
	}
	if !handed {
		t.Error("no handed-back node event")
	}
	w2.Process.Signal(syscall.SIGTERM)
}
