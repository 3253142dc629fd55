// Package secret seals params marked secret (agent.Param.Kind "secret", such
// as an LLM judge's API key) so that no plaintext is stored, logged or
// returned by the API.
//
// At submission the server replaces each secret value with a sealed
// reference, "whet-secret:v2:" and the base64url of a nonce and the AES-256-GCM
// ciphertext. The job's spec, its nodes' params, GET /jobs and the events
// hold only that reference; the orchestrator opens it just before the agent
// runs. Resubmitting a reference (re-running a job) works: it is opened to
// check it and kept as it is.
//
// A reference is bound to the team that sealed it (the team is the GCM
// additional data): one team's reference does not open for another team's
// job, so a reference seen in a shared log cannot spend that team's key.
// References of the first format ("whet-secret:v1:", not bound to a team)
// still open for the jobs that hold them, but are refused at submission.
//
// Sealing is deterministic (the nonce is an HMAC of team and plaintext under
// a key derived from the sealing key, as in AES-SIV) so that equal secrets of
// a team give equal references and node caching keeps working; a reference
// reveals only whether two secrets of one team are equal.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Prefix starts every sealed reference.
const Prefix = "whet-secret:v2:"

// prefixV1 starts references sealed before they were bound to a team.
const prefixV1 = "whet-secret:v1:"

// Redacted replaces a secret's plaintext in logs, events and error messages.
const Redacted = "[redacted]"

// ErrBadReference is returned by Open for a reference that is malformed or
// was sealed under another key.
var ErrBadReference = errors.New("bad secret reference")

// Box seals and opens secrets under one 32-byte key.
type Box struct {
	aead  cipher.AEAD
	nonce []byte // HMAC key for the deterministic nonce
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secret key: %d bytes, want 32", len(key))
	}
	enc := derive(key, "whetstone secret encryption")
	b, err := aes.NewCipher(enc)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead, nonce: derive(key, "whetstone secret nonce")}, nil
}

func derive(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// LoadKey reads a key file: 32 raw bytes, or 64 hex digits, or the base64 of
// 32 bytes (surrounding white space ignored). When path does not exist and
// create is true, a random key is written there (mode 0600) and returned.
func LoadKey(path string, create bool) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("secret key file: %w", err)
		}
		if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("secret key file: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	if len(b) == 32 {
		return b, nil
	}
	s := strings.TrimSpace(string(b))
	if k, err := hex.DecodeString(s); err == nil && len(k) == 32 {
		return k, nil
	}
	if k, err := base64.StdEncoding.DecodeString(s); err == nil && len(k) == 32 {
		return k, nil
	}
	return nil, fmt.Errorf("secret key file %s: want 32 bytes, 64 hex digits or base64 of 32 bytes", path)
}

// IsSealed reports whether s is a sealed reference.
func IsSealed(s string) bool { return strings.HasPrefix(s, Prefix) || strings.HasPrefix(s, prefixV1) }

// additional is the GCM additional data of team's references.
func additional(team string) []byte { return []byte(Prefix + team) }

// Seal returns team's sealed reference of plain. A reference is returned as
// it is, after checking that it opens for team; a reference of another team
// or key, or of the first format, is refused with ErrBadReference.
func (b *Box) Seal(plain, team string) (string, error) {
	if strings.HasPrefix(plain, prefixV1) {
		return "", fmt.Errorf("%w: it was sealed by an older whet, before references were bound to a team; send the secret itself", ErrBadReference)
	}
	if IsSealed(plain) {
		if _, err := b.Open(plain, team); err != nil {
			return "", err
		}
		return plain, nil
	}
	m := hmac.New(sha256.New, b.nonce)
	m.Write([]byte(team))
	m.Write([]byte{0})
	m.Write([]byte(plain))
	nonce := m.Sum(nil)[:b.aead.NonceSize()]
	out := b.aead.Seal(append([]byte(nil), nonce...), nonce, []byte(plain), additional(team))
	return Prefix + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open returns the plaintext of a reference team sealed. A string that is
// not a reference is returned as it is (a param given in the clear to `whet
// run`). Returns ErrBadReference for a malformed reference, or one sealed
// for another team or under another key.
func (b *Box) Open(s, team string) (string, error) {
	if !IsSealed(s) {
		return s, nil
	}
	ad := additional(team)
	rest, ok := strings.CutPrefix(s, Prefix)
	if !ok {
		rest, ad = s[len(prefixV1):], []byte(prefixV1) // a job stored before team binding
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	ns := b.aead.NonceSize()
	if err != nil || len(raw) < ns+b.aead.Overhead() {
		return "", ErrBadReference
	}
	plain, err := b.aead.Open(nil, raw[:ns], raw[ns:], ad)
	if err != nil {
		return "", fmt.Errorf("%w: it was sealed for another team, or under another key (--secret-key-file)", ErrBadReference)
	}
	return string(plain), nil
}
