package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/whetstone/whetstone/internal/store"
)

// KeyPrefix starts every API key, so leaked keys are recognisable.
const KeyPrefix = "whet_"

// HashKey returns the stored form of an API key: hex SHA-256. Keys carry
// 256 random bits, so a fast hash is safe (no password stretching needed).
func HashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// NewKeyParams describes a key to create.
type NewKeyParams struct {
	Team string
	Role store.Role
	Name string
	// TTL, when > 0, sets the key's expiry.
	TTL time.Duration
}

// Created is a new key, as `whet keys create` and POST /api/v1/keys print
// it: the key itself is shown only this once.
type Created struct {
	ID        string     `json:"id"`
	Key       string     `json:"key"`
	Team      string     `json:"team"`
	Role      store.Role `json:"role"`
	Name      string     `json:"name,omitempty"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// ValidTeam checks a team name: 1..64 of [a-z0-9._-], starting with a
// letter or digit.
func ValidTeam(team string) error {
	if team == "" || len(team) > 64 {
		return fmt.Errorf("team %q: want 1 to 64 characters", team)
	}
	for i := 0; i < len(team); i++ {
		c := team[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '.' || c == '_' || c == '-')) {
			return fmt.Errorf("team %q: use lowercase letters, digits, '.', '_' and '-'", team)
		}
	}
	return nil
}

// ErrInvalid marks bad input to CreateKey.
var ErrInvalid = errors.New("invalid")

// CreateKey makes a random key, stores its hash and returns it.
func CreateKey(ctx context.Context, st store.Keys, p NewKeyParams) (*Created, error) {
	if err := ValidTeam(p.Team); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if !p.Role.Valid() {
		return nil, fmt.Errorf("%w: role %q: want admin, member or viewer", ErrInvalid, p.Role)
	}
	if p.TTL < 0 {
		return nil, fmt.Errorf("%w: expires %s: want a positive duration", ErrInvalid, p.TTL)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	key := KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	now := time.Now().UTC()
	k := &store.Key{ID: store.NewID("key"), Name: p.Name, Team: p.Team, Role: p.Role, Hash: HashKey(key), CreatedAt: now}
	if p.TTL > 0 {
		exp := now.Add(p.TTL)
		k.ExpiresAt = &exp
	}
	if err := st.CreateKey(ctx, k); err != nil {
		return nil, err
	}
	return &Created{ID: k.ID, Key: key, Team: k.Team, Role: k.Role, Name: k.Name, ExpiresAt: k.ExpiresAt}, nil
}

// looksLikeKey reports whether token is shaped like one of our keys.
func looksLikeKey(token string) bool {
	return strings.HasPrefix(token, KeyPrefix) && len(token) <= 128
}
