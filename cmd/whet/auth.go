package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/whetstone/whetstone/internal/api"
	"github.com/whetstone/whetstone/internal/auth"
	"github.com/whetstone/whetstone/internal/config"
	"github.com/whetstone/whetstone/internal/store"
)

// configureAuth sets srv's authentication, rate limits, quotas, TLS and
// CORS from cfg.
func configureAuth(ctx context.Context, srv *api.Server, cfg config.Config, st store.Store, log *slog.Logger) error {
	required, err := cfg.AuthRequired(cfg.Addr)
	if err != nil {
		return err
	}
	if !required && cfg.Auth == "off" && cfg.InsecureNoAuth {
		log.Warn("auth is off on a network address: anyone who can reach it can run jobs and read every file it may", slog.String("addr", cfg.Addr))
	}
	rps, err := config.ParseRate(cfg.RateLimit)
	if err != nil {
		return err
	}
	jc := auth.JWTConfig{JWKSURL: cfg.JWKSURL, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, TeamClaim: cfg.JWTTeamClaim, RoleClaim: cfg.JWTRoleClaim}
	if cfg.JWTSecretFile != "" {
		b, err := os.ReadFile(cfg.JWTSecretFile)
		if err != nil {
			return fmt.Errorf("jwt-secret-file: %w", err)
		}
		jc.Secret = []byte(strings.TrimSpace(string(b)))
		if len(jc.Secret) < 32 {
			return fmt.Errorf("jwt-secret-file %s: the secret has %d bytes; use at least 32", cfg.JWTSecretFile, len(jc.Secret))
		}
	}
	srv.Auth = auth.New(auth.Config{Required: required, Store: st, JWT: jc, RateLimit: rps, RateBurst: cfg.RateBurst, Logger: log})
	srv.TLS = cfg.TLSCert != ""
	srv.CORSOrigins = cfg.CORSOrigins
	srv.QuotaBytes = cfg.QuotaBytes
	if required {
		if _, n, err := st.ListKeys(ctx, "", store.ListParams{Limit: 1}); err == nil && n == 0 && cfg.JWTSecretFile == "" && cfg.JWKSURL == "" {
			log.Warn("auth is required and there are no API keys yet: create one with `whet keys create --team NAME --role admin`")
		}
	}
	return nil
}
