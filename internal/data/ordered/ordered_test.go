package ordered

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// source yields 1..n in batches of size.
func source(n, size int, failAt int) func() (Batch[int], error) {
	next := 1
	return func() (Batch[int], error) {
		var b Batch[int]
		for len(b.Items) < size && next <= n {
			if next == failAt {
				b.Offset = int64(next - 1)
				next = n + 1
				return b, fmt.Errorf("read error at %d", failAt)
			}
			b.Items = append(b.Items, next)
			next++
		}
		b.Offset = int64(next - 1)
		return b, nil
	}
}

func TestRunKeepsOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		n, size, work int
		failAt        int
		wantErr       string
		wantN         int
	}{
		{"one worker", 1000, 7, 1, 0, "", 1000},
		{"many workers", 1000, 7, 8, 0, "", 1000},
		{"default workers", 1000, 64, 0, 0, "", 1000},
		{"empty", 0, 7, 4, 0, "", 0},
		{"read error after a partial batch", 100, 7, 4, 53, "read error at 53", 52},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []int
			var offsets []int64
			seen := make([]int, Workers(tt.work))
			err := Run(context.Background(), tt.work, source(tt.n, tt.size, tt.failAt),
				func(w int, b *Batch[int]) {
					seen[w]++
					time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond) // finish out of order
					for i := range b.Items {
						b.Items[i] *= 10
					}
				},
				func(b *Batch[int]) error {
					got = append(got, b.Items...)
					offsets = append(offsets, b.Offset)
					return nil
				})
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if len(got) != tt.wantN {
				t.Fatalf("%d items, want %d", len(got), tt.wantN)
			}
			for i, v := range got {
				if v != (i+1)*10 {
					t.Fatalf("item %d = %d, want %d (processed, in order)", i, v, (i+1)*10)
				}
			}
			for i := 1; i < len(offsets); i++ {
				if offsets[i] <= offsets[i-1] {
					t.Fatalf("offsets out of order: %v", offsets)
				}
			}
		})
	}
}

func TestRunStops(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	consumed := 0
	err := Run(context.Background(), 4, source(1<<30, 10, 0), func(int, *Batch[int]) {},
		func(*Batch[int]) error {
			if consumed++; consumed == 3 {
				return boom
			}
			return nil
		})
	if !errors.Is(err, boom) || consumed != 3 {
		t.Errorf("consume error: %v after %d batches", err, consumed)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err = Run(ctx, 4, source(1<<30, 10, 0), func(int, *Batch[int]) {},
		func(*Batch[int]) error {
			if n++; n == 5 {
				cancel()
			}
			return nil
		})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func BenchmarkRun(b *testing.B) {
	for _, size := range []int{16, 256} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Run(context.Background(), 0, source(10000, size, 0), func(int, *Batch[int]) {}, func(*Batch[int]) error { return nil })
			}
		})
	}
}
