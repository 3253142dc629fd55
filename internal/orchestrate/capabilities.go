package orchestrate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/whetstone/whetstone/internal/pipeline"
)

// Capabilities is what a worker advertises: it takes only nodes whose
// `requires` it meets.
type Capabilities struct {
	CPUs        int      `json:"cpus"`
	MemoryBytes int64    `json:"memory_bytes"`
	GPUs        int      `json:"gpus"`
	Labels      []string `json:"labels"`
}

// DetectCapabilities returns this machine's CPU cores, memory
// (/proc/meminfo) and GPUs (/dev/nvidia0, /dev/nvidia1...; gpus > 0
// overrides the count), with labels.
func DetectCapabilities(gpus int, labels []string) Capabilities {
	c := Capabilities{CPUs: runtime.NumCPU(), GPUs: gpus, Labels: labels}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				c.MemoryBytes = kb << 10
			}
		}
		f.Close()
	}
	if gpus <= 0 {
		devs, _ := filepath.Glob("/dev/nvidia*")
		re := regexp.MustCompile(`^/dev/nvidia[0-9]+$`)
		c.GPUs = 0
		for _, d := range devs {
			if re.MatchString(d) {
				c.GPUs++
			}
		}
	}
	return c
}

// Fits reports whether c meets r, and when not, what is missing.
func (c Capabilities) Fits(r *pipeline.Requires) (bool, string) {
	if r == nil {
		return true, ""
	}
	var miss []string
	if r.CPUs > c.CPUs {
		miss = append(miss, fmt.Sprintf("%d CPUs (has %d)", r.CPUs, c.CPUs))
	}
	if need := int64(r.MemoryGB * (1 << 30)); c.MemoryBytes > 0 && need > c.MemoryBytes {
		miss = append(miss, fmt.Sprintf("%g GB memory (has %.1f)", r.MemoryGB, float64(c.MemoryBytes)/(1<<30)))
	}
	if r.GPUs > c.GPUs {
		miss = append(miss, fmt.Sprintf("%d GPUs (has %d)", r.GPUs, c.GPUs))
	}
	for _, l := range r.Labels {
		if !slices.Contains(c.Labels, l) {
			miss = append(miss, "label "+strconv.Quote(l))
		}
	}
	return len(miss) == 0, strings.Join(miss, ", ")
}

// requiresOf finds node's `requires` in a job's validated spec.
func requiresOf(spec json.RawMessage, node string) *pipeline.Requires {
	var s struct {
		Nodes []struct {
			ID       string             `json:"id"`
			Requires *pipeline.Requires `json:"requires"`
		} `json:"nodes"`
	}
	if json.Unmarshal(spec, &s) != nil {
		return nil
	}
	for _, n := range s.Nodes {
		if n.ID == node {
			return n.Requires
		}
	}
	return nil
}
