//go:build !cgo || !linux

package gpus

import "fmt"

func query() ([]GPU, error) {
	return nil, fmt.Errorf("%w: built without cgo", ErrNoNVML)
}
