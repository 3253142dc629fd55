package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/auth"
)

// newKey creates an API key with `whet keys create` on dataDir's database.
func newKey(t *testing.T, dataDir, team, role string) string {
	t.Helper()
	var out bytes.Buffer
	if err := keysCmd(context.Background(), []string{"create", "--data-dir", dataDir, "--team", team, "--role", role}, stdio{out: &out, err: io.Discard}); err != nil {
		t.Fatalf("whet keys create: %v", err)
	}
	var k struct{ Key string }
	if err := json.Unmarshal(out.Bytes(), &k); err != nil || k.Key == "" {
		t.Fatalf("keys create printed %q", out.String())
	}
	return k.Key
}

// call sends a request with bearer key ("" for none).
func call(t *testing.T, c *http.Client, key, method, url, ctype string, body []byte, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// judgedSpec is a pipeline whose evaluate node sends key to an LLM judge.
func judgedSpec(key string) []byte {
	return fmt.Appendf(nil, `name: judged
nodes:
  - {id: d, agent: dataset, params: {source: ../shared/assets/datasets/llama-factory/alpaca_en_demo.json}}
  - {id: p, agent: preprocess, params: {tokenizer: ../shared/assets/models/stories260K}}
  - {id: t, agent: train, params: {base_model: ../shared/assets/models/stories260K, max_steps: 1}}
  - {id: e, agent: evaluate, params: {metrics: [judge], judge_url: "https://judge.example.com/v1", judge_key: %q, judge_model: m}}
edges: [{from: d, to: p}, {from: p, to: t}, {from: t, to: e}, {from: p, to: e}]
`, key)
}

var sealedRE = regexp.MustCompile(`whet-secret:v2:[A-Za-z0-9_-]+`)

// TestSealedSecretsAreBoundToTheTeam: red's judge_key is stored as a sealed
// reference; blue submitting red's reference is refused (it would spend
// red's key on blue's job), red resubmitting it works, and the same secret
// sealed by blue gives another reference.
func TestSealedSecretsAreBoundToTheTeam(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	red, blue := newKey(t, data, "red", "member"), newKey(t, data, "blue", "member")
	base := inProcessServer(t, data, "--auth", "required", "--no-worker") + "/api/v1"
	c := http.DefaultClient
	const plain = "sk-live-red-0123456789abcdef"
	submit := func(key string, judgeKey string) (int, string) {
		st, body, _ := call(t, c, key, "POST", base+"/jobs", "application/yaml", judgedSpec(judgeKey))
		return st, body
	}
	refOf := func(key, body string) string {
		var sub struct {
			JobID string `json:"job_id"`
		}
		json.Unmarshal([]byte(body), &sub)
		st, job, _ := call(t, c, key, "GET", base+"/jobs/"+sub.JobID, "", nil)
		ref := sealedRE.FindString(job)
		if st != 200 || ref == "" || strings.Contains(job, plain) {
			t.Fatalf("GET job = %d, sealed reference %q, plaintext shown: %v", st, ref, strings.Contains(job, plain))
		}
		return ref
	}
	st, body := submit(red, plain)
	if st != 202 {
		t.Fatalf("red submits = %d %s", st, body)
	}
	redRef := refOf(red, body)

	st, body = submit(blue, redRef)
	if st != 422 || !strings.Contains(body, "judge_key") || !strings.Contains(body, "another team") || strings.Contains(body, plain) {
		t.Errorf("blue submits red's reference = %d %s, want 422 naming judge_key and another team", st, body)
	}
	if st, body = submit(red, redRef); st != 202 {
		t.Errorf("red resubmits its reference = %d %s", st, body)
	}
	st, body = submit(blue, plain)
	if st != 202 {
		t.Fatalf("blue submits the plaintext = %d %s", st, body)
	}
	if blueRef := refOf(blue, body); blueRef == redRef {
		t.Error("blue's reference of the same secret equals red's")
	}
}

// TestQuotaBytes413: a team past --quota-bytes gets 413 with a problem that
// names the quota; another team stores on.
func TestQuotaBytes413(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	red, blue := newKey(t, data, "red", "member"), newKey(t, data, "blue", "member")
	base := inProcessServer(t, data, "--auth", "required", "--no-worker", "--quota-bytes", "300") + "/api/v1"
	rows := strings.Repeat(`{"instruction":"say hi","output":"hi there, friend"}`+"\n", 4) // 208 bytes
	upload := func(key, name string) (int, string, http.Header) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile("file", name)
		io.WriteString(fw, rows)
		mw.Close()
		return call(t, http.DefaultClient, key, "POST", base+"/datasets/upload", mw.FormDataContentType(), buf.Bytes())
	}
	if st, body, _ := upload(red, "a.jsonl"); st != 201 {
		t.Fatalf("first upload = %d %s", st, body)
	}
	st, body, h := upload(red, "b.jsonl")
	if st != 413 || !strings.Contains(body, "quota of 300 bytes") || !strings.Contains(h.Get("Content-Type"), "problem+json") {
		t.Errorf("upload past the quota = %d %s (%s), want a 413 problem naming the quota", st, body, h.Get("Content-Type"))
	}
	_, list, _ := call(t, http.DefaultClient, red, "GET", base+"/datasets", "", nil)
	if n := strings.Count(list, `"ds_`); n != 1 {
		t.Errorf("red has %d datasets after the refusal, want 1: %s", n, list)
	}
	if st, body, _ := upload(blue, "a.jsonl"); st != 201 {
		t.Errorf("another team's upload = %d %s", st, body)
	}
}

