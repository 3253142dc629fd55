//go:build cgo && linux

package cuda

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext;
typedef void *CUmodule;
typedef void *CUfunction;
typedef void *CUstream;
typedef void *CUevent;
typedef unsigned long long CUdeviceptr;

static CUresult (*p_cuInit)(unsigned int);
static CUresult (*p_cuDriverGetVersion)(int *);
static CUresult (*p_cuDeviceGetCount)(int *);
static CUresult (*p_cuDeviceGet)(CUdevice *, int);
static CUresult (*p_cuDeviceGetName)(char *, int, CUdevice);
static CUresult (*p_cuDeviceTotalMem)(size_t *, CUdevice);
static CUresult (*p_cuDeviceGetAttribute)(int *, int, CUdevice);
static CUresult (*p_cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
static CUresult (*p_cuDevicePrimaryCtxRelease)(CUdevice);
static CUresult (*p_cuCtxSetCurrent)(CUcontext);
static CUresult (*p_cuCtxGetCurrent)(CUcontext *);
static CUresult (*p_cuCtxSynchronize)(void);
static CUresult (*p_cuMemAlloc)(CUdeviceptr *, size_t);
static CUresult (*p_cuMemFree)(CUdeviceptr);
static CUresult (*p_cuMemGetInfo)(size_t *, size_t *);
static CUresult (*p_cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
static CUresult (*p_cuMemcpyDtoH)(void *, CUdeviceptr, size_t);
static CUresult (*p_cuMemcpyDtoD)(CUdeviceptr, CUdeviceptr, size_t);
static CUresult (*p_cuMemsetD8)(CUdeviceptr, unsigned char, size_t);
static CUresult (*p_cuModuleLoadDataEx)(CUmodule *, const void *, unsigned int, int *, void **);
static CUresult (*p_cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
static CUresult (*p_cuFuncSetAttribute)(CUfunction, int, int);
static CUresult (*p_cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream, void **, void **);
static CUresult (*p_cuGetErrorString)(CUresult, const char **);
static CUresult (*p_cuEventCreate)(CUevent *, unsigned int);
static CUresult (*p_cuEventRecord)(CUevent, CUstream);
static CUresult (*p_cuEventSynchronize)(CUevent);
static CUresult (*p_cuEventElapsedTime)(float *, CUevent, CUevent);
static CUresult (*p_cuEventDestroy)(CUevent);

static CUcontext g_ctx;

// whet_cu_open loads libcuda; returns NULL or an error text.
static const char *whet_cu_open(const char *lib) {
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) return dlerror();
#define SYM(p, name) if ((*(void **)&p = dlsym(h, name)) == NULL) return "symbol " name " missing";
	SYM(p_cuInit, "cuInit")
	SYM(p_cuDriverGetVersion, "cuDriverGetVersion")
	SYM(p_cuDeviceGetCount, "cuDeviceGetCount")
	SYM(p_cuDeviceGet, "cuDeviceGet")
	SYM(p_cuDeviceGetName, "cuDeviceGetName")
	SYM(p_cuDeviceTotalMem, "cuDeviceTotalMem_v2")
	SYM(p_cuDeviceGetAttribute, "cuDeviceGetAttribute")
	SYM(p_cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain")
	SYM(p_cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2")
	SYM(p_cuCtxSetCurrent, "cuCtxSetCurrent")
	SYM(p_cuCtxGetCurrent, "cuCtxGetCurrent")
	SYM(p_cuCtxSynchronize, "cuCtxSynchronize")
	SYM(p_cuMemAlloc, "cuMemAlloc_v2")
	SYM(p_cuMemFree, "cuMemFree_v2")
	SYM(p_cuMemGetInfo, "cuMemGetInfo_v2")
	SYM(p_cuMemcpyHtoD, "cuMemcpyHtoD_v2")
	SYM(p_cuMemcpyDtoH, "cuMemcpyDtoH_v2")
	SYM(p_cuMemcpyDtoD, "cuMemcpyDtoD_v2")
	SYM(p_cuMemsetD8, "cuMemsetD8_v2")
	SYM(p_cuModuleLoadDataEx, "cuModuleLoadDataEx")
	SYM(p_cuModuleGetFunction, "cuModuleGetFunction")
	SYM(p_cuFuncSetAttribute, "cuFuncSetAttribute")
	SYM(p_cuLaunchKernel, "cuLaunchKernel")
	SYM(p_cuGetErrorString, "cuGetErrorString")
	SYM(p_cuEventCreate, "cuEventCreate")
	SYM(p_cuEventRecord, "cuEventRecord")
	SYM(p_cuEventSynchronize, "cuEventSynchronize")
	SYM(p_cuEventElapsedTime, "cuEventElapsedTime")
	SYM(p_cuEventDestroy, "cuEventDestroy_v2")
#undef SYM
	return NULL;
}

static const char *whet_cu_errstr(CUresult r) {
	const char *s = NULL;
	if (p_cuGetErrorString == NULL || p_cuGetErrorString(r, &s) != 0 || s == NULL) return "unknown CUDA error";
	return s;
}

static void ensure_ctx(void) {
	CUcontext c = NULL;
	p_cuCtxGetCurrent(&c);
	if (c != g_ctx) p_cuCtxSetCurrent(g_ctx);
}

static CUresult whet_cu_init(void) { return p_cuInit(0); }
static CUresult whet_cu_driver_version(int *v) { return p_cuDriverGetVersion(v); }
static CUresult whet_cu_count(int *n) { return p_cuDeviceGetCount(n); }
static CUresult whet_cu_device_info(int ord, char *name, int nameLen, size_t *mem, int *major, int *minor, int *sms) {
	CUdevice d;
	CUresult r = p_cuDeviceGet(&d, ord);
	if (r) return r;
	if ((r = p_cuDeviceGetName(name, nameLen, d))) return r;
	if ((r = p_cuDeviceTotalMem(mem, d))) return r;
	if ((r = p_cuDeviceGetAttribute(major, 75, d))) return r;
	if ((r = p_cuDeviceGetAttribute(minor, 76, d))) return r;
	return p_cuDeviceGetAttribute(sms, 16, d);
}
static CUresult whet_cu_ctx(int ord) {
	CUdevice d;
	CUresult r = p_cuDeviceGet(&d, ord);
	if (r) return r;
	if ((r = p_cuDevicePrimaryCtxRetain(&g_ctx, d))) return r;
	return p_cuCtxSetCurrent(g_ctx);
}
static CUresult whet_cu_ctx_release(int ord) {
	CUdevice d;
	CUresult r = p_cuDeviceGet(&d, ord);
	if (r) return r;
	return p_cuDevicePrimaryCtxRelease(d);
}
static CUresult whet_cu_sync(void) { ensure_ctx(); return p_cuCtxSynchronize(); }
static CUresult whet_cu_alloc(CUdeviceptr *p, size_t n) { ensure_ctx(); return p_cuMemAlloc(p, n); }
static CUresult whet_cu_free(CUdeviceptr p) { ensure_ctx(); return p_cuMemFree(p); }
static CUresult whet_cu_meminfo(size_t *freeB, size_t *total) { ensure_ctx(); return p_cuMemGetInfo(freeB, total); }
static CUresult whet_cu_htod(CUdeviceptr d, const void *h, size_t n) { ensure_ctx(); return p_cuMemcpyHtoD(d, h, n); }
static CUresult whet_cu_dtoh(void *h, CUdeviceptr d, size_t n) { ensure_ctx(); return p_cuMemcpyDtoH(h, d, n); }
static CUresult whet_cu_dtod(CUdeviceptr d, CUdeviceptr s, size_t n) { ensure_ctx(); return p_cuMemcpyDtoD(d, s, n); }
static CUresult whet_cu_memset0(CUdeviceptr d, size_t n) { ensure_ctx(); return p_cuMemsetD8(d, 0, n); }

// whet_cu_load JIT-compiles PTX; on failure log gets the JIT's error log.
static CUresult whet_cu_load(CUmodule *m, const char *ptx, char *log, int logLen) {
	ensure_ctx();
	int opts[2] = {5, 6}; // CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES
	void *vals[2] = {log, (void *)(uintptr_t)logLen};
	return p_cuModuleLoadDataEx(m, ptx, 2, opts, vals);
}
static CUresult whet_cu_func(CUfunction *f, CUmodule m, const char *name) { return p_cuModuleGetFunction(f, m, name); }
// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8
static CUresult whet_cu_func_smem(CUfunction f, int bytes) { return p_cuFuncSetAttribute(f, 8, bytes); }

// whet_cu_launch: args holds one 8-byte slot per kernel parameter (4-byte
// parameters in the low bytes, little-endian).
static CUresult whet_cu_launch(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                               unsigned smem, int nargs, uint64_t *args) {
	void *params[32];
	for (int i = 0; i < nargs && i < 32; i++) params[i] = &args[i];
	ensure_ctx();
	return p_cuLaunchKernel(f, gx, gy, gz, bx, by, bz, smem, NULL, params, NULL);
}

static CUresult whet_cu_event(CUevent *e) { ensure_ctx(); return p_cuEventCreate(e, 0); }
static CUresult whet_cu_event_record(CUevent e) { ensure_ctx(); return p_cuEventRecord(e, NULL); }
static CUresult whet_cu_event_elapsed(float *ms, CUevent a, CUevent b) {
	ensure_ctx();
	CUresult r = p_cuEventSynchronize(b);
	if (r) return r;
	return p_cuEventElapsedTime(ms, a, b);
}
static CUresult whet_cu_event_destroy(CUevent e) { ensure_ctx(); return p_cuEventDestroy(e); }
*/
import "C"

import (
	"fmt"
	"unsafe"
)

const haveCgo = true

type cuError struct {
	op   string
	code int
}

func (e *cuError) Error() string {
	return fmt.Sprintf("cuda: %s: %s (CUresult %d)", e.op, C.GoString(C.whet_cu_errstr(C.CUresult(e.code))), e.code)
}

func check(op string, r C.CUresult) error {
	if r == 0 {
		return nil
	}
	return &cuError{op: op, code: int(r)}
}

func drvOpen(path string) error {
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	if msg := C.whet_cu_open(cs); msg != nil {
		return fmt.Errorf("%s", C.GoString(msg))
	}
	return nil
}

func drvInit() error { return check("cuInit", C.whet_cu_init()) }

func drvDriverVersion() (int, error) {
	var v C.int
	err := check("cuDriverGetVersion", C.whet_cu_driver_version(&v))
	return int(v), err
}

func drvCount() (int, error) {
	var n C.int
	err := check("cuDeviceGetCount", C.whet_cu_count(&n))
	return int(n), err
}

func drvDeviceInfo(ord int) (DeviceInfo, error) {
	var name [256]C.char
	var mem C.size_t
	var major, minor, sms C.int
	if err := check("device attributes", C.whet_cu_device_info(C.int(ord), &name[0], 256, &mem, &major, &minor, &sms)); err != nil {
		return DeviceInfo{}, err
	}
	return DeviceInfo{Index: ord, Name: C.GoString(&name[0]), TotalMemory: int64(mem), Major: int(major), Minor: int(minor), SMs: int(sms)}, nil
}

func drvContext(ord int) error { return check("cuDevicePrimaryCtxRetain", C.whet_cu_ctx(C.int(ord))) }
func drvReleaseContext(ord int) error {
	return check("cuDevicePrimaryCtxRelease", C.whet_cu_ctx_release(C.int(ord)))
}
func drvSync() error { return check("cuCtxSynchronize", C.whet_cu_sync()) }

func drvAlloc(n int64) (uint64, error) {
	var p C.CUdeviceptr
	err := check(fmt.Sprintf("cuMemAlloc(%d bytes)", n), C.whet_cu_alloc(&p, C.size_t(n)))
	return uint64(p), err
}

func drvFree(p uint64) error { return check("cuMemFree", C.whet_cu_free(C.CUdeviceptr(p))) }

func drvMemInfo() (free, total int64, err error) {
	var f, t C.size_t
	err = check("cuMemGetInfo", C.whet_cu_meminfo(&f, &t))
	return int64(f), int64(t), err
}

func drvHtoD(dst uint64, src unsafe.Pointer, n int64) error {
	return check("cuMemcpyHtoD", C.whet_cu_htod(C.CUdeviceptr(dst), src, C.size_t(n)))
}

func drvDtoH(dst unsafe.Pointer, src uint64, n int64) error {
	return check("cuMemcpyDtoH", C.whet_cu_dtoh(dst, C.CUdeviceptr(src), C.size_t(n)))
}

func drvDtoD(dst, src uint64, n int64) error {
	return check("cuMemcpyDtoD", C.whet_cu_dtod(C.CUdeviceptr(dst), C.CUdeviceptr(src), C.size_t(n)))
}

func drvZero(dst uint64, n int64) error {
	return check("cuMemsetD8", C.whet_cu_memset0(C.CUdeviceptr(dst), C.size_t(n)))
}

func drvLoadModule(ptx []byte) (unsafe.Pointer, error) {
	src := C.CString(string(ptx))
	defer C.free(unsafe.Pointer(src))
	var log [8192]C.char
	var m C.CUmodule
	if err := check("cuModuleLoadDataEx (PTX JIT)", C.whet_cu_load(&m, src, &log[0], 8192)); err != nil {
		return nil, fmt.Errorf("%w: %s", err, C.GoString(&log[0]))
	}
	return unsafe.Pointer(m), nil
}

func drvFunction(mod unsafe.Pointer, name string) (unsafe.Pointer, error) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	var f C.CUfunction
	if err := check("cuModuleGetFunction "+name, C.whet_cu_func(&f, C.CUmodule(mod), cs)); err != nil {
		return nil, err
	}
	return unsafe.Pointer(f), nil
}

func drvFuncSharedMem(f unsafe.Pointer, bytes int) error {
	return check("cuFuncSetAttribute(max dynamic shared memory)", C.whet_cu_func_smem(C.CUfunction(f), C.int(bytes)))
}

func drvLaunch(f unsafe.Pointer, grid, block [3]uint32, smem uint32, args []uint64) error {
	var p *C.uint64_t
	if len(args) > 0 {
		p = (*C.uint64_t)(unsafe.Pointer(&args[0]))
	}
	return check("cuLaunchKernel", C.whet_cu_launch(C.CUfunction(f), C.uint(grid[0]), C.uint(grid[1]), C.uint(grid[2]),
		C.uint(block[0]), C.uint(block[1]), C.uint(block[2]), C.uint(smem), C.int(len(args)), p))
}

func drvEvent() (unsafe.Pointer, error) {
	var e C.CUevent
	err := check("cuEventCreate", C.whet_cu_event(&e))
	return unsafe.Pointer(e), err
}

func drvEventRecord(e unsafe.Pointer) error {
	return check("cuEventRecord", C.whet_cu_event_record(C.CUevent(e)))
}

func drvEventElapsed(a, b unsafe.Pointer) (float32, error) {
	var ms C.float
	err := check("cuEventElapsedTime", C.whet_cu_event_elapsed(&ms, C.CUevent(a), C.CUevent(b)))
	return float32(ms), err
}

func drvEventDestroy(e unsafe.Pointer) error {
	return check("cuEventDestroy", C.whet_cu_event_destroy(C.CUevent(e)))
}
