package outbound

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	def, _ := New(nil)
	listed, err := New([]string{"127.0.0.1:8000", "judge.internal", "10.1.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p   *Policy
		url string
		ok  bool
	}{
		{def, "https://api.openai.com/v1", true},
		{def, "http://8.8.8.8/v1", true},
		{def, "http://127.0.0.1:8080/v1", false},
		{def, "http://localhost:8080/v1", false},
		{def, "http://[::1]/v1", false},
		{def, "http://169.254.169.254/latest/meta-data", false},
		{def, "http://10.0.0.1/v1", false},
		{def, "http://192.168.1.1/v1", false},
		{def, "http://0.0.0.0/v1", false},
		{def, "http://[::ffff:127.0.0.1]/v1", false},
		{def, "file:///etc/passwd", false},
		{def, "gopher://x", false},
		{def, "http://user:pw@example.com/", false},
		{listed, "http://127.0.0.1:8000/v1", true},
		{listed, "http://127.0.0.1:8001/v1", false},
		{listed, "https://judge.internal/v1", true},
		{listed, "http://10.1.2.3/v1", true},
		{listed, "https://api.openai.com/v1", false},
		{nil, "http://127.0.0.1/", true},
	} {
		err := tc.p.Check(tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("%v Check(%q) = %v, want ok %v", tc.p != nil && tc.p.strict, tc.url, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrRefused) {
			t.Errorf("Check(%q) = %v, not ErrRefused", tc.url, err)
		}
	}
}

// TestClientDial checks the dial-time guard: a name that resolves to
// loopback is refused by the default policy, reached when listed.
func TestClientDial(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "secret reply") }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	url := "http://localhost:" + port + "/"
	def, _ := New(nil)
	if _, err := def.Client(0).Get(url); err == nil || !strings.Contains(err.Error(), "resolves to") {
		t.Errorf("default policy reached %s: %v", url, err)
	}
	listed, _ := New([]string{"localhost:" + port})
	resp, err := listed.Client(0).Get(url)
	if err != nil {
		t.Fatalf("listed host refused: %v", err)
	}
	resp.Body.Close()
	// A redirect to a refused address is refused.
	redir := httptest.NewServer(http.RedirectHandler("http://127.0.0.1:"+port+"/", http.StatusFound))
	defer redir.Close()
	rport := redir.URL[strings.LastIndex(redir.URL, ":")+1:]
	only, _ := New([]string{"127.0.0.1:" + rport})
	if _, err := only.Client(0).Get(redir.URL); err == nil {
		t.Error("followed a redirect to an address not allowed")
	}
}
