package blas

import (
	"runtime"
	"sync"
)

// Parallel splits the range [0, n) into at most GOMAXPROCS contiguous chunks
// and calls fn(lo, hi) for each chunk, one goroutine per chunk, returning when
// all calls have returned. When n is small or only one processor is
// available, fn(0, n) runs on the calling goroutine. Does nothing if n <= 0.
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
	workers := runtime.GOMAXPROCS(0)
	if w := n / minChunk; w < workers {
		workers = w
	}
	if workers <= 1 {
		fn(0, n)
		return
	}
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
