package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/whetstone/whetstone/internal/auth"
	"github.com/whetstone/whetstone/internal/store"
)

// errForbidden is a role that may not do this (never used for another
// team's resource, which is 404).
var errForbidden = errors.New("forbidden")

// quotaError is an upload or model refused by QuotaBytes. It wraps
// errTooLarge (413).
type quotaError struct {
	Team              string
	Used, More, Quota int64
}

func (e *quotaError) Error() string {
	return fmt.Sprintf("%v: team %s stores %d bytes; %d more is over its quota of %d bytes (--quota-bytes)", errTooLarge, e.Team, e.Used, e.More, e.Quota)
}

func (e *quotaError) Unwrap() error { return errTooLarge }

// checkQuota refuses storing n more bytes for team past QuotaBytes with a
// *quotaError.
func (s *Server) checkQuota(ctx context.Context, team string, n int64) error {
	if s.QuotaBytes <= 0 {
		return nil
	}
	used, err := s.Store.ForTeam(team).StoredBytes(ctx)
	if err != nil {
		return err
	}
	if used+n > s.QuotaBytes {
		return &quotaError{Team: team, Used: used, More: n, Quota: s.QuotaBytes}
	}
	return nil
}

type whoamiOutput struct{ Body auth.Identity }

type createKeyInput struct {
	Body struct {
		Team    string     `json:"team" doc:"the key's team (admins only may name another team than their own)"`
		Role    store.Role `json:"role" enum:"admin,member,viewer"`
		Name    string     `json:"name,omitempty" maxLength:"100"`
		Expires string     `json:"expires,omitempty" doc:"a Go duration, e.g. 720h; none: never expires"`
	}
}

type createKeyOutput struct {
	Status int `json:"-"`
	Body   *auth.Created
}

type listKeysOutput struct {
	Body struct {
		Keys []*store.Key `json:"keys"`
		page
	}
}

type keyIDInput struct {
	ID string `path:"id" maxLength:"100"`
}

type revokeOutput struct {
	Body struct {
		ID      string `json:"id"`
		Revoked bool   `json:"revoked"`
	}
}

type listAuditOutput struct {
	Body struct {
		Entries []store.AuditEntry `json:"entries"`
		page
	}
}

// caller returns the request's identity; with no auth middleware, an admin
// of the default team.
func caller(ctx context.Context) auth.Identity {
	if id, ok := auth.FromContext(ctx); ok {
		return id
	}
	return auth.Identity{Team: store.DefaultTeam, Role: store.RoleAdmin, Method: "none"}
}

func (s *Server) registerAccess(api huma.API) {
	tags := []string{"access"}
	huma.Register(api, huma.Operation{OperationID: "whoami", Method: http.MethodGet, Path: prefix + "/whoami", Tags: tags,
		Summary: "The caller's team and role", Description: "How the web UI learns what to show; method is none when auth is off."},
		func(ctx context.Context, _ *struct{}) (*whoamiOutput, error) {
			return &whoamiOutput{Body: caller(ctx)}, nil
		})
	huma.Register(api, huma.Operation{OperationID: "create-key", Method: http.MethodPost, Path: prefix + "/keys", Tags: tags,
		Summary: "Create an API key (admins)", Description: "The key is in the answer only this once; only its hash is stored.", DefaultStatus: http.StatusCreated},
		func(ctx context.Context, in *createKeyInput) (*createKeyOutput, error) {
			if !caller(ctx).Admin() {
				return nil, s.problem(ctx, fmt.Errorf("%w: only admins manage keys", errForbidden))
			}
			var ttl time.Duration
			if in.Body.Expires != "" {
				d, err := time.ParseDuration(in.Body.Expires)
				if err != nil || d <= 0 {
					return nil, s.problem(ctx, badRequest("expires %q: want a positive Go duration such as 720h", in.Body.Expires))
				}
				ttl = d
			}
			c, err := auth.CreateKey(ctx, s.Store, auth.NewKeyParams{Team: in.Body.Team, Role: in.Body.Role, Name: in.Body.Name, TTL: ttl})
			if errors.Is(err, auth.ErrInvalid) {
				return nil, s.problem(ctx, badRequest("%v", err))
			}
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			return &createKeyOutput{Status: http.StatusCreated, Body: c}, nil
		})
	huma.Register(api, huma.Operation{OperationID: "list-keys", Method: http.MethodGet, Path: prefix + "/keys", Tags: tags,
		Summary: "List API keys (admins)", Description: "Hashes are never returned."},
		func(ctx context.Context, in *listInput) (*listKeysOutput, error) {
			if !caller(ctx).Admin() {
				return nil, s.problem(ctx, fmt.Errorf("%w: only admins manage keys", errForbidden))
			}
			l, total, err := s.Store.ListKeys(ctx, "", store.ListParams{Limit: in.Limit, Offset: in.Offset})
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			out := &listKeysOutput{}
			out.Body.Keys, out.Body.page = l, page{total, in.Limit, in.Offset}
			return out, nil
		})
	huma.Register(api, huma.Operation{OperationID: "revoke-key", Method: http.MethodDelete, Path: prefix + "/keys/{id}", Tags: tags,
		Summary: "Revoke an API key (admins)"},
		func(ctx context.Context, in *keyIDInput) (*revokeOutput, error) {
			if !caller(ctx).Admin() {
				return nil, s.problem(ctx, fmt.Errorf("%w: only admins manage keys", errForbidden))
			}
			if err := s.Store.RevokeKey(ctx, "", in.ID, time.Now().UTC()); err != nil {
				return nil, s.problem(ctx, err)
			}
			out := &revokeOutput{}
			out.Body.ID, out.Body.Revoked = in.ID, true
			return out, nil
		})
	huma.Register(api, huma.Operation{OperationID: "list-audit", Method: http.MethodGet, Path: prefix + "/audit", Tags: tags,
		Summary: "The audit log, newest first", Description: "Every write and every failed authentication. Admins see every team's entries, members their team's; viewers may not read it."},
		func(ctx context.Context, in *listInput) (*listAuditOutput, error) {
			id := caller(ctx)
			team := ""
			switch {
			case id.Admin():
			case id.Role == store.RoleMember:
				team = id.Team
			default:
				return nil, s.problem(ctx, fmt.Errorf("%w: viewers may not read the audit log", errForbidden))
			}
			l, total, err := s.Store.ListAudit(ctx, team, store.ListParams{Limit: in.Limit, Offset: in.Offset})
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			out := &listAuditOutput{}
			out.Body.Entries, out.Body.page = l, page{total, in.Limit, in.Offset}
			return out, nil
		})
}
