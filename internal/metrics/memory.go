package metrics

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// MemoryDesc is the machine's memory in use (MemTotal - MemAvailable) over
// MemTotal, from /proc/meminfo; absent where that file is not.
var MemoryDesc = prometheus.NewDesc("whet_memory_used_ratio", "Machine memory in use (1 - MemAvailable/MemTotal), 0..1.", nil, nil)

// collectMemory sends whet_memory_used_ratio.
func collectMemory(_ context.Context, ch chan<- prometheus.Metric) {
	if r, ok := memoryUsed("/proc/meminfo"); ok {
		ch <- Gauge(MemoryDesc, r)
	}
}

// memoryUsed reads a meminfo file.
func memoryUsed(path string) (float64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var total, avail float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "MemTotal:":
			total = v
		case "MemAvailable:":
			avail = v
		}
	}
	if total <= 0 {
		return 0, false
	}
	return 1 - avail/total, true
}
