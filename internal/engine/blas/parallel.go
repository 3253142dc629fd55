package blas

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// busy counts the goroutines running chunks of split Parallel calls, so
// that a Parallel (or a GEMM) called from inside one, such as a per-head
// product inside an engine loop that is already split across cores, runs
// on the goroutines it has instead of oversubscribing the cores.
var busy atomic.Int32

// Parallel splits the range [0, n) into at most GOMAXPROCS contiguous chunks
// and calls fn(lo, hi) for each chunk, one goroutine per chunk, returning when
// all calls have returned. Chunks are fewer when other Parallel calls
// already keep cores busy (a nested Parallel runs fn(0, n) on the calling
// goroutine). Does nothing if n <= 0.
func Parallel(n int, fn func(lo, hi int)) {
	parallelMin(n, 1, fn)
}

// ParallelMin is like Parallel but keeps every chunk at least minChunk long,
// so cheap per-element work is not split into chunks that cost more to
// schedule than to run.
func ParallelMin(n, minChunk int, fn func(lo, hi int)) {
	parallelMin(n, minChunk, fn)
}

func parallelMin(n, minChunk int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if minChunk < 1 {
		minChunk = 1
	}
	workers := min(freeWorkers(), n/minChunk)
	if workers <= 1 {
		fn(0, n)
		return
	}
	busy.Add(int32(workers))
	defer busy.Add(-int32(workers))
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := chunk; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	fn(0, min(chunk, n))
	wg.Wait()
}

func maxProcs() int { return runtime.GOMAXPROCS(0) }

// freeWorkers returns how many goroutines a new split may use: the
// processors not already running chunks of other splits, at least 1.
func freeWorkers() int {
	return max(1, maxProcs()-int(busy.Load()))
}
