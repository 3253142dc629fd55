// Package progress turns byte counts into throttled agent progress events
// with an ETA.
package progress

import (
	"fmt"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
)

// Meter reports the progress of a pass over Total bytes. The zero value of
// Every means one event per second.
type Meter struct {
	Emit  agent.Emitter
	Total int64
	Label string        // "read", "validate", ...
	Every time.Duration // minimum time between events
	start time.Time
	last  time.Time
}

// Update reports that done bytes (and rows) are processed; it emits at most
// once per Every.
func (m *Meter) Update(done int64, rows int) {
	now := time.Now()
	if m.start.IsZero() {
		m.start = now
	}
	every := m.Every
	if every == 0 {
		every = time.Second
	}
	if now.Sub(m.last) < every {
		return
	}
	m.last = now
	m.emit(done, rows, now)
}

// Done emits the final event.
func (m *Meter) Done(rows int) {
	m.emit(m.Total, rows, time.Now())
}

func (m *Meter) emit(done int64, rows int, now time.Time) {
	if m.Emit == nil {
		return
	}
	frac := 0.0
	if m.Total > 0 {
		frac = min(1, float64(done)/float64(m.Total))
	}
	var eta time.Duration
	if el := now.Sub(m.start); frac > 0 && frac < 1 {
		eta = time.Duration(float64(el) * (1 - frac) / frac)
	}
	m.Emit.Progress(frac, eta, fmt.Sprintf("%s %d rows (%.1f MB)", m.Label, rows, float64(done)/1e6))
}
