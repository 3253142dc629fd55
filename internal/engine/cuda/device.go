package cuda

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"unsafe"
)

//go:generate sh gen.sh

// PTX of kernels.cu for compute capability 8.0 (Ampere, and what newer
// chips JIT from when nothing closer fits) and 9.0 (Hopper).
var (
	//go:embed kernels_sm80.ptx
	ptx80 []byte
	//go:embed kernels_sm90.ptx
	ptx90 []byte
)

// ErrUnavailable wraps every reason the GPU cannot be used: no cgo, no
// driver, no device, no cuBLASLt, a PTX the driver cannot load.
var ErrUnavailable = errors.New("cuda unavailable")

// DeviceInfo describes one CUDA device.
type DeviceInfo struct {
	Index        int    `json:"index"`
	Name         string `json:"name"`
	TotalMemory  int64  `json:"memory_total_bytes"`
	Major, Minor int    `json:"-"`
	SMs          int    `json:"multiprocessors"`
}

// ComputeCapability is "major.minor".
func (d DeviceInfo) ComputeCapability() string { return fmt.Sprintf("%d.%d", d.Major, d.Minor) }

// Device is an opened CUDA device: a context, our kernels, cuBLASLt. One
// device per process (the driver's context is process-wide state here).
type Device struct {
	Info          DeviceInfo
	DriverPath    string
	DriverVersion int
	CUBLASLtPath  string
	PTXArch       string // compute_80 or compute_90: the PTX loaded

	mu        sync.Mutex
	fns       map[string]unsafe.Pointer
	plans     map[planKey]unsafe.Pointer
	ws        uint64
	wsSize    int64
	allocated int64
	peak      int64
	args      []uint64
	prof      *profile

	attnKernels AttnKernels // "" is AttnF32
	attnBF16Err error       // why the bf16 attention kernels cannot run here
}

// profile accumulates device time per kernel (and "gemm") between event
// pairs; resolved when read.
type profile struct {
	pending []profEv
	ms      map[string]float64
	calls   map[string]int
}

type profEv struct {
	name   string
	e0, e1 unsafe.Pointer
}

// StartProfile times every launch and product with device events until
// Profile is read (it costs a little; for benchmarks' breakdowns).
func (d *Device) StartProfile() {
	d.prof = &profile{ms: map[string]float64{}, calls: map[string]int{}}
}

// Profile returns the milliseconds and calls per kernel since
// StartProfile (waiting for the device) and stops profiling.
func (d *Device) Profile() (map[string]float64, map[string]int, error) {
	p := d.prof
	d.prof = nil
	if p == nil {
		return nil, nil, nil
	}
	for _, e := range p.pending {
		ms, err := drvEventElapsed(e.e0, e.e1)
		drvEventDestroy(e.e0)
		drvEventDestroy(e.e1)
		if err != nil {
			return nil, nil, err
		}
		p.ms[e.name] += float64(ms)
		p.calls[e.name]++
	}
	return p.ms, p.calls, nil
}

func (d *Device) profBegin() unsafe.Pointer {
	if d.prof == nil {
		return nil
	}
	e, err := drvEvent()
	if err != nil {
		return nil
	}
	drvEventRecord(e)
	return e
}

func (d *Device) profEnd(name string, e0 unsafe.Pointer) {
	if e0 == nil || d.prof == nil {
		return
	}
	e1, err := drvEvent()
	if err != nil {
		return
	}
	drvEventRecord(e1)
	d.prof.pending = append(d.prof.pending, profEv{name, e0, e1})
}

var (
	openMu  sync.Mutex
	opened  *Device
	drvOnce struct {
		done bool
		path string
		err  error
	}
)

func loadDriver(e Env) (string, error) {
	if drvOnce.done {
		return drvOnce.path, drvOnce.err
	}
	drvOnce.done = true
	if !haveCgo {
		drvOnce.err = fmt.Errorf("%w: %v", ErrUnavailable, errNoCgoErr())
		return "", drvOnce.err
	}
	var tried []string
	for _, p := range DriverCandidates(e) {
		err := drvOpen(p)
		if err == nil {
			drvOnce.path = p
			if err := drvInit(); err != nil {
				drvOnce.err = fmt.Errorf("%w: driver %s: %v", ErrUnavailable, p, err)
			}
			return p, drvOnce.err
		}
		tried = append(tried, p+": "+err.Error())
	}
	drvOnce.err = fmt.Errorf("%w: no CUDA driver (libcuda.so.1) could be loaded; tried %s", ErrUnavailable, strings.Join(tried, "; "))
	return "", drvOnce.err
}

