package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/whetstone/whetstone/internal/store"
)

// JWTConfig verifies bearer JWTs. Set Secret (HS256) or JWKSURL (RS256,
// ES256), not both.
type JWTConfig struct {
	Secret  []byte
	JWKSURL string
	// Issuer and Audience, when set, must match iss and aud.
	Issuer, Audience string
	// TeamClaim and RoleClaim name the claims holding the team and role.
	// Default "team" and "role".
	TeamClaim, RoleClaim string
	// JWKSRefresh is how long fetched keys are trusted before refetching.
	// Defaults to 10 minutes; an unknown kid refetches at most every 10s.
	JWKSRefresh time.Duration
	// Client fetches the JWKS. Defaults to a client with a 10s timeout.
	Client *http.Client
}

// jwtVerifier checks tokens against a JWTConfig.
type jwtVerifier struct {
	cfg    JWTConfig
	parser *jwt.Parser
	jwks   *jwks
}

func newJWTVerifier(cfg JWTConfig) *jwtVerifier {
	if cfg.TeamClaim == "" {
		cfg.TeamClaim = "team"
	}
	if cfg.RoleClaim == "" {
		cfg.RoleClaim = "role"
	}
	// One family only: an HS256 server never accepts RS/ES tokens and a JWKS
	// server never accepts HS256 (no algorithm confusion); "none" never.
	algs := []string{"HS256"}
	if cfg.JWKSURL != "" {
		algs = []string{"RS256", "ES256"}
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(algs), jwt.WithExpirationRequired(), jwt.WithLeeway(30 * time.Second)}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v := &jwtVerifier{cfg: cfg, parser: jwt.NewParser(opts...)}
	if cfg.JWKSURL != "" {
		v.jwks = &jwks{url: cfg.JWKSURL, refresh: cfg.JWKSRefresh, client: cfg.Client}
		if v.jwks.refresh <= 0 {
			v.jwks.refresh = 10 * time.Minute
		}
		if v.jwks.client == nil {
			v.jwks.client = &http.Client{Timeout: 10 * time.Second}
		}
	}
	return v
}

func (v *jwtVerifier) enabled() bool { return v != nil && (len(v.cfg.Secret) > 0 || v.jwks != nil) }

// verify checks token and returns the identity its claims name.
func (v *jwtVerifier) verify(ctx context.Context, token string) (Identity, error) {
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if v.jwks != nil {
			kid, _ := t.Header["kid"].(string)
			return v.jwks.key(ctx, kid, t.Method.Alg())
		}
		return v.cfg.Secret, nil
	})
	if err != nil {
		return Identity{}, fmt.Errorf("jwt: %w", err)
	}
	team, _ := claims[v.cfg.TeamClaim].(string)
	role, _ := claims[v.cfg.RoleClaim].(string)
	sub, _ := claims["sub"].(string)
	if err := ValidTeam(team); err != nil {
		return Identity{}, fmt.Errorf("jwt claim %q: %w", v.cfg.TeamClaim, err)
	}
	if !store.Role(role).Valid() {
		return Identity{}, fmt.Errorf("jwt claim %q: role %q: want admin, member or viewer", v.cfg.RoleClaim, role)
	}
	return Identity{Actor: "jwt:" + sub, Team: team, Role: store.Role(role), Method: "jwt"}, nil
}

// jwks fetches and caches a JSON Web Key Set; an unknown kid (a rotated
// key) triggers a refetch, at most every 10 seconds.
type jwks struct {
	url     string
	refresh time.Duration
	client  *http.Client

	mu      sync.Mutex
	keys    map[string]any
	fetched time.Time
}

func (j *jwks) key(ctx context.Context, kid, alg string) (any, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	stale := time.Since(j.fetched) > j.refresh
	k, ok := j.keys[kid]
	if !ok && time.Since(j.fetched) > 10*time.Second || stale {
		if err := j.fetch(ctx); err != nil && j.keys == nil {
			return nil, err
		}
		k, ok = j.keys[kid]
	}
	if !ok {
		return nil, fmt.Errorf("jwks: no key %q", kid)
	}
	switch k.(type) {
	case *rsa.PublicKey:
		if alg != "RS256" {
			return nil, fmt.Errorf("jwks: key %q is RSA, token says %s", kid, alg)
		}
	case *ecdsa.PublicKey:
		if alg != "ES256" {
			return nil, fmt.Errorf("jwks: key %q is EC, token says %s", kid, alg)
		}
	}
	return k, nil
}

type jwkJSON struct {
	Kty, Kid, Use, Alg, N, E, Crv, X, Y string
}

func (j *jwks) fetch(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return fmt.Errorf("jwks %s: %w", j.url, err)
	}
	resp, err := j.client.Do(req)
	if err != nil {
		return fmt.Errorf("jwks %s: %w", j.url, err)
	}
	defer resp.Body.Close()
	j.fetched = time.Now()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("jwks %s: status %d", j.url, resp.StatusCode)
	}
	var doc struct{ Keys []jwkJSON }
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&doc); err != nil {
		return fmt.Errorf("jwks %s: %w", j.url, err)
	}
	keys := map[string]any{}
	for _, k := range doc.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		pk, err := parseJWK(k)
		if err != nil {
			continue // skip keys we cannot use; others still work
		}
		keys[k.Kid] = pk
	}
	j.keys = keys
	return nil
}

func b64int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	return new(big.Int).SetBytes(b), nil
}

func parseJWK(k jwkJSON) (any, error) {
	switch k.Kty {
	case "RSA":
		n, err := b64int(k.N)
		if err != nil {
			return nil, err
		}
		e, err := b64int(k.E)
		if err != nil || !e.IsInt64() || e.Int64() < 3 || n.BitLen() < 2048 {
			return nil, errors.New("bad RSA key")
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	case "EC":
		if k.Crv != "P-256" {
			return nil, errors.New("unsupported curve")
		}
		x, err1 := b64int(k.X)
		y, err2 := b64int(k.Y)
		if err1 != nil || err2 != nil {
			return nil, errors.New("bad EC key")
		}
		pk := &ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}
		if !pk.Curve.IsOnCurve(x, y) {
			return nil, errors.New("EC point not on curve")
		}
		return pk, nil
	}
	return nil, fmt.Errorf("unsupported kty %q", k.Kty)
}
