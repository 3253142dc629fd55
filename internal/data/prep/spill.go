package prep

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"

	"github.com/whetstone/whetstone/internal/data/dedup"
)

// spilled is preprocess's state once its duplicate indexes have outgrown
// Options.DedupBudget: every later row is written to the temporary rows
// file and added to the spilled indexes; resolveSpill then drops the
// duplicates among them, exactly those the in-memory indexes would have
// dropped.
type spilled struct {
	out       int // rows written before spilling (index in the rows file of the first spilled row)
	exactBase int // exact-index row of the first spilled row (above any earlier one)
	nearBase  int // near-index row of the first spilled row
	n         int // rows written since spilling
}

func nearBytes(n *dedup.Near) int {
	if n == nil {
		return 0
	}
	return n.Bytes()
}

// spilledIn records the output folders of runs that spilled, for tests.
var spilledIn sync.Map

func startSpill(exact *dedup.Exact, near *dedup.Near, dir string, out, nearN int) (*spilled, error) {
	spilledIn.Store(dir, true)
	if err := exact.Spill(dir); err != nil {
		return nil, err
	}
	if near != nil {
		if err := near.Spill(dir); err != nil {
			return nil, err
		}
	}
	return &spilled{out: out, exactBase: out + 1, nearBase: nearN}, nil
}

// resolveSpill decides the duplicates among the spilled rows, counts them
// in st, and returns a rows file without them (lens and st.RowsOut and
// st.Tokens updated).
func resolveSpill(sp *spilled, exact *dedup.Exact, near *dedup.Near, tmp *os.File, dir string, lens *[]int32, st *Stats) (*os.File, error) {
	drop := make(map[int]string) // spilled row -> reason; holds duplicates only
	if err := exact.Resolve(func(row, _ int) { drop[row-sp.exactBase] = DropDuplicate }); err != nil {
		return nil, err
	}
	if near != nil {
		if err := near.Resolve(func(row, _ int, _ float64) {
			if i := row - sp.nearBase; drop[i] == "" {
				drop[i] = DropNear
			}
		}); err != nil {
			return nil, err
		}
	}
	idx := make([]int, 0, len(drop))
	for i, why := range drop {
		idx = append(idx, i)
		st.Dropped[why]++
	}
	slices.Sort(idx)
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	kept, err := os.CreateTemp(dir, "rows-*.jsonl")
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriterSize(kept, 1<<20)
	br := bufio.NewReaderSize(tmp, 1<<20)
	l := *lens
	out := 0
	for i := 0; ; i++ {
		line, err := br.ReadBytes('\n')
		if len(line) == 0 && err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
			kept.Close()
			os.Remove(kept.Name())
			return nil, fmt.Errorf("filter duplicates: %w", err)
		}
		if j := i - sp.out; j >= 0 && len(idx) > 0 && idx[0] == j {
			idx = idx[1:]
			st.RowsOut--
			st.Tokens -= int64(l[i])
			continue
		}
		l[out] = l[i]
		out++
		w.Write(line)
	}
	*lens = l[:out]
	if err := w.Flush(); err != nil {
		kept.Close()
		os.Remove(kept.Name())
		return nil, err
	}
	return kept, nil
}