func errNoCgoErr() error { return errors.New("built without cgo: CUDA cannot be loaded") }

// Devices lists the CUDA devices the driver sees (an error wrapping
// ErrUnavailable without a driver).
func Devices() ([]DeviceInfo, error) {
	openMu.Lock()
	defer openMu.Unlock()
	if _, err := loadDriver(SystemEnv()); err != nil {
		return nil, err
	}
	n, err := drvCount()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	out := make([]DeviceInfo, 0, n)
	for i := 0; i < n; i++ {
		d, err := drvDeviceInfo(i)
		if err != nil {
			return nil, fmt.Errorf("%w: device %d: %v", ErrUnavailable, i, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// Open opens device ordinal: loads the driver, creates the context, loads
// the PTX for its compute capability and cuBLASLt, and selects the
// attention kernels from WHET_CUDA_ATTN (ParseAttnKernels; an unknown value
// is an error that does not wrap ErrUnavailable). It returns the already
// opened device when called again with the same ordinal.
func Open(ordinal int) (*Device, error) { return OpenEnv(ordinal, SystemEnv()) }

// OpenEnv is Open with library discovery reading e.
func OpenEnv(ordinal int, e Env) (*Device, error) {
	openMu.Lock()
	defer openMu.Unlock()
	if opened != nil {
		if opened.Info.Index != ordinal {
			return nil, fmt.Errorf("cuda: device %d already open in this process; cannot open %d", opened.Info.Index, ordinal)
		}
		return opened, nil
	}
	ak, err := ParseAttnKernels(e.Getenv(AttnKernelsEnv))
	if err != nil {
		return nil, fmt.Errorf("cuda: %w", err)
	}
	path, err := loadDriver(e)
	if err != nil {
		return nil, err
	}
	n, err := drvCount()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: the driver sees no CUDA device", ErrUnavailable)
	}
	if ordinal < 0 || ordinal >= n {
		return nil, fmt.Errorf("%w: device cuda:%d does not exist (%d device(s): cuda:0..cuda:%d)", ErrUnavailable, ordinal, n, n-1)
	}
	info, err := drvDeviceInfo(ordinal)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if info.Major < 8 {
		return nil, fmt.Errorf("%w: %s has compute capability %s; whet's kernels need 8.0 or newer (bf16)", ErrUnavailable, info.Name, info.ComputeCapability())
	}
	d := &Device{Info: info, DriverPath: path, fns: map[string]unsafe.Pointer{}, plans: map[planKey]unsafe.Pointer{}}
	d.DriverVersion, _ = drvDriverVersion()
	if err := drvContext(ordinal); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	ptx, arch := ptx80, "compute_80"
	if info.Major >= 9 {
		ptx, arch = ptx90, "compute_90"
	}
	mod, err := drvLoadModule(ptx)
	if err != nil {
		return nil, fmt.Errorf("%w: loading kernels (%s PTX) on %s: %v", ErrUnavailable, arch, info.Name, err)
	}
	d.PTXArch = arch
	for _, name := range kernelNames {
		f, err := drvFunction(mod, name)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		d.fns[name] = f
	}
	for hd, sm := range attnSmem {
		for kind, bytes := range sm {
			name := fmt.Sprintf("attn_%s_%d", kind, hd)
			if err := drvFuncSharedMem(d.fns[name], bytes); err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, name, err)
			}
		}
	}
	// The bf16 attention kernels need more shared memory than some chips
	// give a block (compute 8.6/8.9: 99 KiB): there they are unavailable,
	// and only selecting them is an error.
	for hd, sm := range attnBF16Smem {
		for kind, bytes := range sm {
			name := fmt.Sprintf("attn_%s_bf16_%d", kind, hd)
			if err := drvFuncSharedMem(d.fns[name], bytes); err != nil && d.attnBF16Err == nil {
				d.attnBF16Err = fmt.Errorf("%s: %d bytes of shared memory: %v", name, bytes, err)
			}
		}
	}
	if err := d.SetAttnKernels(ak); err != nil {
		return nil, fmt.Errorf("%s=%s: %w", AttnKernelsEnv, ak, err)
	}
	var tried []string
	for _, p := range CUBLASLtCandidates(e) {
		if err := ltOpen(p); err != nil {
			tried = append(tried, p+": "+err.Error())
			continue
		}
		d.CUBLASLtPath = p
		break
	}
	if d.CUBLASLtPath == "" {
		return nil, fmt.Errorf("%w: no cuBLASLt could be loaded (set CUDA_HOME or WHET_CUBLASLT, or pip install nvidia-cublas); tried %s", ErrUnavailable, strings.Join(tried, "; "))
	}
	d.wsSize = 32 << 20
	if d.ws, err = drvAlloc(d.wsSize); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	opened = d
	return d, nil
}

// String describes the device for logs.
func (d *Device) String() string {
	return fmt.Sprintf("cuda:%d %s (compute %s, %d SMs, %.1f GiB, driver %d, %s, cuBLASLt %s, %s attention)", d.Info.Index, d.Info.Name,
		d.Info.ComputeCapability(), d.Info.SMs, float64(d.Info.TotalMemory)/(1<<30), d.DriverVersion, d.PTXArch, d.CUBLASLtPath, d.AttnKernels())
}

// Sync waits for all queued work and returns the first asynchronous error.
func (d *Device) Sync() error { return drvSync() }

// MemInfo returns the device's free and total memory.
func (d *Device) MemInfo() (free, total int64, err error) { return drvMemInfo() }

// Allocated and PeakAllocated count bytes held through Alloc (the
// cuBLASLt workspace included).
func (d *Device) Allocated() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.allocated + d.wsSize
}

