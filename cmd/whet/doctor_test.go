package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/doctor"
	"github.com/whetstone/whetstone/internal/engine/blas"
)

func runDoctor(t *testing.T, args ...string) (map[string]doctor.Result, error) {
	t.Helper()
	var out bytes.Buffer
	err := doctorCmd(context.Background(), append([]string{"--json"}, args...), stdio{out: &out, err: io.Discard})
	var doc struct{ Checks []doctor.Result }
	if jerr := json.Unmarshal(out.Bytes(), &doc); jerr != nil {
		t.Fatalf("doctor --json: %v: %s", jerr, out.String())
	}
	m := map[string]doctor.Result{}
	for _, r := range doc.Checks {
		m[r.Check] = r
	}
	return m, err
}

func TestDoctorOnThisMachine(t *testing.T) {
	rs, err := runDoctor(t, "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("doctor failed on a healthy configuration: %v %+v", err, rs)
	}
	for _, name := range []string{"blas", "onednn", "gpus", "disk", "backends", "listen", "clock", "auth"} {
		if _, ok := rs[name]; !ok {
			t.Errorf("no %s check", name)
		}
	}
	if rs["backends"].Status != doctor.OK || !strings.Contains(rs["backends"].Found, "database: ok") {
		t.Errorf("backends = %+v", rs["backends"])
	}
	// CI requires the native kernels; there doctor must report them loaded.
	if os.Getenv("WHET_BLAS_REQUIRE_NATIVE") == "1" && (rs["blas"].Status != doctor.OK || !strings.HasPrefix(rs["blas"].Found, "openblas")) {
		t.Errorf("blas = %+v, want OpenBLAS loaded", rs["blas"])
	}
	if (blas.OpenBLASError() == nil) != (rs["blas"].Status == doctor.OK) {
		t.Errorf("blas = %+v but OpenBLASError = %v", rs["blas"], blas.OpenBLASError())
	}
}

func TestDoctorNamesABrokenDatabase(t *testing.T) {
	rs, err := runDoctor(t, "--data-dir", t.TempDir(), "--database", "/proc/whet/none.db", "--addr", "127.0.0.1:0")
	if err == nil {
		t.Fatal("doctor passed with an unusable database")
	}
	if r := rs["backends"]; r.Status != doctor.Fail || !strings.Contains(r.Fix, "--database") {
		t.Errorf("backends = %+v, want a failure whose fix names --database", r)
	}
}

// TestDoctorWithoutOpenBLAS runs doctor in a child process whose BLAS is
// disabled (the libraries are loaded once per process).
func TestDoctorWithoutOpenBLAS(t *testing.T) {
	if os.Getenv("WHET_DOCTOR_CHILD") == "1" {
		var out bytes.Buffer
		doctorCmd(context.Background(), []string{"--json", "--data-dir", os.Getenv("WHET_DOCTOR_DIR"), "--addr", "127.0.0.1:0"}, stdio{out: &out, err: io.Discard})
		os.Stdout.Write(out.Bytes())
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDoctorWithoutOpenBLAS$", "-test.count=1")
	cmd.Env = append(os.Environ(), "WHET_DOCTOR_CHILD=1", "WHET_BLAS_DISABLE=openblas,dnnl", "WHET_DOCTOR_DIR="+t.TempDir())
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v %s", err, b)
	}
	i := bytes.IndexByte(b, '{')
	j := bytes.LastIndexByte(b, '}')
	if i < 0 || j < i {
		t.Fatalf("child printed no JSON: %s", b)
	}
	var doc struct{ Checks []doctor.Result }
	if err := json.Unmarshal(b[i:j+1], &doc); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	for _, r := range doc.Checks {
		if r.Check == "blas" || r.Check == "onednn" {
			if r.Status != doctor.Warn || !strings.Contains(r.Found, "WHET_BLAS_DISABLE") || !strings.Contains(r.Fix, "unset WHET_BLAS_DISABLE") {
				t.Errorf("%s = %+v, want a warning naming WHET_BLAS_DISABLE with its fix", r.Check, r)
			}
		}
	}
}

func TestDoctorNamesAnUnreachableRedis(t *testing.T) {
	rs, err := runDoctor(t, "--data-dir", t.TempDir(), "--events", "redis://127.0.0.1:1/0", "--addr", "127.0.0.1:0")
	if err == nil {
		t.Fatal("doctor passed with an unreachable Redis")
	}
	if r := rs["backends"]; r.Status != doctor.Fail || !strings.Contains(r.Fix, "--events") {
		t.Errorf("backends = %+v, want a failure whose fix names --events", r)
	}
}

func TestDoctorAuthMode(t *testing.T) {
	rs, _ := runDoctor(t, "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0")
	if r := rs["auth"]; r.Status != doctor.OK || !strings.Contains(r.Found, ": off (this machine only)") {
		t.Errorf("loopback: auth = %+v", r)
	}
	rs, _ = runDoctor(t, "--data-dir", t.TempDir(), "--addr", "0.0.0.0:0")
	if r := rs["auth"]; r.Status != doctor.OK || !strings.Contains(r.Found, ": required") || !strings.Contains(r.Found, "none (uploads only") {
		t.Errorf("network address: auth = %+v", r)
	}
	rs, err := runDoctor(t, "--data-dir", t.TempDir(), "--addr", "0.0.0.0:0", "--auth", "off")
	if r := rs["auth"]; err == nil || r.Status != doctor.Fail || !strings.Contains(r.Fix, "--auth required") {
		t.Errorf("auth off on the network: %v %+v", err, r)
	}
}
