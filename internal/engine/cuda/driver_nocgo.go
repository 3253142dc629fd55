//go:build !cgo || !linux

package cuda

import (
	"errors"
	"unsafe"
)

// Without cgo (or off Linux) there is no way to load the driver: every entry
// point fails with errNoCgo and Open reports ErrUnavailable.

const haveCgo = false

var errNoCgo = errors.New("built without cgo: CUDA cannot be loaded")

func drvOpen(string) error                         { return errNoCgo }
func drvInit() error                               { return errNoCgo }
func drvDriverVersion() (int, error)               { return 0, errNoCgo }
func drvCount() (int, error)                       { return 0, errNoCgo }
func drvDeviceInfo(int) (DeviceInfo, error)        { return DeviceInfo{}, errNoCgo }
func drvContext(int) error                         { return errNoCgo }
func drvReleaseContext(int) error                  { return errNoCgo }
func drvSync() error                               { return errNoCgo }
func drvAlloc(int64) (uint64, error)               { return 0, errNoCgo }
func drvFree(uint64) error                         { return errNoCgo }
func drvMemInfo() (int64, int64, error)            { return 0, 0, errNoCgo }
func drvHtoD(uint64, unsafe.Pointer, int64) error  { return errNoCgo }
func drvDtoH(unsafe.Pointer, uint64, int64) error  { return errNoCgo }
func drvDtoD(uint64, uint64, int64) error          { return errNoCgo }
func drvZero(uint64, int64) error                  { return errNoCgo }
func drvLoadModule([]byte) (unsafe.Pointer, error) { return nil, errNoCgo }
func drvFunction(unsafe.Pointer, string) (unsafe.Pointer, error) {
	return nil, errNoCgo
}
func drvFuncSharedMem(unsafe.Pointer, int) error { return errNoCgo }
func drvLaunch(unsafe.Pointer, [3]uint32, [3]uint32, uint32, []uint64) error {
	return errNoCgo
}
func drvEvent() (unsafe.Pointer, error)                               { return nil, errNoCgo }
func drvEventRecord(unsafe.Pointer) error                             { return errNoCgo }
func drvEventElapsed(unsafe.Pointer, unsafe.Pointer) (float32, error) { return 0, errNoCgo }
func drvEventDestroy(unsafe.Pointer) error                            { return errNoCgo }
func ltOpen(string) error                                             { return errNoCgo }
func ltVersion() int                                                  { return 0 }
func ltMakePlan(bool, bool, int, int, int, int, int, int, bool, int64, int) (unsafe.Pointer, error) {
	return nil, errNoCgo
}
func ltRun(unsafe.Pointer, float32, uint64, uint64, float32, uint64, uint64, int64) error {
	return errNoCgo
}