func (d *Device) PeakAllocated() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.peak + d.wsSize
}

// ResetPeak sets the peak to what is allocated now.
func (d *Device) ResetPeak() {
	d.mu.Lock()
	d.peak = d.allocated
	d.mu.Unlock()
}

// Buffer is device memory. The zero Buffer is null (kernels take it as a
// null pointer).
type Buffer struct {
	ptr   uint64
	bytes int64
}

// Ptr is the device address.
func (b Buffer) Ptr() uint64 { return b.ptr }

// Bytes is the size.
func (b Buffer) Bytes() int64 { return b.bytes }

// Nil reports whether b is null.
func (b Buffer) Nil() bool { return b.ptr == 0 }

// F32 returns the sub-buffer of float32 elements [lo, hi).
func (b Buffer) F32(lo, hi int) Buffer {
	if lo < 0 || int64(hi)*4 > b.bytes || lo > hi {
		panic(fmt.Sprintf("cuda: f32 slice [%d:%d] of %d bytes", lo, hi, b.bytes))
	}
	return Buffer{ptr: b.ptr + uint64(lo)*4, bytes: int64(hi-lo) * 4}
}

// BF16 returns the sub-buffer of bfloat16 elements [lo, hi).
func (b Buffer) BF16(lo, hi int) Buffer {
	if lo < 0 || int64(hi)*2 > b.bytes || lo > hi {
		panic(fmt.Sprintf("cuda: bf16 slice [%d:%d] of %d bytes", lo, hi, b.bytes))
	}
	return Buffer{ptr: b.ptr + uint64(lo)*2, bytes: int64(hi-lo) * 2}
}

// Alloc allocates n bytes (uninitialised).
func (d *Device) Alloc(n int64) (Buffer, error) {
	if n <= 0 {
		return Buffer{}, nil
	}
	p, err := drvAlloc(n)
	if err != nil {
		free, total, _ := drvMemInfo()
		return Buffer{}, fmt.Errorf("%w (%.2f GiB free of %.2f GiB on %s)", err, float64(free)/(1<<30), float64(total)/(1<<30), d.Info.Name)
	}
	d.mu.Lock()
	d.allocated += n
	d.peak = max(d.peak, d.allocated)
	d.mu.Unlock()
	return Buffer{ptr: p, bytes: n}, nil
}

