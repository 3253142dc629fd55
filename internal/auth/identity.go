package auth

import (
	"context"

	"github.com/whetstone/whetstone/internal/store"
)

// Identity is who a request acts as.
type Identity struct {
	// Actor is the key id ("key_...") or the JWT subject ("jwt:SUB"); "" when
	// auth is off.
	Actor string     `json:"actor"`
	Team  string     `json:"team"`
	Role  store.Role `json:"role"`
	// Method is how the caller proved it: "key", "jwt" or "none" (auth off).
	Method string `json:"method"`
}

// Admin reports whether the identity works on every team.
func (id Identity) Admin() bool { return id.Role == store.RoleAdmin }

// CanWrite reports whether the identity may change things in its team.
func (id Identity) CanWrite() bool { return id.Role == store.RoleAdmin || id.Role == store.RoleMember }

type identityKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the identity the request was authenticated as.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// TeamOf returns the team the request acts for: the identity's team, or
// store.DefaultTeam when there is none (auth off, a local `whet run`).
func TeamOf(ctx context.Context) string {
	if id, ok := FromContext(ctx); ok && id.Team != "" {
		return id.Team
	}
	return store.DefaultTeam
}

// Reader returns the store reader a request may read through: every team's
// rows for an admin or when there is no identity (auth off, internal
// callers), the caller's team's otherwise. Scoping happens in the store's
// queries.
func Reader(ctx context.Context, st store.Store) store.Reader {
	id, ok := FromContext(ctx)
	if !ok || id.Admin() || id.Method == "none" {
		return st
	}
	return st.ForTeam(id.Team)
}
