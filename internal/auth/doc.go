// Package auth is the HTTP edge's identity and access layer: API keys
// (whet_ prefix, stored as SHA-256 hashes), JWT bearer tokens (HS256 shared
// secret, or RS256/ES256 keys from a JWKS URL), teams and roles, per-key
// rate limits and the audit log.
//
// # Identity
//
// Middleware authenticates each request and stores an Identity in its
// context (WithIdentity); handlers read it with FromContext, TeamOf, or
// Reader, which returns the store.Reader scoped to the caller's team (admins
// and auth off read every team). Another team's resource is therefore
// store.ErrNotFound, answered 404.
package auth
