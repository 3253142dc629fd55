package hfmodel

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/whetstone/whetstone/internal/safetensors"
)

// writeWeights writes the tensors of src in dtype as safetensors files in
// dir, streaming one tensor at a time: the header is computed from the
// shapes, so the weights are never all in memory.
func writeWeights(ctx context.Context, dir string, src Source, dt safetensors.DType, maxShard int64) error {
	names := append([]string(nil), src.Names()...)
	sort.Strings(names) // the order safetensors.Write uses
	type entry struct {
		name  string
		shape []int
		size  int64
	}
	var shards [][]entry
	var cur []entry
	var curSize, total int64
	for _, n := range names {
		shape, ok := src.Shape(n)
		if !ok {
			return fmt.Errorf("no tensor %q", n)
		}
		size := int64(dt.Size())
		for _, d := range shape {
			size *= int64(d)
		}
		if len(cur) > 0 && curSize+size > maxShard {
			shards = append(shards, cur)
			cur, curSize = nil, 0
		}
		cur = append(cur, entry{n, shape, size})
		curSize += size
		total += size
	}
	shards = append(shards, cur)
	weightMap := map[string]string{}
	for i, shard := range shards {
		file := "model.safetensors"
		if len(shards) > 1 {
			file = fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards))
		}
		header := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
		var off int64
		for _, e := range shard {
			header[e.name] = struct {
				DType       safetensors.DType `json:"dtype"`
				Shape       []int             `json:"shape"`
				DataOffsets []int64           `json:"data_offsets"`
			}{dt, e.shape, []int64{off, off + e.size}}
			off += e.size
			weightMap[e.name] = file
		}
		hb, err := json.Marshal(header)
		if err != nil {
			return err
		}
		for len(hb)%8 != 0 {
			hb = append(hb, ' ')
		}
		f, err := os.Create(filepath.Join(dir, file))
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(hb)))
		w.Write(n[:])
		w.Write(hb)
		for _, e := range shard {
			if err := ctx.Err(); err != nil {
				f.Close()
				return err
			}
			x, shape, err := src.Float32(e.name)
			if err != nil {
				f.Close()
				return fmt.Errorf("load %s: %w", e.name, err)
			}
			if fmt.Sprint(shape) != fmt.Sprint(e.shape) {
				f.Close()
				return fmt.Errorf("tensor %s: shape %v, announced %v", e.name, shape, e.shape)
			}
			b, err := safetensors.ConvertF32(x, dt)
			if err != nil {
				f.Close()
				return fmt.Errorf("convert %s: %w", e.name, err)
			}
			if _, err := w.Write(b); err != nil {
				f.Close()
				return fmt.Errorf("write %s: %w", file, err)
			}
		}
		if err := w.Flush(); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", file, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if len(shards) > 1 {
		return writeJSON(filepath.Join(dir, "model.safetensors.index.json"),
			map[string]any{"metadata": map[string]any{"total_size": total}, "weight_map": weightMap})
	}
	return nil
}
