package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/config"
	"github.com/whetstone/whetstone/internal/events"
	"github.com/whetstone/whetstone/internal/store/pgstore/pgtest"
	"github.com/whetstone/whetstone/internal/testsvc"
)

// latencies runs clients goroutines doing perClient requests each and
// reports p50 and p99 in milliseconds over every iteration.
func latencies(b *testing.B, clients, perClient int, do func(c *http.Client) error) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	c := &http.Client{Transport: tr}
	var all []time.Duration
	var mu sync.Mutex
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		var wg sync.WaitGroup
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				local := make([]time.Duration, 0, perClient)
				for range perClient {
					t0 := time.Now()
					if err := do(c); err != nil {
						b.Error(err)
						return
					}
					local = append(local, time.Since(t0))
				}
				mu.Lock()
				all = append(all, local...)
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(float64(len(all))/b.Elapsed().Seconds(), "req/s")
	// CPU per request, client and server together (one process): unlike the
	// latencies it barely depends on what else the machine runs.
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(all)), "cpu_us/req")
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// databases are the metadata stores the API benchmarks run on side by side:
// SQLite (the default file) and PostgreSQL (a fresh schema; skipped when the
// server is not running).
var databases = []struct {
	name string
	url  func(b *testing.B) string
}{
	{"sqlite", func(*testing.B) string { return "" }},
	{"postgres", func(b *testing.B) string { return pgtest.NewSchema(b) }},
}

func setupDB(b *testing.B, url string, work bool) *env {
	return setupConfig(b, defaultRegistry(), func(c *config.Config) {
		if url != "" {
			c.Database = url
		}
	}, work)
}

func BenchmarkGetJob50Clients(b *testing.B) {
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			e := setupDB(b, db.url(b), true)
			id := e.submitB(b, "name: p\nnodes: [{id: data, agent: dataset, params: {source: "+alpaca+"}}, {id: m, agent: fakemodel}]\nedges: [{from: data, to: m}]\n", true)
			url := e.url + "/jobs/" + id
			latencies(b, 50, 40, func(c *http.Client) error {
				resp, err := c.Get(url)
				if err != nil {
					return err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return fmt.Errorf("GET job: %d", resp.StatusCode)
				}
				return nil
			})
		})
	}
}

// BenchmarkPostJob50Clients submits two-node pipelines; the server only
// queues them (no worker), so the figure is the API's, not the agents'.
func BenchmarkPostJob50Clients(b *testing.B) {
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			e := setupDB(b, db.url(b), false)
			spec := `{"name": "p", "nodes": [{"id": "data", "agent": "dataset", "params": {"source": "x.jsonl"}}, {"id": "m", "agent": "fakemodel"}], "edges": [{"from": "data", "to": "m"}]}`
			latencies(b, 50, 10, func(c *http.Client) error {
				resp, err := c.Post(e.url+"/jobs", "application/json", strings.NewReader(spec))
				if err != nil {
					return err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 202 {
					return fmt.Errorf("POST job: %d", resp.StatusCode)
				}
				return nil
			})
		})
	}
}

