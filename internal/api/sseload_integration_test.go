//go:build integration

package api_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/whetstone/whetstone/internal/api"
	"github.com/whetstone/whetstone/internal/config"
	"github.com/whetstone/whetstone/internal/events"
	"github.com/whetstone/whetstone/internal/platform"
	"github.com/whetstone/whetstone/internal/store"
	"github.com/whetstone/whetstone/internal/store/pgstore/pgtest"
	"github.com/whetstone/whetstone/internal/testsvc"
)

// TestSSELoadPostgres streams one job's events to many SSE subscribers of
// an API on PostgreSQL while another platform (the worker) publishes them
// from several goroutines, and while the test breaks what can break under
// load: it terminates every PostgreSQL backend of the API's pool
// (pg_terminate_backend) several times, mid-burst and during an idle spell
// longer than the heartbeat and Redis's read timeout; a third of the
// subscribers read slowly and a third hang up now and then and come back
// with Last-Event-ID. Every subscriber must get every event exactly once,
// in order, ending with the final status event, and no open stream may
// end before the final event: a database connection that dies under a
// live stream is the server's to get over, not the client's. (Opening a
// stream can still fail, a 500, when the backend is killed in the middle
// of the handler's first query: those are counted and the subscriber comes
// back, as an EventSource does.) Once all have ended, no subscription is
// left open. Run with the store polled (no fan-out) and with the Redis
// fan-out.
func TestSSELoadPostgres(t *testing.T) {
	for _, fan := range []string{"poll", "redis"} {
		t.Run(fan, func(t *testing.T) {
			t.Parallel()
			sseLoad(t, fan == "redis")
		})
	}
}

// sseLoadApp is a platform and its API, with the warnings they logged.
type sseLoadApp struct {
	url  string
	p    *platform.Platform
	logs *lockedBuffer
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

func startSSELoadApp(t *testing.T, db, eventsURL string) *sseLoadApp {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir, cfg.Database, cfg.BlobDir, cfg.Events = dir, db, filepath.Join(dir, "blobs"), eventsURL
	cfg.PollInterval, cfg.WorkDir = 50*time.Millisecond, repoRoot(t)
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p, err := platform.Open(context.Background(), cfg, defaultRegistry(), platform.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	p.Start(context.Background())
	srv := &api.Server{Store: p.Store, Blobs: p.Blobs, Bus: p.Bus, Orch: p.Orch, Agents: defaultRegistry(), Health: p.Health,
		Heartbeat: 100 * time.Millisecond, Logger: log}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Stop(ctx)
	})
	return &sseLoadApp{url: ts.URL + "/api/v1", p: p, logs: logs}
}

