package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads /metrics and returns the families by name.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	return fams
}

// sample returns the value of the series of fam whose labels include want,
// and whether there is one (a histogram gives its count).
func sample(fams map[string]*dto.MetricFamily, fam string, want map[string]string) (float64, bool) {
	f := fams[fam]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// TestMetricsFollowAPipeline scrapes /metrics of a real `whet serve` while a
// LoRA fine-tune of stories260K runs: the job is counted as running, then
// succeeded; tokens/s is positive during training and gone after; node
// durations, published events and the request histogram move.
func TestMetricsFollowAPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	root := repoRoot(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	var logs lockedLog
	go func() {
		served <- serve(ctx, append([]string{"--addr", addr, "--data-dir", t.TempDir(), "--work-dir", root, "--poll-interval", "100ms", "--log-format", "json"}, allowRepoAndShared(t)...),
			stdio{in: bytes.NewReader(nil), out: io.Discard, err: &logs})
	}()
	t.Cleanup(func() {
		cancel()
		<-served
	})
	base := "http://" + addr
	waitHealthy(t, base+"/health", &logs)

	spec := `name: metrics
nodes:
  - {id: data, agent: dataset, params: {source: examples/log-stories.jsonl}}
  - {id: prep, agent: preprocess, params: {tokenizer: ../shared/assets/models/stories260K, template: none, max_tokens: 64, validation_split: 0.2, seed: 1}}
  - {id: tune, agent: train, params: {base_model: ../shared/assets/models/stories260K, method: lora, epochs: 200, max_steps: 400, batch_size: 4, max_seq_len: 64, seed: 1}}
edges: [{from: data, to: prep}, {from: prep, to: tune}]
`
	resp, err := http.Post(base+"/api/v1/jobs", "application/yaml", strings.NewReader(spec))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /jobs: %s %s", resp.Status, body)
	}
	jobID := between(string(body), `"job_id":"`, `"`)

	var sawRunning, sawTPS bool
	gets := 0
	deadline := time.Now().Add(4 * time.Minute)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("job did not finish; running=%v tps=%v\n%s", sawRunning, sawTPS, logs.String())
		}
		fams := scrape(t, base+"/metrics")
		if v, _ := sample(fams, "whet_jobs", map[string]string{"status": "running"}); v == 1 {
			sawRunning = true
		}
		if v, ok := sample(fams, "whet_train_tokens_per_second", map[string]string{"job_id": jobID, "node": "tune"}); ok && v > 0 {
			sawTPS = true
		}
		r, err := http.Get(base + "/api/v1/jobs/" + jobID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		gets++
		var job struct{ Status string }
		json.Unmarshal(b, &job)
		if job.Status == "succeeded" {
			break
		}
		if job.Status == "failed" || job.Status == "cancelled" {
			t.Fatalf("job ended %s: %s", job.Status, b)
		}
		time.Sleep(150 * time.Millisecond)
	}
	if !sawRunning || !sawTPS {
		t.Errorf("during the run: whet_jobs{status=running}=1 seen %v, whet_train_tokens_per_second>0 seen %v", sawRunning, sawTPS)
	}
	fams := scrape(t, base+"/metrics")
	checks := []struct {
		fam    string
		labels map[string]string
		min    float64
	}{
		{"whet_jobs", map[string]string{"status": "succeeded"}, 1},
		{"whet_node_duration_seconds", map[string]string{"agent": "train", "outcome": "succeeded"}, 1},
		{"whet_node_duration_seconds", map[string]string{"agent": "dataset", "outcome": "succeeded"}, 1},
		{"whet_events_published_total", map[string]string{"type": "metric"}, 1},
		{"whet_events_published_total", map[string]string{"type": "node"}, 6},
		{"whet_http_request_duration_seconds", map[string]string{"route": "GET /api/v1/jobs/{id}", "status": "200"}, float64(gets)},
		{"whet_http_request_duration_seconds", map[string]string{"route": "POST /api/v1/jobs", "status": "202"}, 1},
		{"go_goroutines", nil, 1},
		{"process_resident_memory_bytes", nil, 1},
	}
	for _, c := range checks {
		if v, ok := sample(fams, c.fam, c.labels); !ok || v < c.min {
			t.Errorf("%s%v = %v (present %v), want >= %v", c.fam, c.labels, v, ok, c.min)
		}
	}
	if v, _ := sample(fams, "whet_jobs", map[string]string{"status": "running"}); v != 0 {
		t.Errorf("whet_jobs{running} = %v after the job ended", v)
	}
	if _, ok := sample(fams, "whet_train_tokens_per_second", map[string]string{"job_id": jobID}); ok {
		t.Errorf("whet_train_tokens_per_second still has the finished node")
	}
	// Every request got an id and an access line, and the log is JSON.
	r, err := http.Get(base + "/livez")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if id := r.Header.Get("X-Request-Id"); !strings.HasPrefix(id, "req_") {
		t.Errorf("X-Request-Id = %q", id)
	}
	if !strings.Contains(logs.String(), `"msg":"http request","request_id":`) && !strings.Contains(logs.String(), `"route":"GET /api/v1/jobs/{id}"`) {
		t.Errorf("no JSON access log line in:\n%.2000s", logs.String())
	}
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	if j := strings.Index(s, b); j >= 0 {
		return s[:j]
	}
	return s
}

func TestMetricsMemoryGauge(t *testing.T) {
	ts := inProcessServer(t, t.TempDir())
	fams := scrape(t, ts+"/metrics")
	v, ok := sample(fams, "whet_memory_used_ratio", nil)
	if !ok || v <= 0 || v >= 1 {
		t.Errorf("whet_memory_used_ratio = %v (present %v), want in (0,1)", v, ok)
	}
}

// TestMetricsNeedAKeyWithAuthOn: with auth required, scraping the API
// address needs a valid key; health probes stay open.
func TestMetricsNeedAKeyWithAuthOn(t *testing.T) {
	data := t.TempDir()
	var out bytes.Buffer
	if err := keysCmd(context.Background(), []string{"create", "--data-dir", data, "--team", "ops", "--role", "viewer"}, stdio{out: &out, err: io.Discard}); err != nil {
		t.Fatalf("whet keys create: %v", err)
	}
	var key struct{ Key string }
	if err := json.Unmarshal(out.Bytes(), &key); err != nil || key.Key == "" {
		t.Fatalf("keys create printed %q", out.String())
	}
	base := inProcessServer(t, data, "--auth", "required")
	get := func(path, bearer string) int {
		req, _ := http.NewRequest("GET", base+path, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		path, key string
		want      int
	}{
		{"/metrics", "", 401},
		{"/metrics", "whet_not-a-real-key", 401},
		{"/metrics", key.Key, 200},
		{"/health", "", 200},
		{"/livez", "", 200},
		{"/readyz", "", 200},
	} {
		if got := get(c.path, c.key); got != c.want {
			t.Errorf("GET %s (key %v) = %d, want %d", c.path, c.key != "", got, c.want)
		}
	}
}