// BenchmarkSSEFanout100 publishes events to one job with 100 SSE
// subscribers and reports events delivered per second across them.
func BenchmarkSSEFanout100(b *testing.B) {
	const subs, perIter = 100, 200
	e := setup(b, false)
	id := e.submitB(b, "name: p\nnodes: [{id: data, agent: dataset, params: {source: x.jsonl}}]\n", false)
	tr := &http.Transport{MaxIdleConnsPerHost: subs, MaxConnsPerHost: subs}
	c := &http.Client{Transport: tr}
	ctx := context.Background()
	total := 0
	var cpu time.Duration
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		start := (int64)(0)
		evs, _ := e.p.Store.ListEvents(ctx, id, 0, 100000)
		if len(evs) > 0 {
			start = evs[len(evs)-1].Seq
		}
		target := start + perIter
		var ready, done sync.WaitGroup
		for range subs {
			ready.Add(1)
			done.Add(1)
			go func() {
				defer done.Done()
				req, _ := http.NewRequest("GET", e.url+"/logs/stream/"+id, nil)
				req.Header.Set("Last-Event-ID", fmt.Sprint(start))
				resp, err := c.Do(req)
				if err != nil {
					b.Error(err)
					ready.Done()
					return
				}
				defer resp.Body.Close()
				ready.Done()
				sc := bufio.NewScanner(resp.Body)
				want := fmt.Sprintf("id: %d", target)
				for sc.Scan() {
					if sc.Text() == want {
						return
					}
				}
			}()
		}
		ready.Wait()
		b.StartTimer()
		cpu0 := cpuTime()
		for i := range perIter {
			if err := e.p.Bus.Publish(ctx, events.New(id, "data", events.Log, events.LogData{Level: "INFO", Msg: fmt.Sprint("line ", i)})); err != nil {
				b.Fatal(err)
			}
		}
		done.Wait()
		cpu += cpuTime() - cpu0
		total += subs * perIter
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(total), "cpu_ns/delivery")
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(float64(total/subs)/b.Elapsed().Seconds(), "events/s")
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

// submitB submits spec and, when wait, waits for the job to end.
func (e *env) submitB(b *testing.B, spec string, wait bool) string {
	resp, err := http.Post(e.url+"/jobs", "application/yaml", strings.NewReader(spec))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]string
	if err := jsonDecode(resp.Body, &out); err != nil || resp.StatusCode != 202 {
		b.Fatalf("submit: %d %v", resp.StatusCode, err)
	}
	for wait {
		var j map[string]any
		r, _ := http.Get(e.url + "/jobs/" + out["job_id"])
		jsonDecode(r.Body, &j)
		r.Body.Close()
		if s := j["status"]; s != "pending" && s != "running" {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	return out["job_id"]
}

// BenchmarkSSEFanoutRedis100 is the scale-out fan-out: 100 SSE subscribers
// of one job, 50 on each of two API processes (two platforms sharing only
// PostgreSQL and Redis, their store polling set to an hour so every event
// comes through Redis), and a third platform, the worker, publishing 200
// events at one every 5 ms. It reports delivery latency (from the event's
// creation on the worker to its arrival at each SSE client) p50 and p99.
// Each subscriber checks it gets every event once, in order; one whose
// stream fails reconnects with Last-Event-ID, as SSE clients do, and the
// reconnects are reported (under heavy machine load the stream's first
// PostgreSQL read has failed with "i/o timeout": a 500, then a reconnect).
func BenchmarkSSEFanoutRedis100(b *testing.B) {
	const subs, perIter, every = 100, 200, 5 * time.Millisecond
	db, redisURL := pgtest.NewSchema(b), testsvc.NeedRedis(b)
	api := func(work bool, poll time.Duration) *env {
		return setupConfig(b, defaultRegistry(), func(c *config.Config) {
			c.Database, c.Events, c.PollInterval = db, redisURL, poll
		}, work)
	}
	apis := []*env{api(false, time.Hour), api(false, time.Hour)}
	worker := api(false, 50*time.Millisecond)
	id := apis[0].submitB(b, "name: p\nnodes: [{id: data, agent: dataset, params: {source: x.jsonl}}]\n", false)
	tr := &http.Transport{MaxIdleConnsPerHost: subs, MaxConnsPerHost: subs}
	c := &http.Client{Transport: tr}
	ctx := context.Background()
	var lat []time.Duration
	var mu sync.Mutex
	var reconnects atomic.Int64
	total := 0
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		start := int64(0)
		if evs, _ := worker.p.Store.ListEvents(ctx, id, 0, 100000); len(evs) > 0 {
			start = evs[len(evs)-1].Seq
		}
		target := start + perIter
		var ready, done sync.WaitGroup
		for i := range subs {
			ready.Add(1)
			done.Add(1)
			go func() {
				defer done.Done()
				local := make([]time.Duration, 0, perIter)
				defer func() {
					mu.Lock()
					lat = append(lat, local...)
					mu.Unlock()
				}()
				last, first := start, true
				for try := 0; last < target; try++ {
					if try > 0 {
						reconnects.Add(1)
						if try > 20 {
							b.Errorf("subscriber gave up after %d reconnects at event %d", try, last)
							return
						}
						time.Sleep(100 * time.Millisecond)
					}
					// An SSE client whose stream breaks reconnects with
					// Last-Event-ID (to the same API: both stay up).
					err := streamOnce(c, apis[i%2].url+"/logs/stream/"+id, &last, target, func() {
						if first {
							first = false
							ready.Done()
						}
					}, func(e time.Time) { local = append(local, time.Since(e)) })
					if err != nil && try == 0 {
						b.Logf("stream: %v (reconnecting)", err)
					}
				}
				if first {
					ready.Done()
				}
			}()
		}
		ready.Wait()
		time.Sleep(100 * time.Millisecond) // every subscriber reading from Redis
		b.StartTimer()
		tick := time.NewTicker(every)
		for i := range perIter {
			<-tick.C
			if err := worker.p.Bus.Publish(ctx, events.New(id, "data", events.Log, events.LogData{Level: "INFO", Msg: fmt.Sprint("line ", i)})); err != nil {
				b.Fatal(err)
			}
		}
		tick.Stop()
		done.Wait()
		total += subs * perIter
	}
	b.StopTimer()
	if len(lat) != total {
		b.Fatalf("%d deliveries, want %d", len(lat), total)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(float64(reconnects.Load()), "reconnects")
}

// streamOnce reads one SSE connection after *last (Last-Event-ID) until
// event target, calling connected once the stream is open and got with each
// event's creation time; *last advances, and an event out of order is an
// error (a gap or a duplicate).
func streamOnce(c *http.Client, url string, last *int64, target int64, connected func(), got func(time.Time)) error {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Last-Event-ID", fmt.Sprint(*last))
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET stream: %s %s", resp.Status, msg)
	}
	connected()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var e struct {
			Seq  int64     `json:"seq"`
			Time time.Time `json:"time"`
		}
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			return err
		}
		if e.Seq != *last+1 {
			return fmt.Errorf("event %d after %d: a gap or a duplicate", e.Seq, *last)
		}
		*last = e.Seq
		got(e.Time)
		if e.Seq == target {
			return nil
		}
	}
	return fmt.Errorf("stream ended at event %d: %v", *last, sc.Err())
}

