package secret

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
)

func box(t *testing.T, b byte) *Box {
	t.Helper()
	key := make([]byte, 32)
	for i := range key {
		key[i] = b
	}
	x, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	a, other := box(t, 1), box(t, 2)
	const key = "sk-live-0123456789abcdef"
	s, err := a.Seal(key, "red")
	if err != nil {
		t.Fatal(err)
	}
	if !IsSealed(s) || !strings.HasPrefix(s, "whet-secret:v2:") || strings.Contains(s, key) || strings.Contains(s, "0123456789") {
		t.Fatalf("sealed %q holds the plaintext or lacks the prefix", s)
	}
	if s2, _ := a.Seal(key, "red"); s2 != s {
		t.Errorf("sealing is not deterministic: %q, %q", s, s2)
	}
	if s3, _ := a.Seal(key+"x", "red"); s3 == s {
		t.Error("different secrets sealed alike")
	}
	if again, err := a.Seal(s, "red"); err != nil || again != s {
		t.Errorf("resealing a reference: %q, %v", again, err)
	}
	if got, err := a.Open(s, "red"); err != nil || got != key {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := other.Open(s, "red"); !errors.Is(err, ErrBadReference) {
		t.Errorf("another key opened it: %v", err)
	}
	if _, err := other.Seal(s, "red"); !errors.Is(err, ErrBadReference) {
		t.Errorf("another key accepted the reference: %v", err)
	}
	raw := []byte(s)
	raw[len(raw)-3] ^= 1
	if _, err := a.Open(string(raw), "red"); !errors.Is(err, ErrBadReference) {
		t.Errorf("a tampered reference opened: %v", err)
	}
	if got, _ := a.Open("plain", "red"); got != "plain" {
		t.Errorf("Open(plain) = %q", got)
	}
}

// TestReferencesAreBoundToTheirTeam: a reference red sealed neither opens
// for blue's job nor is accepted in blue's submission, and the same secret
// sealed by two teams gives two references.
func TestReferencesAreBoundToTheirTeam(t *testing.T) {
	t.Parallel()
	a := box(t, 1)
	const key = "sk-live-0123456789abcdef"
	red, _ := a.Seal(key, "red")
	blue, _ := a.Seal(key, "blue")
	if red == blue {
		t.Error("two teams' references of one secret are equal")
	}
	if got, err := a.Open(red, "blue"); !errors.Is(err, ErrBadReference) || got != "" {
		t.Errorf("red's reference opened for blue: %q, %v", got, err)
	}
	if _, err := a.Seal(red, "blue"); !errors.Is(err, ErrBadReference) || !strings.Contains(err.Error(), "another team") {
		t.Errorf("blue submitted red's reference: %v", err)
	}
	// The first format (no team): opens for the job holding it, refused at submission.
	ns := a.aead.NonceSize()
	nonce := make([]byte, ns)
	v1 := "whet-secret:v1:" + base64.RawURLEncoding.EncodeToString(a.aead.Seal(append([]byte(nil), nonce...), nonce, []byte(key), []byte("whet-secret:v1:")))
	if got, err := a.Open(v1, "red"); err != nil || got != key {
		t.Errorf("a v1 reference: %q, %v", got, err)
	}
	if _, err := a.Seal(v1, "red"); !errors.Is(err, ErrBadReference) || !strings.Contains(err.Error(), "send the secret itself") {
		t.Errorf("a v1 reference submitted: %v", err)
	}
}

func TestLoadKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(i)
	}
	for name, content := range map[string][]byte{
		"raw": k, "hex": []byte(hex.EncodeToString(k) + "\n"), "b64": []byte(base64.StdEncoding.EncodeToString(k)),
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, content, 0o600)
		got, err := LoadKey(p, false)
		if err != nil || string(got) != string(k) {
			t.Errorf("%s: %x, %v", name, got, err)
		}
	}
	os.WriteFile(filepath.Join(dir, "short"), []byte("abc"), 0o600)
	if _, err := LoadKey(filepath.Join(dir, "short"), false); err == nil {
		t.Error("a 3-byte key was accepted")
	}
	if _, err := LoadKey(filepath.Join(dir, "missing"), false); err == nil {
		t.Error("a missing key file was accepted")
	}
	p := filepath.Join(dir, "new", "secret.key")
	k1, err := LoadKey(p, true)
	if err != nil || len(k1) != 32 {
		t.Fatalf("create: %v", err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	if k2, _ := LoadKey(p, true); string(k2) != string(k1) {
		t.Error("the created key was not kept")
	}
}

type rec struct{ logs []string }

func (r *rec) Log(_ slog.Level, msg string, attrs ...slog.Attr) {
	r.logs = append(r.logs, msg)
	for _, a := range attrs {
		r.logs = append(r.logs, a.Value.String())
	}
}
func (r *rec) Progress(_ float64, _ time.Duration, m string) { r.logs = append(r.logs, m) }
func (r *rec) Metrics(int, map[string]float64)               {}

func TestParams(t *testing.T) {
	t.Parallel()
	decls := []agent.Param{
		{Name: "judge_url", Type: agent.String, Kind: "url"},
		{Name: "judge_key", Type: agent.String, Kind: "secret"},
		{Name: "auth", Type: agent.Object, Fields: []agent.Param{{Name: "token", Type: agent.String, Kind: "secret"}}},
	}
	p := map[string]any{"judge_url": "https://j.example.com", "judge_key": "sk-abcdef", "auth": map[string]any{"token": "tok-12345"}}
	b := box(t, 3)
	sealed, err := b.SealParams(decls, p, "red")
	if err != nil {
		t.Fatal(err)
	}
	if !IsSealed(sealed["judge_key"].(string)) || !IsSealed(sealed["auth"].(map[string]any)["token"].(string)) || sealed["judge_url"] != p["judge_url"] {
		t.Fatalf("sealed %v", sealed)
	}
	if p["judge_key"] != "sk-abcdef" {
		t.Error("SealParams changed its input")
	}
	opened, err := b.OpenParams(decls, sealed, "red")
	if err != nil || opened["judge_key"] != "sk-abcdef" || opened["auth"].(map[string]any)["token"] != "tok-12345" {
		t.Fatalf("opened %v, %v", opened, err)
	}
	if _, err := b.OpenParams(decls, sealed, "blue"); !errors.Is(err, ErrBadReference) || !strings.Contains(err.Error(), "params.judge_key") {
		t.Errorf("red's params opened for blue: %v", err)
	}
	if r := RedactParams(decls, p); r["judge_key"] != Redacted {
		t.Errorf("redacted %v", r)
	}
	red := NewRedactor(Values(decls, opened))
	var e rec
	em := red.Emitter(&e)
	em.Log(slog.LevelError, "judge said: bad key sk-abcdef", slog.String("header", "Bearer tok-12345"), slog.Int("n", 3))
	em.Progress(0.5, 0, "using sk-abcdef")
	for _, l := range e.logs {
		if strings.Contains(l, "sk-abcdef") || strings.Contains(l, "tok-12345") {
			t.Errorf("emitted %q", l)
		}
	}
	err = red.Error(agent.Permanent(errors.New("401 for key sk-abcdef")))
	if strings.Contains(err.Error(), "sk-abcdef") || !agent.IsPermanent(err) {
		t.Errorf("error %v (permanent %v)", err, agent.IsPermanent(err))
	}
}
