package check

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/whetstone/whetstone/internal/data/pii"
)

// Once the duplicate indexes hold more than Options.DedupBudget bytes they
// spill to temporary files (dedup.Exact.Spill, dedup.Near.Spill), and the
// duplicate findings of later rows are decided in Flush. What the findings
// need of each such row (its row and line numbers and the unredacted start
// of its text) goes to a side file of fixed-size records, so memory stays
// flat; Flush adds the findings in row order, so the report is the same as
// without spilling.

const (
	clipMax    = 80 + len("…") // longest clip
	sideRecord = 4 + 4 + 1 + clipMax
)

// spillState is the checker's side of spilled duplicate detection.
type spillState struct {
	from int // index (c.rows-1) of the first spilled row
	file *os.File
	w    *bufio.Writer
	buf  [sideRecord]byte
}

// overBudget reports whether the duplicate indexes have outgrown the budget.
func (c *Checker) overBudget() bool {
	n := 4 * cap(c.nearRows)
	if c.exact != nil {
		n += c.exact.Bytes()
	}
	if c.near != nil {
		n += c.near.Bytes()
	}
	return n > c.opts.DedupBudget
}

// spilledIn records the TempDir of each checker that spilled, for tests.
var spilledIn sync.Map

func (c *Checker) startSpill() error {
	spilledIn.Store(c.opts.TempDir, true)
	f, err := os.CreateTemp(c.opts.TempDir, "whet-check-*")
	if err != nil {
		return fmt.Errorf("spill duplicate findings: %w", err)
	}
	os.Remove(f.Name())
	c.spill = &spillState{from: c.rows - 1, file: f, w: bufio.NewWriterSize(f, 64<<10)}
	if c.exact != nil {
		if err := c.exact.Spill(c.opts.TempDir); err != nil {
			return err
		}
	}
	if c.near != nil {
		if err := c.near.Spill(c.opts.TempDir); err != nil {
			return err
		}
	}
	return nil
}

// writeSide records what a spilled row's duplicate findings need.
func (s *spillState) writeSide(row, line int, key string) error {
	b := s.buf[:]
	clear(b)
	binary.LittleEndian.PutUint32(b, uint32(row))
	binary.LittleEndian.PutUint32(b[4:], uint32(line))
	cl := clipKey(key)
	b[8] = byte(len(cl))
	copy(b[9:], cl)
	_, err := s.w.Write(b)
	return err
}

type side struct {
	row, line int
	clip      string
}

func (s *spillState) readSide(i int, r *bufio.Reader) (side, error) {
	b := s.buf[:]
	var err error
	if r != nil {
		_, err = io.ReadFull(r, b)
	} else {
		_, err = s.file.ReadAt(b, int64(i-s.from)*int64(sideRecord))
	}
	if err != nil {
		return side{}, fmt.Errorf("read spilled row %d: %w", i, err)
	}
	return side{row: int(binary.LittleEndian.Uint32(b)), line: int(binary.LittleEndian.Uint32(b[4:])),
		clip: string(b[9 : 9+int(b[8])])}, nil
}

// Flush decides the duplicate findings of the rows added since the
// indexes spilled and adds them. Run calls it; callers of Add call it
// once after the last Add, before Report.
func (c *Checker) Flush() error {
	s := c.spill
	if s == nil || c.flushed {
		return nil
	}
	c.flushed = true
	if err := s.w.Flush(); err != nil {
		return err
	}
	type hit struct {
		at, first int
		sim       float64
	}
	var exact, near []hit
	if c.exact != nil {
		if err := c.exact.Resolve(func(row, first int) { exact = append(exact, hit{at: row, first: first}) }); err != nil {
			return err
		}
	}
	if c.near != nil {
		if err := c.near.Resolve(func(i, first int, sim float64) { near = append(near, hit{at: i, first: first, sim: sim}) }); err != nil {
			return err
		}
	}
	// Walk the side file in row order, merging both lists.
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r := bufio.NewReaderSize(s.file, 64<<10)
	for i := s.from; i < c.rows && (len(exact) > 0 || len(near) > 0); i++ {
		sd, err := s.readSide(i, r)
		if err != nil {
			return err
		}
		isExact := false
		if len(exact) > 0 && exact[0].at == sd.row {
			isExact = true
			c.add(Duplicate, sd.row, sd.line, "", fmt.Sprintf("same as row %d: %s", exact[0].first, redact(sd.clip)), 0)
			exact = exact[1:]
		}
		if len(near) > 0 && near[0].at == i {
			h := near[0]
			near = near[1:]
			if isExact {
				continue
			}
			first := 0
			if h.first < len(c.nearRows) {
				first = int(c.nearRows[h.first])
			} else {
				o, err := s.readSide(h.first, nil)
				if err != nil {
					return err
				}
				first = o.row
			}
			c.add(NearDuplicate, sd.row, sd.line, "", fmt.Sprintf("%.0f%% similar to row %d: %s", 100*h.sim, first, redact(sd.clip)), 0)
		}
	}
	return nil
}

func (s *spillState) close() error { return s.file.Close() }

// clip is snippet before redaction: s with runs of white space as one
// space, cut to at most n bytes (on a character boundary) plus "…".
func clip(s string, n int) (string, bool) {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return s[:cut] + "…", true
	}
	return s, false
}

func redact(s string) string {
	red, _ := pii.Redact(s)
	return red
}

// clipKey is clip of a record's key as the duplicate findings show it,
// looking at no more of the key than it needs.
func clipKey(key string) string {
	if len(key) > 1024 {
		if cl, cut := clip(strings.ReplaceAll(key[:1024], "\x1f", " | "), 80); cut {
			return cl
		}
	}
	cl, _ := clip(strings.ReplaceAll(key, "\x1f", " | "), 80)
	return cl
}