// BenchmarkListJobs100 lists a page of 100 two-node jobs, each with its
// summary (which reads the job's nodes), from 4 clients: pending jobs, and
// ended ones (cancelled: their summaries are cached).
func BenchmarkListJobs100(b *testing.B) {
	for _, ended := range []bool{false, true} {
		b.Run(map[bool]string{false: "pending", true: "ended"}[ended], func(b *testing.B) {
			e := setup(b, false)
			spec := `{"name": "p", "nodes": [{"id": "data", "agent": "dataset", "params": {"source": "x.jsonl"}}, {"id": "m", "agent": "fakemodel"}], "edges": [{"from": "data", "to": "m"}]}`
			for range 100 {
				resp, err := http.Post(e.url+"/jobs", "application/json", strings.NewReader(spec))
				if err != nil {
					b.Fatal(err)
				}
				var out struct {
					JobID string `json:"job_id"`
				}
				json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if ended {
					req, _ := http.NewRequest("DELETE", e.url+"/jobs/"+out.JobID, nil)
					if resp, err := http.DefaultClient.Do(req); err == nil {
						resp.Body.Close()
					}
				}
			}
			latencies(b, 4, 10, func(c *http.Client) error {
				resp, err := c.Get(e.url + "/jobs?limit=100")
				if err != nil {
					return err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return fmt.Errorf("GET jobs: %d", resp.StatusCode)
				}
				return nil
			})
		})
	}
}
