package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func claims(mod func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "alice", "team": "red", "role": "member", "iss": "https://idp", "aud": "whet",
		"exp": time.Now().Add(time.Hour).Unix(), "nbf": time.Now().Add(-time.Minute).Unix()}
	if mod != nil {
		mod(c)
	}
	return c
}

func sign(t *testing.T, m jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// jwksServer serves a JWKS whose keys the test can rotate.
type jwksServer struct {
	mu   sync.Mutex
	keys []map[string]string
	hits int
}

func (j *jwksServer) set(keys ...map[string]string) { j.mu.Lock(); j.keys = keys; j.mu.Unlock() }

func (j *jwksServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.hits++
	json.NewEncoder(w).Encode(map[string]any{"keys": j.keys})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, k *rsa.PrivateKey) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(kid string, k *ecdsa.PrivateKey) map[string]string {
	return map[string]string{"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(k.X.FillBytes(make([]byte, 32))), "y": b64(k.Y.FillBytes(make([]byte, 32)))}
}

func TestJWTSharedSecret(t *testing.T) {
	v := newJWTVerifier(JWTConfig{Secret: secret, Issuer: "https://idp", Audience: "whet"})
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ctx := context.Background()
	good := sign(t, jwt.SigningMethodHS256, secret, "", claims(nil))
	id, err := v.verify(ctx, good)
	if err != nil || id.Team != "red" || id.Role != "member" || id.Actor != "jwt:alice" {
		t.Fatalf("good token = %+v, %v", id, err)
	}
	noneTok := func(c jwt.MapClaims) string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
		return s
	}
	for name, tok := range map[string]string{
		"expired":       sign(t, jwt.SigningMethodHS256, secret, "", claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })),
		"no exp":        sign(t, jwt.SigningMethodHS256, secret, "", claims(func(c jwt.MapClaims) { delete(c, "exp") })),
		"not yet valid": sign(t, jwt.SigningMethodHS256, secret, "", claims(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() })),
		"wrong issuer":  sign(t, jwt.SigningMethodHS256, secret, "", claims(func(c jwt.MapClaims) { c["iss"] = "https://evil" })),
		"wrong aud":     sign(t, jwt.SigningMethodHS256, secret, "", claims(func(c jwt.MapClaims) { c["aud"] = "other" })),
		"wrong key":     sign(t, jwt.SigningMethodHS256, []byte("another secret, 32 bytes long..."), "", claims(nil)),
		"alg none":      noneTok(claims(nil)),
		"RS256 on HS":   sign(t, jwt.SigningMethodRS256, rsaKey, "", claims(nil)),
		"HS512":         sign(t, jwt.SigningMethodHS512, secret, "", claims(nil)),
		"bad role":      sign(t, jwt.SigningMethodHS256, secret, "", claims(func(c jwt.MapClaims) { c["role"] = "root" })),
		"no team":       sign(t, jwt.SigningMethodHS256, secret, "", claims(func(c jwt.MapClaims) { delete(c, "team") })),
		"tampered":      good[:strings.LastIndex(good, ".")] + ".AAAA",
	} {
		if id, err := v.verify(ctx, tok); err == nil {
			t.Errorf("%s: accepted as %+v", name, id)
		}
	}
	// Claim names are configurable.
	v2 := newJWTVerifier(JWTConfig{Secret: secret, TeamClaim: "grp", RoleClaim: "whet_role"})
	tok := sign(t, jwt.SigningMethodHS256, secret, "", claims(func(c jwt.MapClaims) { c["grp"], c["whet_role"] = "blue", "viewer" }))
	if id, err := v2.verify(ctx, tok); err != nil || id.Team != "blue" || id.Role != "viewer" {
		t.Errorf("custom claims = %+v, %v", id, err)
	}
}

func TestJWTJWKSRotationAndConfusion(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := &jwksServer{}
	srv.set(rsaJWK("k1", k1), ecJWK("e1", ec))
	ts := httptest.NewServer(srv)
	defer ts.Close()
	v := newJWTVerifier(JWTConfig{JWKSURL: ts.URL, Audience: "whet"})
	ctx := context.Background()
	if _, err := v.verify(ctx, sign(t, jwt.SigningMethodRS256, k1, "k1", claims(nil))); err != nil {
		t.Fatalf("RS256 k1: %v", err)
	}
	if _, err := v.verify(ctx, sign(t, jwt.SigningMethodES256, ec, "e1", claims(nil))); err != nil {
		t.Fatalf("ES256 e1: %v", err)
	}
	// HS/RS confusion: an HS256 token "signed" with the RSA public key.
	pubAsSecret := []byte(b64(k1.N.Bytes()))
	if _, err := v.verify(ctx, sign(t, jwt.SigningMethodHS256, pubAsSecret, "k1", claims(nil))); err == nil {
		t.Error("HS256 token accepted by a JWKS verifier")
	}
	// An RS token naming the EC key's kid.
	if _, err := v.verify(ctx, sign(t, jwt.SigningMethodRS256, k1, "e1", claims(nil))); err == nil {
		t.Error("RS256 token verified against an EC key id")
	}
	// A key not in the set.
	if _, err := v.verify(ctx, sign(t, jwt.SigningMethodRS256, k2, "k1", claims(nil))); err == nil {
		t.Error("token of a foreign key accepted")
	}
	// Rotation: the provider now publishes k2 only; a k2 token (new kid) is
	// accepted after a refetch, once the 10s refetch guard has passed.
	srv.set(rsaJWK("k2", k2))
	v.jwks.mu.Lock()
	v.jwks.fetched = time.Now().Add(-11 * time.Second)
	v.jwks.mu.Unlock()
	if _, err := v.verify(ctx, sign(t, jwt.SigningMethodRS256, k2, "k2", claims(nil))); err != nil {
		t.Fatalf("rotated key k2: %v", err)
	}
	if _, err := v.verify(ctx, sign(t, jwt.SigningMethodRS256, k1, "k1", claims(nil))); err == nil {
		t.Error("k1 still accepted after it left the JWKS")
	}
	// Unknown kids do not hammer the provider.
	hits := srv.hits
	for range 5 {
		v.verify(ctx, sign(t, jwt.SigningMethodRS256, k2, "nope", claims(nil)))
	}
	if srv.hits != hits {
		t.Errorf("unknown kids refetched the JWKS %d times within 10s", srv.hits-hits)
	}
}

func FuzzAuthorization(f *testing.F) {
	good := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
	s, _ := good.SignedString(secret)
	for _, seed := range []string{"", "Bearer ", "Bearer whet_abc", "bearer " + s, "Basic dXNlcjpwdw==", "Bearer a.b.c", "Bearer " + s + " x",
		"Bearer eyJhbGciOiJub25lIn0.eyJ0ZWFtIjoicmVkIn0.", "Bearer \x00", strings.Repeat("Bearer ", 100)} {
		f.Add(seed)
	}
	m := New(Config{Required: true, JWT: JWTConfig{Secret: secret}})
	f.Fuzz(func(t *testing.T, h string) {
		tok, err := ParseAuthorization(h)
		if err != nil {
			if tok != "" {
				t.Fatalf("error with a token %q", tok)
			}
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
			t.Fatalf("ParseAuthorization(%q) = %q", h, tok)
		}
		if looksLikeKey(tok) {
			return // needs a store; HashKey must not panic
		}
		id, err := m.Authenticate(context.Background(), tok)
		if err == nil && (id.Team == "" || !id.Role.Valid()) {
			t.Fatalf("accepted %q as %+v", tok, id)
		}
	})
}
