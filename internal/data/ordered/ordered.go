// Package ordered runs a data pass in parallel and keeps its order: one
// goroutine reads items in batches, workers process the batches
// concurrently, and the caller consumes the processed batches in the order
// they were read, so results never depend on the number of workers. The
// data agents' passes (validate's checks, preprocess) use it.
package ordered

import (
	"context"
	"runtime"
	"sync"
)

// Batch is a group of items read in order.
type Batch[T any] struct {
	Items []T
	// Offset is the reader's position after the batch (bytes), for
	// progress: the stream belongs to the reading goroutine.
	Offset int64
}

// Workers returns n, or GOMAXPROCS when n <= 0.
func Workers(n int) int {
	if n <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return n
}

// Run reads batches with read, called on one goroutine until it returns an
// error or an empty batch; processes each batch with work on Workers(workers)
// goroutines (worker is 0..Workers(workers)-1, for per-worker scratch
// space); and passes the processed batches to consume, in reading order, on
// the calling goroutine. The items of a batch read with an error are still
// processed and consumed; then Run returns the read error. An error from
// consume, or ctx's cancellation, stops the pass and is returned. Run
// returns after every goroutine it started has ended.
func Run[T any](ctx context.Context, workers int, read func() (Batch[T], error), work func(worker int, b *Batch[T]), consume func(b *Batch[T]) error) error {
	workers = Workers(workers)
	type job struct {
		b    Batch[T]
		done chan struct{}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	jobs := make(chan *job, workers)
	order := make(chan *job, 2*workers)
	var readErr error // written before order closes
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(jobs)
		defer close(order)
		for {
			b, err := read()
			if len(b.Items) > 0 {
				j := &job{b: b, done: make(chan struct{})}
				select {
				case jobs <- j:
				case <-ctx.Done():
					return
				}
				select {
				case order <- j:
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				readErr = err
				return
			}
			if len(b.Items) == 0 {
				return
			}
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				work(w, &j.b)
				close(j.done)
			}
		}()
	}
	for j := range order {
		select {
		case <-j.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := consume(&j.b); err != nil {
			return err
		}
	}
	if readErr != nil {
		return readErr
	}
	return ctx.Err()
}