// TestSecurityHeadersCSPAndCORS: the web UI is served with the security
// headers and a CSP its own index.html satisfies (no inline script); CORS
// is off by default and answers only the origins --cors-origin names.
func TestSecurityHeadersCSPAndCORS(t *testing.T) {
	t.Parallel()
	base := inProcessServer(t, t.TempDir())
	c := http.DefaultClient
	st, index, h := call(t, c, "", "GET", base+"/", "", nil)
	if st != 200 || !strings.Contains(index, `<div id="root">`) {
		t.Fatalf("GET / = %d %.200s", st, index)
	}
	want := map[string]string{
		"Content-Security-Policy": auth.CSP, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
		"Referrer-Policy": "no-referrer", "Cross-Origin-Opener-Policy": "same-origin",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("GET / %s = %q, want %q", k, got, v)
		}
	}
	if hsts := h.Get("Strict-Transport-Security"); hsts != "" {
		t.Errorf("HSTS %q over plain HTTP", hsts)
	}
	// The CSP allows scripts from 'self' only: the UI must have no inline script.
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(index, -1) {
		if !strings.Contains(tag, `src="/assets/`) {
			t.Errorf("index.html has %s: the CSP (script-src 'self') would block it", tag)
		}
	}
	js := regexp.MustCompile(`src="(/assets/[^"]+\.js)"`).FindStringSubmatch(index)
	if js == nil {
		t.Fatal("index.html loads no script")
	}
	if st, _, h := call(t, c, "", "GET", base+js[1], "", nil); st != 200 || h.Get("Content-Security-Policy") != auth.CSP {
		t.Errorf("GET %s = %d, CSP %q", js[1], st, h.Get("Content-Security-Policy"))
	}

	// CORS off by default.
	_, _, h = call(t, c, "", "GET", base+"/api/v1/jobs", "", nil, "Origin", "https://ui.example")
	if got := h.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("CORS off: Access-Control-Allow-Origin %q", got)
	}
	st, _, h = call(t, c, "", "OPTIONS", base+"/api/v1/jobs", "", nil, "Origin", "https://ui.example", "Access-Control-Request-Method", "POST")
	if h.Get("Access-Control-Allow-Origin") != "" || h.Get("Access-Control-Allow-Methods") != "" || st == 204 {
		t.Errorf("CORS off: preflight = %d %v", st, h)
	}

	// --cors-origin allows that origin, and only it.
	cors := inProcessServer(t, t.TempDir(), "--cors-origin", "https://ui.example")
	_, _, h = call(t, c, "", "GET", cors+"/api/v1/jobs", "", nil, "Origin", "https://ui.example")
	if h.Get("Access-Control-Allow-Origin") != "https://ui.example" || !strings.Contains(h.Get("Vary"), "Origin") {
		t.Errorf("allowed origin: ACAO %q, Vary %q", h.Get("Access-Control-Allow-Origin"), h.Get("Vary"))
	}
	_, _, h = call(t, c, "", "GET", cors+"/api/v1/jobs", "", nil, "Origin", "https://evil.example")
	if got := h.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("another origin: ACAO %q", got)
	}
	st, _, h = call(t, c, "", "OPTIONS", cors+"/api/v1/jobs", "", nil, "Origin", "https://ui.example", "Access-Control-Request-Method", "POST")
	if st != 204 || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("allowed preflight = %d %v", st, h)
	}
}

