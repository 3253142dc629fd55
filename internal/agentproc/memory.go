package agentproc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// anonRSS returns a process's resident anonymous memory in bytes (RssAnon
// in /proc/PID/status): its heap and stacks, not the model files it maps,
// which the kernel can drop and share.
func anonRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	return statusKB(b, "RssAnon:")
}

func statusKB(status []byte, field string) (int64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte(field))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) == 0 {
			break
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s %q: %w", field, f[0], err)
		}
		return n << 10, nil
	}
	return 0, fmt.Errorf("no %s in status", field)
}
