package gguf_test

import (
	"bytes"
	"fmt"

	"github.com/whetstone/whetstone/internal/export/gguf"
	"github.com/whetstone/whetstone/internal/export/quant"
)

func ExampleWrite() {
	x := make([]float32, 64) // a 2×32 tensor
	for i := range x {
		x[i] = float32(i) / 64
	}
	data, _ := quant.Quantize(nil, quant.Q8_0, x, 32)
	var buf bytes.Buffer
	err := gguf.Write(&buf, []gguf.KV{{Key: "general.architecture", Value: "llama"}},
		[]gguf.Tensor{{Name: "w", Type: quant.Q8_0, Shape: gguf.ShapeOf([]int{2, 32}), Data: gguf.Bytes(data)}})
	if err != nil {
		panic(err)
	}
	f, err := gguf.Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		panic(err)
	}
	arch, _ := f.String("general.architecture")
	y, info, _ := f.Float32("w")
	fmt.Println(arch, info.Type, info.Shape, len(y))
	// Output: llama Q8_0 [32 2] 64
}
