package events_test

import (
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/events"
	"github.com/whetstone/whetstone/internal/events/eventstest"
	"github.com/whetstone/whetstone/internal/store"
)

// Without a fan-out, the other process's subscribers poll the store.
func TestContractPolling(t *testing.T) {
	eventstest.Run(t, func(t *testing.T) (a, b *events.Bus, st store.Store, job string) {
		return eventstest.Pair(t, 20*time.Millisecond, nil)
	})
}