// TestTLS12AndLater: with --tls-cert/--tls-key the server speaks TLS 1.2
// and 1.3 with HSTS, and refuses TLS 1.0 and 1.1 handshakes.
func TestTLS12AndLater(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	logs := &lockedLog{}
	args := []string{"--addr", addr, "--data-dir", filepath.Join(dir, "data"), "--work-dir", repoRoot(t), "--no-worker",
		"--tls-cert", certFile, "--tls-key", keyFile}
	go func() { served <- serve(ctx, args, stdio{in: bytes.NewReader(nil), out: io.Discard, err: logs}) }()
	t.Cleanup(func() {
		cancel()
		<-served
	})
	client := func(minV, maxV uint16) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: minV, MaxVersion: maxV}}}
	}
	url := "https://" + addr + "/health"
	var resp *http.Response
	for range 200 {
		if resp, err = client(tls.VersionTLS12, 0).Get(url); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("https %s: %v\n%s", url, err, logs.String())
	}
	resp.Body.Close()
	for _, v := range []struct {
		name string
		ver  uint16
		ok   bool
	}{{"TLS 1.0", tls.VersionTLS10, false}, {"TLS 1.1", tls.VersionTLS11, false}, {"TLS 1.2", tls.VersionTLS12, true}, {"TLS 1.3", tls.VersionTLS13, true}} {
		resp, err := client(v.ver, v.ver).Get(url)
		if !v.ok {
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s: handshake accepted", v.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", v.name, err)
			continue
		}
		resp.Body.Close()
		if resp.TLS.Version != v.ver || resp.Header.Get("Strict-Transport-Security") != "max-age=63072000; includeSubDomains" {
			t.Errorf("%s: version %x, HSTS %q", v.name, resp.TLS.Version, resp.Header.Get("Strict-Transport-Security"))
		}
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key to dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "whet test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestV1RoutesNeedAuth: every route the OpenAI-compatible handler
// registers (read from its source, so a route added later is checked too)
// answers 401 on a server with auth required, without credentials and
// with an unknown key, before any handler runs.
func TestV1RoutesNeedAuth(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "internal", "openai", "openai.go"))
	if err != nil {
		t.Fatal(err)
	}
	type route struct{ method, path string }
	var routes []route
	for _, m := range regexp.MustCompile(`\bh\("(GET|POST|DELETE|PUT|PATCH) (/v1/[^"]*)"`).FindAllStringSubmatch(string(src), -1) {
		p := strings.NewReplacer("{id...}", "x", "{id}", "x").Replace(m[2])
		routes = append(routes, route{m[1], p})
	}
	if len(routes) < 15 {
		t.Fatalf("found %d /v1 routes in internal/openai/openai.go: %v; the pattern no longer matches how routes are registered", len(routes), routes)
	}
	routes = append(routes, route{"GET", "/v1/no-such-route"})
	base := inProcessServer(t, t.TempDir(), "--auth", "required", "--no-worker")
	for _, r := range routes {
		for _, key := range []string{"", "whet_not_a_key_of_this_server"} {
			st, body, _ := call(t, http.DefaultClient, key, r.method, base+r.path, "application/json", []byte(`{}`))
			if st != http.StatusUnauthorized {
				t.Errorf("%s %s with key %q = %d %.200s, want 401", r.method, r.path, key, st, body)
			}
		}
	}
	t.Logf("%d /v1 routes checked", len(routes))
}