func sseLoad(t *testing.T, redis bool) {
	const (
		subs      = 36
		perBurst  = 200
		bursts    = 2
		idle      = 2200 * time.Millisecond // > Redis's 2 s read timeout, 22 heartbeats
		killEvery = 150 * time.Millisecond
	)
	schema := pgtest.NewSchema(t)
	var redisURL string
	if redis {
		redisURL = testsvc.NeedRedis(t)
	}
	b := make([]byte, 4)
	rand.Read(b)
	appName := "whet_sseload_" + hex.EncodeToString(b)
	// The API's pool connects as appName, so the test can kill exactly
	// its backends; the worker's publishes are left alone.
	apiApp := startSSELoadApp(t, schema+"&application_name="+appName, redisURL)
	worker := startSSELoadApp(t, schema+"&application_name="+appName+"_worker", redisURL)

	resp, body := do2(t, "POST", apiApp.url+"/jobs", "application/yaml", "name: p\nnodes: [{id: data, agent: dataset, params: {source: x.jsonl}}]\n")
	if resp.StatusCode != 202 {
		t.Fatalf("POST /jobs = %d %s", resp.StatusCode, body)
	}
	var sub struct {
		JobID string `json:"job_id"`
	}
	if err := json.Unmarshal(body, &sub); err != nil {
		t.Fatal(err)
	}
	id := sub.JobID
	ctx := context.Background()
	before, err := worker.p.Store.ListEvents(ctx, id, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	base := int64(0)
	if len(before) > 0 {
		base = before[len(before)-1].Seq
	}
	final := base + perBurst*bursts + 1

	admin, err := pgx.Connect(ctx, pgtest.Server())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var kills, killed atomic.Int64
	kill := func() {
		var n int64
		err := admin.QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) k`, appName).Scan(&n)
		if err != nil {
			t.Errorf("pg_terminate_backend: %v", err)
			return
		}
		kills.Add(1)
		killed.Add(n)
	}

	// Subscribers.
	tr := &http.Transport{MaxIdleConnsPerHost: subs, MaxConnsPerHost: 2 * subs}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var (
		wg       sync.WaitGroup
		ready    sync.WaitGroup
		mu       sync.Mutex
		breaks   []string // open streams that ended before the final event
		refused  []string // stream opens that failed
		hangups  atomic.Int64
		failures []string
	)
	for i := range subs {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			kind := i % 3 // 0 fast, 1 slow, 2 hangs up now and then
			last, got, first := base, 0, true
			hangAt := int64(40 + 37*i%60)
			for try := 0; ; try++ {
				if try > 200 {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("subscriber %d gave up at event %d", i, last))
					mu.Unlock()
					return
				}
				ended, hungUp, err := sseLoadOnce(client, apiApp.url+"/logs/stream/"+id, &last, &got, final, func() {
					if first {
						first = false
						ready.Done()
					}
				}, kind == 1, func(seq int64) bool { return kind == 2 && seq >= hangAt })
				if ended {
					if first {
						ready.Done()
					}
					return
				}
				if hungUp {
					hangups.Add(1)
					hangAt = last + 30 + int64(i)
					continue
				}
				var oe *openError
				if errors.As(err, &oe) {
					mu.Lock()
					refused = append(refused, fmt.Sprintf("subscriber %d at event %d: %v", i, last, err))
					mu.Unlock()
				} else if err != nil {
					mu.Lock()
					breaks = append(breaks, fmt.Sprintf("subscriber %d at event %d: %v", i, last, err))
					gap := strings.Contains(err.Error(), "gap or duplicate")
					if gap {
						failures = append(failures, fmt.Sprintf("subscriber %d: %v", i, err))
					}
					mu.Unlock()
					if gap {
						if first {
							ready.Done()
						}
						return
					}
				}
				time.Sleep(50 * time.Millisecond) // an EventSource's retry
			}
		}()
	}
	ready.Wait()

	// Publishers (the worker, another process), 3 goroutines per burst,
	// and the killer.
	publish := func(n int) {
		var pw sync.WaitGroup
		for g := range 3 {
			pw.Add(1)
			go func() {
				defer pw.Done()
				for k := g; k < n; k += 3 {
					e := events.New(id, "data", events.Log, events.LogData{Level: "INFO", Msg: fmt.Sprint("line ", k)})
					if err := worker.p.Bus.Publish(ctx, e); err != nil {
						t.Errorf("publish: %v", err)
						return
					}
					if k%10 == 0 {
						time.Sleep(2 * time.Millisecond)
					}
				}
			}()
		}
		pw.Wait()
	}
	stopKill := make(chan struct{})
	killDone := make(chan struct{})
	go func() {
		defer close(killDone)
		tick := time.NewTicker(killEvery)
		defer tick.Stop()
		for {
			select {
			case <-stopKill:
				return
			case <-tick.C:
				kill()
			}
		}
	}()
	for range bursts {
		publish(perBurst)
		time.Sleep(idle)
	}
	close(stopKill)
	<-killDone
	if err := worker.p.Bus.Publish(ctx, events.New(id, "", events.Status, events.StatusData{Status: store.Cancelled})); err != nil {
		t.Fatalf("publish final: %v", err)
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("subscribers still streaming 30 s after the final event")
	}
	for _, f := range failures {
		t.Error(f)
	}
	if len(breaks) > 0 {
		max := min(len(breaks), 10)
		t.Errorf("%d open streams ended before the final event (%d kills, %d backends terminated); first %d:\n%s\nAPI log:\n%s",
			len(breaks), kills.Load(), killed.Load(), max, strings.Join(breaks[:max], "\n"), tail(apiApp.logs.String(), 4000))
	}
	if killed.Load() == 0 {
		t.Errorf("no backend of %s was terminated: the test did not break anything", appName)
	}
	if hangups.Load() == 0 {
		t.Error("no subscriber hung up and came back")
	}
	deadline := time.Now().Add(5 * time.Second)
	for apiApp.p.Bus.Subscribers() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := apiApp.p.Bus.Subscribers(); n > 0 {
		t.Errorf("%d subscriptions still open after every stream ended", n)
	}
	for _, r := range refused {
		t.Logf("stream open failed (the subscriber came back): %s", r)
	}
	t.Logf("%d subscribers, %d events, %d kills (%d backends), %d hang-ups and reconnects, %d failed opens",
		subs, final-base, kills.Load(), killed.Load(), hangups.Load(), len(refused))
}

// openError is a stream that did not open.
type openError struct{ err error }

func (e *openError) Error() string { return e.err.Error() }

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func do2(t *testing.T, method, url, ctype, body string) (*http.Response, []byte) {
	t.Helper()
	return do(t, method, url, ctype, strings.NewReader(body))
}

// sseLoadOnce reads one SSE connection after *last (Last-Event-ID). It
// returns ended when the event final arrived, hungUp when hangUp asked to
// drop the connection; any other end is an error: the server's doing, or
// an event out of order (a gap or a duplicate, which is the test's
// failure). slow reads one event per millisecond.
func sseLoadOnce(c *http.Client, url string, last *int64, got *int, final int64, connected func(), slow bool, hangUp func(int64) bool) (ended, hungUp bool, err error) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Last-Event-ID", strconv.FormatInt(*last, 10))
	resp, err := c.Do(req)
	if err != nil {
		return false, false, &openError{err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		msg, _ := io.ReadAll(resp.Body)
		return false, false, &openError{fmt.Errorf("GET stream: %s %s", resp.Status, bytes.TrimSpace(msg))}
	}
	connected()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var idLine int64 = -1
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "id: "); ok {
			idLine, _ = strconv.ParseInt(v, 10, 64)
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var e struct {
			Seq int64 `json:"seq"`
		}
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			return false, false, fmt.Errorf("event after %d: %v", *last, err)
		}
		if e.Seq != *last+1 || idLine != e.Seq {
			return false, false, fmt.Errorf("event %d (id %d) after %d: a gap or duplicate", e.Seq, idLine, *last)
		}
		*last = e.Seq
		*got++
		if e.Seq == final {
			return true, false, nil
		}
		if slow {
			time.Sleep(time.Millisecond)
		}
		if hangUp(e.Seq) {
			return false, true, nil
		}
	}
	return false, false, fmt.Errorf("stream ended before the final event: %v", sc.Err())
}
