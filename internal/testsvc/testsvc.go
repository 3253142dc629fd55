// Package testsvc finds the real servers that backend tests run against:
// the S3 server (versitygw) and Redis that scripts/services.sh starts. A test
// asks for one; when it does not answer, the test is skipped, or fails when
// WHET_REQUIRE_SERVICES=1 (scripts/test.sh sets it, so CI never skips).
package testsvc

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"testing"
	"time"
)

// Defaults match scripts/services.sh.
const (
	DefaultS3Endpoint = "http://127.0.0.1:7070"
	DefaultS3Key      = "whet-test"
	DefaultS3Secret   = "whet-test-secret"
	DefaultS3Bucket   = "whet-test"
	DefaultRedis      = "redis://127.0.0.1:6379/0"
)

// S3 is a reachable S3 server.
type S3 struct {
	Endpoint          string // http://HOST:PORT
	AccessKey, Secret string
	Bucket            string
}

// URL returns an s3:// blob URL under a fresh prefix of the test bucket.
func (s S3) URL(prefix string) string {
	return "s3://" + s.Bucket + "/" + prefix + "?endpoint=" + url.QueryEscape(s.Endpoint) + "&region=us-east-1&path_style=true"
}

// Getenv returns the credentials as AWS_* variables, then os.Getenv.
func (s S3) Getenv(k string) string {
	switch k {
	case "AWS_ACCESS_KEY_ID":
		return s.AccessKey
	case "AWS_SECRET_ACCESS_KEY":
		return s.Secret
	}
	return os.Getenv(k)
}

// NeedS3 returns the S3 server from WHET_TEST_S3_ENDPOINT (and _KEY,
// _SECRET, _BUCKET) or the defaults.
func NeedS3(t testing.TB) S3 {
	t.Helper()
	s := S3{
		Endpoint:  cmp.Or(os.Getenv("WHET_TEST_S3_ENDPOINT"), DefaultS3Endpoint),
		AccessKey: cmp.Or(os.Getenv("WHET_TEST_S3_KEY"), DefaultS3Key),
		Secret:    cmp.Or(os.Getenv("WHET_TEST_S3_SECRET"), DefaultS3Secret),
		Bucket:    cmp.Or(os.Getenv("WHET_TEST_S3_BUCKET"), DefaultS3Bucket),
	}
	u, _ := url.Parse(s.Endpoint)
	need(t, "S3", u.Host)
	return s
}

// NeedRedis returns a redis:// URL from WHET_TEST_REDIS or the default.
func NeedRedis(t testing.TB) string {
	t.Helper()
	r := cmp.Or(os.Getenv("WHET_TEST_REDIS"), DefaultRedis)
	u, _ := url.Parse(r)
	need(t, "Redis", u.Host)
	return r
}

func need(t testing.TB, what, addr string) {
	t.Helper()
	if Reachable(addr) {
		return
	}
	if os.Getenv("WHET_REQUIRE_SERVICES") == "1" {
		t.Fatalf("%s at %s is not running (scripts/services.sh starts it)", what, addr)
	}
	t.Skipf("%s at %s is not running (scripts/services.sh starts it; WHET_REQUIRE_SERVICES=1 makes this a failure)", what, addr)
}

// Reachable reports whether a TCP connection to addr succeeds.
func Reachable(addr string) bool {
	c, err := (&net.Dialer{Timeout: time.Second}).DialContext(context.Background(), "tcp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Name returns a fresh name for a test's bucket prefix, Redis key space...
func Name(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}
