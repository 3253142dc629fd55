package metrics

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/whetstone/whetstone/internal/store"
)

// ObserveStore returns st wrapped so that every event committed through it
// is counted and node events drive the node duration histogram and the
// retry counter. Only InTx is intercepted; everything else is st's own.
func (m *Metrics) ObserveStore(st store.Store) store.Store {
	return &observedStore{Store: st, m: m, nodes: &nodeTracker{started: map[[2]string]startedNode{}}}
}

type observedStore struct {
	store.Store
	m     *Metrics
	nodes *nodeTracker
}

func (s *observedStore) InTx(ctx context.Context, fn func(tx store.Tx) error) error {
	var evs []*store.Event
	err := s.Store.InTx(ctx, func(tx store.Tx) error {
		evs = evs[:0] // a retried transaction starts over
		return fn(&observedTx{Tx: tx, evs: &evs})
	})
	if err != nil {
		return err
	}
	for _, e := range evs {
		s.m.EventPublished(e.JobID, e.Node, e.Type, e.Data)
		s.nodeEvent(ctx, e)
	}
	return nil
}

type observedTx struct {
	store.Tx
	evs *[]*store.Event
}

func (t *observedTx) AppendEvent(ctx context.Context, e *store.Event) error {
	err := t.Tx.AppendEvent(ctx, e)
	if err == nil {
		*t.evs = append(*t.evs, e)
	}
	return err
}

func (t *observedTx) AppendActiveEvent(ctx context.Context, e *store.Event) (bool, error) {
	ok, err := t.Tx.AppendActiveEvent(ctx, e)
	if ok && err == nil {
		*t.evs = append(*t.evs, e)
	}
	return ok, err
}

type startedNode struct {
	agent string
	at    time.Time
}

// nodeTracker remembers when this process saw each node start.
type nodeTracker struct {
	mu      sync.Mutex
	started map[[2]string]startedNode
}

// nodeEvent turns node and status events into node durations.
func (s *observedStore) nodeEvent(ctx context.Context, e *store.Event) {
	var d struct {
		Status store.Status `json:"status"`
		Error  string       `json:"error"`
		Cached bool         `json:"cached"`
	}
	if (e.Type != "node" && e.Type != "status") || json.Unmarshal(e.Data, &d) != nil {
		return
	}
	t := s.nodes
	if e.Type == "status" {
		if d.Status != store.Cancelled {
			return
		}
		// A cancelled job ends its running nodes without node events.
		t.mu.Lock()
		var ended []struct {
			node string
			n    startedNode
		}
		for k, n := range t.started {
			if k[0] == e.JobID {
				ended = append(ended, struct {
					node string
					n    startedNode
				}{k[1], n})
				delete(t.started, k)
			}
		}
		t.mu.Unlock()
		for _, x := range ended {
			s.m.NodeFinished(e.JobID, x.node, x.n.agent, "cancelled", e.Time.Sub(x.n.at))
		}
		return
	}
	k := [2]string{e.JobID, e.Node}
	if d.Status == store.Running {
		agent := "unknown"
		if n, err := s.Store.GetNode(ctx, e.JobID, e.Node); err == nil {
			agent = n.Agent
		}
		t.mu.Lock()
		t.started[k] = startedNode{agent: agent, at: e.Time}
		t.mu.Unlock()
		return
	}
	var outcome string
	switch {
	case d.Status == store.Succeeded && d.Cached:
		outcome = "cached"
	case d.Status == store.Succeeded:
		outcome = "succeeded"
	case d.Status == store.Failed:
		outcome = "failed"
	case d.Status == store.Cancelled:
		outcome = "cancelled"
	case d.Status == store.Pending && d.Error != "":
		outcome = "retried"
	default:
		return
	}
	t.mu.Lock()
	n, ok := t.started[k]
	delete(t.started, k)
	t.mu.Unlock()
	if !ok {
		if outcome != "cached" {
			s.m.dropTraining(e.JobID, e.Node)
			return // started in another process (or before this one)
		}
		n = startedNode{agent: "unknown", at: e.Time}
		if node, err := s.Store.GetNode(ctx, e.JobID, e.Node); err == nil {
			n.agent = node.Agent
		}
	}
	s.m.NodeFinished(e.JobID, e.Node, n.agent, outcome, e.Time.Sub(n.at))
}

// JobLister is what the job gauges need of the store.
type JobLister interface {
	ListJobs(ctx context.Context, p store.ListParams) ([]*store.Job, int, error)
}

// CollectJobs adds whet_jobs (by status), whet_queue_depth and
// whet_queue_oldest_age_seconds, read from st at scrape time. The queue is
// the jobs submitted and not started yet.
func (m *Metrics) CollectJobs(st JobLister) {
	m.OnScrape(func(ctx context.Context, ch chan<- prometheus.Metric) {
		for _, status := range []store.Status{store.Pending, store.Running, store.Succeeded, store.Failed, store.Cancelled} {
			_, n, err := st.ListJobs(ctx, store.ListParams{Status: status, Limit: 1})
			if err != nil {
				ch <- Gauge(ScrapeErrDesc, 1, "store")
				return
			}
			ch <- Gauge(JobsDesc, float64(n), string(status))
			if status == store.Pending {
				ch <- Gauge(QueueDepthDesc, float64(n))
				age := 0.0
				if n > 0 { // newest first: the oldest is the last one
					if js, _, err := st.ListJobs(ctx, store.ListParams{Status: status, Limit: 1, Offset: n - 1}); err == nil && len(js) == 1 {
						age = time.Since(js[0].CreatedAt).Seconds()
					}
				}
				ch <- Gauge(QueueAgeDesc, age)
			}
		}
	})
}

// CollectSubscribers adds whet_sse_subscribers from n at scrape time.
func (m *Metrics) CollectSubscribers(n func() int) {
	m.OnScrape(func(_ context.Context, ch chan<- prometheus.Metric) {
		ch <- Gauge(SSEDesc, float64(n()))
	})
}

// GPU is one device's sample for the GPU gauges.
type GPU struct {
	Index           int
	Name            string
	Utilization     float64 // 0..1
	MemoryUsedBytes uint64
	MemoryTotal     uint64
}

// CollectGPUs adds the GPU gauges from sample at scrape time (nothing when
// the machine has no GPU).
func (m *Metrics) CollectGPUs(sample func(context.Context) ([]GPU, error)) {
	m.OnScrape(func(ctx context.Context, ch chan<- prometheus.Metric) {
		gs, err := sample(ctx)
		if err != nil {
			ch <- Gauge(ScrapeErrDesc, 1, "gpu")
			return
		}
		for _, g := range gs {
			idx := strconv.Itoa(g.Index)
			ch <- Gauge(GPUUtilDesc, g.Utilization, idx, g.Name)
			ch <- Gauge(GPUMemDesc, float64(g.MemoryUsedBytes), idx, g.Name)
			ch <- Gauge(GPUMemTotDesc, float64(g.MemoryTotal), idx, g.Name)
		}
	})
}
