package cuda

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
)

// Library discovery. Nothing from CUDA is linked into the binary: the
// driver (libcuda.so.1) and cuBLASLt are loaded with dlopen from the first
// candidate that loads. Candidates are explicit paths found on disk, in
// order, then the bare sonames (the dynamic loader's own search: ld.so.cache,
// LD_LIBRARY_PATH).

// Env is what discovery reads from the environment (a parameter so tests
// can give their own).
type Env struct {
	Getenv func(string) string
	// Glob is filepath.Glob by default.
	Glob func(string) ([]string, error)
	// Exists reports whether a path is a file; os.Stat by default.
	Exists func(string) bool
}

// SystemEnv reads the process environment and file system.
func SystemEnv() Env {
	return Env{Getenv: os.Getenv, Glob: filepath.Glob, Exists: func(p string) bool {
		st, err := os.Stat(p)
		return err == nil && !st.IsDir()
	}}
}

// DriverSonames are the names of the CUDA driver library.
var DriverSonames = []string{"libcuda.so.1", "libcuda.so"}

// CUBLASLtSonames are the cuBLASLt versions we can use, newest first.
var CUBLASLtSonames = []string{"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11", "libcublasLt.so"}

// DriverCandidates lists where libcuda may be: $WHET_LIBCUDA, then the
// usual driver folders (the container toolkit's /usr/local/nvidia, the
// distribution's multiarch folder, CUDA's compat folder), then the sonames.
func DriverCandidates(e Env) []string {
	var out []string
	if p := e.Getenv("WHET_LIBCUDA"); p != "" {
		out = append(out, p)
	}
	dirs := []string{"/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
		"/usr/lib64", "/usr/lib/wsl/lib"}
	out = append(out, found(e, dirs, DriverSonames)...)
	return appendNew(out, DriverSonames...)
}

// CUBLASLtCandidates lists where cuBLASLt may be: $WHET_CUBLASLT, then
// $CUDA_HOME/lib64 and $CUDA_PATH/lib64, /usr/local/cuda*/lib64, the
// distribution's folder, the nvidia-cublas Python wheel's folder
// (nvidia/cublas/lib under every site-packages or dist-packages we can see:
// $VIRTUAL_ENV, $CONDA_PREFIX, $PYTHONPATH, the user's and the system's),
// then the sonames.
func CUBLASLtCandidates(e Env) []string {
	var out []string
	if p := e.Getenv("WHET_CUBLASLT"); p != "" {
		out = append(out, p)
	}
	var dirs []string
	for _, v := range []string{"CUDA_HOME", "CUDA_PATH", "CUDA_ROOT"} {
		if h := e.Getenv(v); h != "" {
			dirs = append(dirs, filepath.Join(h, "lib64"), filepath.Join(h, "lib"), filepath.Join(h, "targets/x86_64-linux/lib"))
		}
	}
	dirs = append(dirs, "/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib")
	dirs = append(dirs, globAll(e, "/usr/local/cuda-*/lib64")...)
	dirs = append(dirs, "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64")
	dirs = append(dirs, wheelDirs(e, "cublas")...)
	out = append(out, found(e, dirs, CUBLASLtSonames)...)
	return appendNew(out, CUBLASLtSonames...)
}

// wheelDirs returns nvidia/<pkg>/lib under every Python package folder.
func wheelDirs(e Env, pkg string) []string {
	var roots []string
	for _, p := range filepath.SplitList(e.Getenv("PYTHONPATH")) {
		if p != "" {
			roots = append(roots, p)
		}
	}
	var prefixes []string
	for _, v := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if p := e.Getenv(v); p != "" {
			prefixes = append(prefixes, p)
		}
	}
	if h := e.Getenv("HOME"); h != "" {
		prefixes = append(prefixes, filepath.Join(h, ".local"))
	}
	prefixes = append(prefixes, "/usr/local", "/usr", "/opt/conda")
	for _, p := range prefixes {
		for _, sp := range []string{"site-packages", "dist-packages"} {
			roots = append(roots, globAll(e, filepath.Join(p, "lib", "python3*", sp))...)
		}
	}
	var out []string
	for _, r := range roots {
		out = append(out, filepath.Join(r, "nvidia", pkg, "lib"))
	}
	return out
}

func globAll(e Env, pattern string) []string {
	m, _ := e.Glob(pattern)
	sort.Sort(sort.Reverse(sort.StringSlice(m))) // newest version first
	return m
}

func found(e Env, dirs, names []string) []string {
	var out []string
	for _, d := range dirs {
		for _, n := range names {
			if p := filepath.Join(d, n); e.Exists(p) {
				out = appendNew(out, p)
			}
		}
	}
	return out
}

func appendNew(out []string, xs ...string) []string {
	for _, x := range xs {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