// Free releases b (which must come from Alloc, not a sub-buffer).
func (d *Device) Free(b Buffer) error {
	if b.ptr == 0 {
		return nil
	}
	d.mu.Lock()
	d.allocated -= b.bytes
	d.mu.Unlock()
	return drvFree(b.ptr)
}

// Zero clears b.
func (d *Device) Zero(b Buffer) error {
	if b.bytes == 0 {
		return nil
	}
	return drvZero(b.ptr, b.bytes)
}

// Copy copies src into dst (device to device, min of the sizes).
func (d *Device) Copy(dst, src Buffer) error {
	n := min(dst.bytes, src.bytes)
	if n == 0 {
		return nil
	}
	return drvDtoD(dst.ptr, src.ptr, n)
}

// Upload copies host values into the start of b.
func Upload[T float32 | uint16 | int32 | uint8 | float64](b Buffer, src []T) error {
	if len(src) == 0 {
		return nil
	}
	n := int64(len(src)) * int64(unsafe.Sizeof(src[0]))
	if n > b.bytes {
		return fmt.Errorf("cuda: upload of %d bytes into a buffer of %d", n, b.bytes)
	}
	return drvHtoD(b.ptr, unsafe.Pointer(&src[0]), n)
}

// Download copies the start of b into dst.
func Download[T float32 | uint16 | int32 | uint8 | float64](dst []T, b Buffer) error {
	if len(dst) == 0 {
		return nil
	}
	n := int64(len(dst)) * int64(unsafe.Sizeof(dst[0]))
	if n > b.bytes {
		return fmt.Errorf("cuda: download of %d bytes from a buffer of %d", n, b.bytes)
	}
	if err := drvSync(); err != nil {
		return err
	}
	return drvDtoH(unsafe.Pointer(&dst[0]), b.ptr, n)
}

// AllocF32 allocates n float32 values and uploads src when non-nil.
func (d *Device) AllocF32(n int, src []float32) (Buffer, error) {
	b, err := d.Alloc(int64(n) * 4)
	if err == nil && src != nil {
		err = Upload(b, src[:n])
	}
	return b, err
}

// arg converts a kernel parameter to its 8-byte slot.
func arg(v any) uint64 {
	switch x := v.(type) {
	case Buffer:
		return x.ptr
	case int:
		return uint64(uint32(int32(x)))
	case int32:
		return uint64(uint32(x))
	case int64:
		return uint64(x)
	case uint64:
		return x
	case float32:
		return uint64(math.Float32bits(x))
	case bool:
		if x {
			return 1
		}
		return 0
	}
	panic(fmt.Sprintf("cuda: kernel argument of type %T", v))
}

// launch runs kernel name on grid×block threads with smem bytes of dynamic
// shared memory.
func (d *Device) launch(name string, grid, block [3]uint32, smem int, args ...any) error {
	f := d.fns[name]
	if f == nil {
		return fmt.Errorf("cuda: no kernel %s", name)
	}
	e0 := d.profBegin()
	d.mu.Lock()
	a := d.args[:0]
	for _, v := range args {
		a = append(a, arg(v))
	}
	d.args = a
	err := drvLaunch(f, grid, block, uint32(smem), a)
	d.mu.Unlock()
	d.profEnd(name, e0)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// grid1 sizes a 1-D grid-stride launch over n elements.
func grid1(n int64) [3]uint32 {
	g := (n + 255) / 256
	return [3]uint32{uint32(max(1, min(g, 65535*8))), 1, 1}
}

var t256 = [3]uint32{256, 1, 1}

// Event is a point in the device's work queue, for timing.
type Event struct{ e unsafe.Pointer }

// Record records an event now.
func (d *Device) Record() (Event, error) {
	e, err := drvEvent()
	if err != nil {
		return Event{}, err
	}
	return Event{e}, drvEventRecord(e)
}

// Elapsed returns the milliseconds between a and b (waiting for b), and
// destroys both.
func Elapsed(a, b Event) (float32, error) {
	ms, err := drvEventElapsed(a.e, b.e)
	drvEventDestroy(a.e)
	drvEventDestroy(b.e)
	return ms, err
}
