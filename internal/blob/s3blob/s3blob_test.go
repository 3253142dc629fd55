package s3blob_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/blob/blobtest"
	"github.com/whetstone/whetstone/internal/blob/s3blob"
	"github.com/whetstone/whetstone/internal/testsvc"
)

// ensureBucket creates the test bucket when it is missing.
func ensureBucket(t testing.TB, s testsvc.S3) {
	t.Helper()
	host := strings.TrimPrefix(strings.TrimPrefix(s.Endpoint, "http://"), "https://")
	cl, err := minio.New(host, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.Secret, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if ok, err := cl.BucketExists(ctx, s.Bucket); err != nil {
		t.Fatalf("S3 at %s: %v", s.Endpoint, err)
	} else if !ok {
		if err := cl.MakeBucket(ctx, s.Bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
			t.Fatalf("make bucket %s: %v", s.Bucket, err)
		}
	}
}

func openStore(t testing.TB, s testsvc.S3, extra string) *s3blob.Store {
	t.Helper()
	cfg, err := s3blob.ParseURL(s.URL(testsvc.Name("t"))+extra, s.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s3blob.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l, _ := st.List(context.Background(), "")
		for _, i := range l {
			st.Delete(context.Background(), i.Key)
		}
	})
	return st
}

func TestContract(t *testing.T) {
	s := testsvc.NeedS3(t)
	ensureBucket(t, s)
	blobtest.Run(t, func(t *testing.T) blob.Store { return openStore(t, s, "&part_size=5242880") })
}

func TestParseURL(t *testing.T) {
	env := func(k string) string {
		return map[string]string{"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}[k]
	}
	c, err := s3blob.ParseURL("s3://bkt/a/b?endpoint=http://h:9000&region=eu-west-1&path_style=true", env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Bucket != "bkt" || c.Prefix != "a/b/" || c.Endpoint != "h:9000" || c.Secure || c.Region != "eu-west-1" || !c.PathStyle || c.AccessKey != "k" {
		t.Errorf("parsed %+v", c)
	}
	for _, tc := range []struct{ url, want string }{
		{"http://bkt/x", "scheme must be s3"},
		{"s3:///x", "no bucket"},
		{"s3://bkt/../x", "prefix"},
		{"s3://bkt?endpoint=h:9000", "endpoint"},
		{"s3://bkt?path_style=maybe", "path_style"},
		{"s3://bkt?bogus=1", `unknown parameter "bogus"`},
		{"s3://bkt?part_size=10", "part_size"},
		{"s3://user:pw@bkt", "not in the URL"},
	} {
		if _, err := s3blob.ParseURL(tc.url, env); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseURL(%q) = %v, want error with %q", tc.url, err, tc.want)
		}
	}
	if _, err := s3blob.ParseURL("s3://bkt", func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Errorf("missing credentials: %v", err)
	}
}

// TestBadConfig: each mistake is named at start.
func TestBadConfig(t *testing.T) {
	s := testsvc.NeedS3(t)
	ensureBucket(t, s)
	ctx := context.Background()
	open := func(raw string, getenv func(string) string) error {
		cfg, err := s3blob.ParseURL(raw, getenv)
		if err != nil {
			return err
		}
		_, err = s3blob.Open(ctx, cfg, nil)
		return err
	}
	noBucket := strings.Replace(s.URL("x"), "s3://"+s.Bucket+"/", "s3://no-such-bucket-whet/", 1)
	if err := open(noBucket, s.Getenv); err == nil || !strings.Contains(err.Error(), `bucket "no-such-bucket-whet" does not exist`) {
		t.Errorf("wrong bucket: %v", err)
	}
	badCreds := func(k string) string {
		if k == "AWS_SECRET_ACCESS_KEY" {
			return "wrong-secret"
		}
		return s.Getenv(k)
	}
	if err := open(s.URL("x"), badCreds); err == nil || !strings.Contains(err.Error(), "credentials rejected") {
		t.Errorf("wrong credentials: %v", err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	if err := open("s3://b/x?endpoint=http://"+dead+"&path_style=true", s.Getenv); err == nil || !strings.Contains(err.Error(), "endpoint unreachable") {
		t.Errorf("unreachable endpoint: %v", err)
	}
}

// TestServerDownDelays stops a private S3 server in the middle of work and
// starts it again 10 s later (the outage): writes and reads wait and
// then succeed.
func TestServerDownDelays(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and stops its own S3 server")
	}
	srv := testsvc.StartOwnS3(t)
	st := openStore(t, srv.S3, "&part_size=5242880")
	ctx := context.Background()
	if _, err := st.Put(ctx, "before", strings.NewReader("kept")); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	type res struct {
		info blob.Info
		err  error
	}
	done := make(chan res, 1)
	go func() {
		i, err := st.Put(ctx, "during", strings.NewReader(strings.Repeat("x", 6<<20)))
		done <- res{i, err}
	}()
	time.Sleep(10 * time.Second) // the Put retries while the server is down
	select {
	case r := <-done:
		t.Fatalf("Put returned while the server was down: %+v %v", r.info, r.err)
	default:
	}
	srv.Start(t)
	r := <-done
	if r.err != nil || r.info.Size != 6<<20 {
		t.Fatalf("Put after restart: %+v, %v", r.info, r.err)
	}
	o, err := st.Open(ctx, "before")
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	o.Read(b)
	o.Close()
	if string(b) != "kept" {
		t.Errorf("read %q", b)
	}
	if st, err := st.Stat(ctx, "during"); err != nil || st.SHA256 != r.info.SHA256 {
		t.Errorf("Stat during = %+v, %v", st, err)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
