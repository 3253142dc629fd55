package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/whetstone/whetstone/internal/engine/blas"
)

// BLAS checks OpenBLAS, the engine's float32 product kernels.
func BLAS() Check {
	return Check{Name: "blas", Run: func(context.Context) Result {
		if err := blas.OpenBLASError(); err != nil {
			fix := "install OpenBLAS (Debian/Ubuntu: apt-get install libopenblas0-pthread; the dev package also works); " +
				"training then runs 2-4x faster"
			if strings.Contains(err.Error(), "WHET_BLAS_DISABLE") {
				fix = "unset WHET_BLAS_DISABLE (it keeps OpenBLAS from loading)"
			}
			return Result{Status: Warn, Found: "OpenBLAS not loaded (" + err.Error() + "): products run on the pure-Go kernels, same results, slower", Fix: fix}
		}
		return Result{Status: OK, Found: blas.Name()}
	}}
}

// OneDNN checks oneDNN, the bf16 product kernels.
func OneDNN() Check {
	return Check{Name: "onednn", Run: func(context.Context) Result {
		if err := blas.DNNLError(); err != nil {
			fix := "install oneDNN (Debian/Ubuntu: apt-get install libdnnl3, or libdnnl-dev) for bf16 training"
			switch {
			case strings.Contains(err.Error(), "headers"):
				fix = "this binary was built without oneDNN's headers: apt-get install libdnnl-dev, then rebuild whet (go build ./cmd/whet)"
			case strings.Contains(err.Error(), "WHET_BLAS_DISABLE"):
				fix = "unset WHET_BLAS_DISABLE (it keeps oneDNN from loading)"
			}
			return Result{Status: Warn, Found: "oneDNN not loaded (" + err.Error() + "): bf16 products run in float32", Fix: fix}
		}
		found := blas.BF16Name()
		if !blas.BF16Native() {
			return Result{Status: OK, Found: found + "; this CPU has no AVX512_BF16, so bf16 training is not faster than float32 here"}
		}
		return Result{Status: OK, Found: found}
	}}
}

// GPUs checks for NVIDIA GPUs through inventory (nil: look for the driver's
// libraries only).
func GPUs(inventory func(context.Context) (string, error)) Check {
	return Check{Name: "gpus", Run: func(ctx context.Context) Result {
		if inventory != nil {
			found, err := inventory(ctx)
			if err != nil {
				return Result{Status: Warn, Found: err.Error(), Fix: "install the NVIDIA driver (libcuda.so.1, libnvidia-ml.so.1) or train on the CPU"}
			}
			return Result{Status: OK, Found: found}
		}
		if lib := findLib("libnvidia-ml.so.1"); lib != "" {
			return Result{Status: OK, Found: "NVIDIA driver library at " + lib}
		}
		return Result{Status: OK, Found: "no NVIDIA driver: training runs on the CPU"}
	}}
}

// findLib looks for a shared library in the usual folders.
func findLib(name string) string {
	dirs := []string{"/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/nvidia/lib64", "/usr/local/cuda/lib64"}
	for _, d := range strings.Split(os.Getenv("LD_LIBRARY_PATH"), ":") {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Disk checks the free space of the file system holding dir.
func Disk(dir string) Check {
	return Check{Name: "disk", Run: func(context.Context) Result {
		probe := dir
		for {
			if _, err := os.Stat(probe); err == nil {
				break
			}
			parent := filepath.Dir(probe)
			if parent == probe {
				break
			}
			probe = parent
		}
		var st syscall.Statfs_t
		if err := syscall.Statfs(probe, &st); err != nil {
			return Result{Status: Fail, Found: fmt.Sprintf("cannot read the file system of %s: %v", dir, err), Fix: "create the data folder or pass --data-dir"}
		}
		free := st.Bavail * uint64(st.Bsize)
		found := fmt.Sprintf("%.1f GiB free for %s", float64(free)/(1<<30), dir)
		switch {
		case free < 1<<30:
			return Result{Status: Fail, Found: found, Fix: "free disk space or move --data-dir: checkpoints and exported models need several GiB"}
		case free < 10<<30:
			return Result{Status: Warn, Found: found, Fix: "models and checkpoints need several GiB each: free space, or run `whet gc`"}
		}
		return Result{Status: OK, Found: found}
	}}
}

// Backends turns a health map (check name → "ok" or an error) into results,
// with a fix per backend.
func Backends(health func(context.Context) (map[string]string, bool), fixes map[string]string) Check {
	return Check{Name: "backends", Run: func(ctx context.Context) Result {
		checks, ok := health(ctx)
		var parts, bad []string
		for name, v := range checks {
			parts = append(parts, name+": "+v)
			if v != "ok" {
				bad = append(bad, name)
			}
		}
		sort.Strings(parts)
		if ok {
			return Result{Status: OK, Found: strings.Join(parts, "; ")}
		}
		var fix []string
		for _, b := range bad {
			if f := fixes[b]; f != "" {
				fix = append(fix, b+": "+f)
			}
		}
		return Result{Status: Fail, Found: strings.Join(parts, "; "), Fix: strings.Join(fix, "; ")}
	}}
}

// Listen checks that addr can be listened on, or that a Whetstone server
// already answers there.
func Listen(addr string) Check {
	return Check{Name: "listen", Run: func(ctx context.Context) Result {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			ln.Close()
			return Result{Status: OK, Found: addr + " is free"}
		}
		if errors.Is(err, syscall.EADDRINUSE) {
			host, port, _ := net.SplitHostPort(addr)
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "127.0.0.1"
			}
			c := &http.Client{Timeout: 2 * time.Second}
			if resp, err := c.Get("http://" + net.JoinHostPort(host, port) + "/livez"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return Result{Status: OK, Found: addr + " is in use by a running whet server"}
				}
			}
			return Result{Status: Fail, Found: addr + " is in use by another program", Fix: "stop it or choose another --addr"}
		}
		return Result{Status: Fail, Found: "cannot listen on " + addr + ": " + err.Error(), Fix: "check --addr (host:port)"}
	}}
}

// Clock compares this machine's clock with a remote service's (nil: none).
func Clock(remote func(context.Context) (string, time.Time, error)) Check {
	return Check{Name: "clock", Run: func(ctx context.Context) Result {
		if remote == nil {
			return Result{Status: OK, Found: "no remote service to compare with (embedded database and local blobs)"}
		}
		name, t, err := remote(ctx)
		if err != nil {
			return Result{Status: Warn, Found: "could not read " + name + "'s clock: " + err.Error()}
		}
		skew := time.Since(t)
		if skew < 0 {
			skew = -skew
		}
		found := fmt.Sprintf("%s off by %s from %s", "this clock is", skew.Round(time.Millisecond), name)
		if skew > 30*time.Second {
			return Result{Status: Fail, Found: found, Fix: "synchronise clocks (NTP): leases, retries and S3 signatures depend on them"}
		}
		if skew > 2*time.Second {
			return Result{Status: Warn, Found: found, Fix: "synchronise clocks (NTP)"}
		}
		return Result{Status: OK, Found: found}
	}}
}
