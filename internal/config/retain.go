package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Retention is a parsed retention policy: how long each kind is kept; zero
// keeps it forever.
type Retention struct {
	// Jobs: ended jobs (with their nodes, events, output blobs and Redis
	// stream) older than this are removed, unless one of their outputs is
	// an exported model or a dataset another kept job uses.
	Jobs time.Duration
	// Events: events of ended jobs older than this are removed (the job
	// and its outputs stay).
	Events time.Duration
	// Cache: output-cache entries older than this are forgotten.
	Cache time.Duration
	// Blobs: blobs that nothing refers to (orphans: left by killed
	// workers, failed attempts, removed jobs) older than this are swept.
	Blobs time.Duration
}

// RetainKinds are the kinds --retain names.
var RetainKinds = []string{"jobs", "events", "cache", "blobs"}

// ParseRetain reads "jobs=30d,events=7d,cache=14d,blobs=1d" (ages in
// Go durations or whole days with d).
func ParseRetain(s string) (Retention, error) {
	var r Retention
	if strings.TrimSpace(s) == "" {
		return r, nil
	}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return r, fmt.Errorf("%q: want KIND=AGE (kinds: %s)", part, strings.Join(RetainKinds, ", "))
		}
		d, err := parseAge(v)
		if err != nil {
			return r, fmt.Errorf("%s: %w", k, err)
		}
		switch k {
		case "jobs":
			r.Jobs = d
		case "events":
			r.Events = d
		case "cache":
			r.Cache = d
		case "blobs":
			r.Blobs = d
		default:
			return r, fmt.Errorf("unknown kind %q (kinds: %s)", k, strings.Join(RetainKinds, ", "))
		}
	}
	return r, nil
}

func parseAge(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 {
			return 0, fmt.Errorf("age %q: want a positive number of days like 30d", v)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("age %q: want a positive duration like 12h or 30d", v)
	}
	return d, nil
}
