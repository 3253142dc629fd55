// Package doctor checks a machine and a configuration for what Whetstone
// needs and says, for each finding, how to fix it: the BLAS and oneDNN
// kernels, GPUs and their driver, free disk in the data folder, the
// database, blob store and other backends, the listen address, clock skew
// against remote services, and the auth mode.
package doctor

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Status is a finding's severity.
type Status string

// The statuses: ok, warn (works, but slower or riskier than it should),
// fail (will not work).
const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Result is one check's finding.
type Result struct {
	Check  string `json:"check"`
	Status Status `json:"status"`
	Found  string `json:"found"`
	Fix    string `json:"fix,omitempty"`
}

// Check is one named check.
type Check struct {
	Name string
	Run  func(ctx context.Context) Result
}

// Run runs every check in order; a check's Result gets its name.
func Run(ctx context.Context, checks []Check) []Result {
	out := make([]Result, 0, len(checks))
	for _, c := range checks {
		r := c.Run(ctx)
		r.Check = c.Name
		out = append(out, r)
	}
	return out
}

// Failed reports whether any result failed.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

// Print writes rs as a table, with each fix on its own line below.
func Print(w io.Writer, rs []Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	mark := map[Status]string{OK: "ok  ", Warn: "WARN", Fail: "FAIL"}
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", mark[r.Status], r.Check, oneLine(r.Found))
		if r.Fix != "" {
			fmt.Fprintf(tw, "\t\t  fix: %s\n", oneLine(r.Fix))
		}
	}
	tw.Flush()
	var warn, fail int
	for _, r := range rs {
		switch r.Status {
		case Warn:
			warn++
		case Fail:
			fail++
		}
	}
	fmt.Fprintf(w, "\n%d checks: %d ok, %d warnings, %d failures\n", len(rs), len(rs)-warn-fail, warn, fail)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
