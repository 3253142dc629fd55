// Package metrics exposes Whetstone's Prometheus metrics: HTTP requests,
// jobs and the queue, node durations and retries, events, SSE subscribers,
// live training throughput and loss, and GPUs, plus Go and process
// collectors. Label sets are bounded: routes are mux patterns, never paths,
// and job ids appear only on the live training gauges, which are deleted when
// their node ends.
package metrics

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one process's registry and the instruments the rest of
// Whetstone updates.
type Metrics struct {
	reg *prometheus.Registry

	httpDur   *prometheus.HistogramVec
	inFlight  prometheus.Gauge
	nodeDur   *prometheus.HistogramVec
	retries   *prometheus.CounterVec
	published *prometheus.CounterVec
	trainTPS  *prometheus.GaugeVec
	trainLoss *prometheus.GaugeVec

	mu     sync.Mutex
	live   map[[2]string]bool // (job, node) pairs with training gauges
	scrape []func(context.Context, chan<- prometheus.Metric)
}

// New returns a registry with every Whetstone metric and the Go and
// process collectors registered.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		httpDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "whet_http_request_duration_seconds",
			Help:    "HTTP request latency by route (mux pattern) and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "status"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "whet_http_requests_in_flight",
			Help: "HTTP requests being served (SSE streams included).",
		}),
		nodeDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "whet_node_duration_seconds",
			Help:    "Duration of one node attempt, by agent and outcome (succeeded, failed, retried, cancelled, cached).",
			Buckets: prometheus.ExponentialBuckets(0.05, 3, 12), // 50 ms .. ~2.5 h
		}, []string{"agent", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "whet_node_retries_total",
			Help: "Node attempts that failed and were scheduled again, by agent.",
		}, []string{"agent"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "whet_events_published_total",
			Help: "Job events published by this process, by type (log, progress, metric, node, status).",
		}, []string{"type"}),
		trainTPS: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "whet_train_tokens_per_second",
			Help: "Training throughput of a running train node (deleted when the node ends).",
		}, []string{"job_id", "node"}),
		trainLoss: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "whet_train_loss",
			Help: "Latest training loss of a running train node (deleted when the node ends).",
		}, []string{"job_id", "node"}),
		live: map[[2]string]bool{},
	}
	m.reg.MustRegister(m.httpDur, m.inFlight, m.nodeDur, m.retries, m.published, m.trainTPS, m.trainLoss,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		scrapeCollector{m})
	m.OnScrape(collectMemory)
	return m
}

// Registry is the underlying registry (for tests and extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, MaxRequestsInFlight: 4})
}

// ObserveRequest records one finished request.
func (m *Metrics) ObserveRequest(route string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.httpDur.WithLabelValues(route, strconv.Itoa(status)).Observe(d.Seconds())
}

// InFlight adds delta to the in-flight gauge.
func (m *Metrics) InFlight(delta float64) { m.inFlight.Add(delta) }

// NodeFinished records one node attempt's end. outcome is succeeded,
// failed, retried, cancelled or cached.
func (m *Metrics) NodeFinished(jobID, nodeID, agent, outcome string, d time.Duration) {
	m.nodeDur.WithLabelValues(agent, outcome).Observe(d.Seconds())
	if outcome == "retried" {
		m.retries.WithLabelValues(agent).Inc()
	}
	m.dropTraining(jobID, nodeID)
}

// EventPublished counts one published event and, for a metric event carrying
// tokens_per_s or loss, updates the live training gauges of its node.
func (m *Metrics) EventPublished(jobID, nodeID, typ string, data []byte) {
	m.published.WithLabelValues(typ).Inc()
	if typ != "metric" || nodeID == "" {
		return
	}
	var d struct {
		Values map[string]any `json:"values"`
	}
	if json.Unmarshal(data, &d) != nil {
		return
	}
	set := func(g *prometheus.GaugeVec, key string) {
		if v, ok := d.Values[key].(float64); ok && !math.IsNaN(v) {
			g.WithLabelValues(jobID, nodeID).Set(v)
			m.mu.Lock()
			m.live[[2]string{jobID, nodeID}] = true
			m.mu.Unlock()
		}
	}
	set(m.trainTPS, "tokens_per_s")
	set(m.trainLoss, "loss")
}

// dropTraining deletes a node's live training gauges.
func (m *Metrics) dropTraining(jobID, nodeID string) {
	k := [2]string{jobID, nodeID}
	m.mu.Lock()
	had := m.live[k]
	delete(m.live, k)
	m.mu.Unlock()
	if had {
		m.trainTPS.DeleteLabelValues(jobID, nodeID)
		m.trainLoss.DeleteLabelValues(jobID, nodeID)
	}
}

// OnScrape adds a function that sends metrics computed at scrape time (job
// counts from the store, SSE subscribers, GPUs). Use the Desc helpers below.
func (m *Metrics) OnScrape(f func(context.Context, chan<- prometheus.Metric)) {
	m.mu.Lock()
	m.scrape = append(m.scrape, f)
	m.mu.Unlock()
}

// The scrape-time series.
var (
	JobsDesc = prometheus.NewDesc("whet_jobs", "Jobs by status (every job in the store).", []string{"status"}, nil)
	// QueueDepthDesc counts jobs submitted and not started yet.
	QueueDepthDesc = prometheus.NewDesc("whet_queue_depth", "Jobs waiting to start (pending).", nil, nil)
	QueueAgeDesc   = prometheus.NewDesc("whet_queue_oldest_age_seconds", "Age of the oldest job waiting to start; 0 when none waits.", nil, nil)
	SSEDesc        = prometheus.NewDesc("whet_sse_subscribers", "Open Server-Sent Events subscriptions in this process.", nil, nil)
	GPUUtilDesc    = prometheus.NewDesc("whet_gpu_utilization_ratio", "GPU utilisation, 0..1, by GPU index and name.", []string{"gpu", "name"}, nil)
	GPUMemDesc     = prometheus.NewDesc("whet_gpu_memory_used_bytes", "GPU memory in use, by GPU index and name.", []string{"gpu", "name"}, nil)
	GPUMemTotDesc  = prometheus.NewDesc("whet_gpu_memory_total_bytes", "GPU memory, by GPU index and name.", []string{"gpu", "name"}, nil)
	ScrapeErrDesc  = prometheus.NewDesc("whet_scrape_error", "1 when a scrape-time source failed during this scrape, by source (store, gpu).", []string{"source"}, nil)
)

type scrapeCollector struct{ m *Metrics }

func (c scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{MemoryDesc, JobsDesc, QueueDepthDesc, QueueAgeDesc, SSEDesc, GPUUtilDesc, GPUMemDesc, GPUMemTotDesc, ScrapeErrDesc} {
		ch <- d
	}
}

func (c scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	fs := append([]func(context.Context, chan<- prometheus.Metric){}, c.m.scrape...)
	c.m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for _, f := range fs {
		f(ctx, ch)
	}
}

// Gauge is a shorthand for a constant gauge sample.
func Gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}
