package api

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/orchestrate"
	"github.com/whetstone/whetstone/internal/pipeline"
)

// TestDryRunWaitsItsLimitForATurn: a dry run that finds every turn taken
// (MaxDryRuns working) for its whole DryRunTimeout answers the dry-run
// timeout (504), saying it never started and why.
func TestDryRunWaitsItsLimitForATurn(t *testing.T) {
	s := &Server{DryRunTimeout: 50 * time.Millisecond, MaxDryRuns: 1}
	s.Handler()
	s.dryRuns <- struct{}{} // a dry run working
	start := time.Now()
	_, err := s.dryRun(context.Background(), &pipeline.Spec{Name: "p"})
	if !errors.Is(err, orchestrate.ErrDryRunTimeout) || !strings.Contains(err.Error(), "waited 50ms (--dry-run-timeout) for a turn") ||
		!strings.Contains(err.Error(), "at most 1 dry runs at once") {
		t.Errorf("dry run with no turn free = %v; want the dry-run timeout saying it waited for a turn", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 5*time.Second {
		t.Errorf("it waited %s, want its limit of 50ms", d)
	}
}
