// Package outbound decides which addresses a job may send requests to (an LLM
// judge's judge_url): the server-side request forgery guard. A Policy checks
// URLs at pipeline validation and again on every connection its Client
// dials, after DNS resolution, so a name that resolves to a loopback or
// private address (or changes to one) is refused too.
//
// By default any public address is allowed and loopback, private,
// link-local, multicast and unspecified addresses are refused. Allowed
// entries (--allow-url) name a host, a host:port or a CIDR range; when any
// entry is given, only what the entries allow is reachable.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrRefused is wrapped by every refusal.
var ErrRefused = errors.New("outbound address not allowed")

// Policy restricts outbound requests. A nil *Policy allows everything
// (`whet run`).
type Policy struct {
	hosts    map[string]bool // lower-case host or host:port
	prefixes []netip.Prefix
	strict   bool // entries given: only they are allowed
}

// New returns a policy allowing the entries (host, host:port or CIDR).
func New(allow []string) (*Policy, error) {
	p := &Policy{hosts: map[string]bool{}}
	for _, e := range allow {
		e = strings.ToLower(strings.TrimSpace(e))
		if e == "" {
			continue
		}
		p.strict = true
		if pre, err := netip.ParsePrefix(e); err == nil {
			p.prefixes = append(p.prefixes, pre.Masked())
			continue
		}
		if strings.Contains(e, "/") {
			return nil, fmt.Errorf("--allow-url %q: want a host, host:port or CIDR range", e)
		}
		p.hosts[e] = true
	}
	return p, nil
}

// Check refuses a URL that is not http(s) or whose host is not allowed.
// Host names are resolved again when the Client dials.
func (p *Policy) Check(raw string) error {
	if p == nil {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: %q: want an http:// or https:// URL", ErrRefused, raw)
	}
	if u.User != nil {
		return fmt.Errorf("%w: %q: credentials in the URL are not allowed", ErrRefused, raw)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if p.hostAllowed(host, port) {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if p.ipAllowed(ip) {
			return nil
		}
		return p.refuse(raw)
	}
	if p.strict || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return p.refuse(raw)
	}
	return nil
}

func (p *Policy) refuse(raw string) error {
	if p.strict {
		return fmt.Errorf("%w: %q is not in this server's outbound allowlist (--allow-url)", ErrRefused, raw)
	}
	return fmt.Errorf("%w: %q is a loopback, private or special address; an admin allows it with --allow-url", ErrRefused, raw)
}

func (p *Policy) hostAllowed(host, port string) bool {
	host = strings.ToLower(host)
	return p.hosts[host] || p.hosts[net.JoinHostPort(host, port)]
}

// ipAllowed reports whether a dialed address is allowed: inside a listed
// range, or public when no entries are given.
func (p *Policy) ipAllowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, pre := range p.prefixes {
		if pre.Contains(ip) {
			return true
		}
	}
	if p.strict {
		return false
	}
	return public(ip)
}

// public reports whether ip is a global unicast address outside private,
// shared (100.64/10) and documentation ranges.
func public(ip netip.Addr) bool {
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return false
	}
	for _, s := range []string{"100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "64:ff9b::/96"} {
		if netip.MustParsePrefix(s).Contains(ip) {
			return false
		}
	}
	return true
}

// Client returns an HTTP client whose connections go only to allowed
// addresses: each dialed IP is checked after resolution (a listed host name
// may resolve anywhere), and proxies from the environment are not used.
// A nil Policy returns a plain client.
func (p *Policy) Client(timeout time.Duration) *http.Client {
	if p == nil {
		return &http.Client{Timeout: timeout}
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		Proxy:               nil,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConns:        4,
		IdleConnTimeout:     30 * time.Second,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			named := p.hostAllowed(host, port)
			dd := *d
			dd.Control = func(_, address string, _ syscall.RawConn) error {
				ap, err := netip.ParseAddrPort(address)
				if err != nil {
					return err
				}
				if named || p.ipAllowed(ap.Addr()) {
					return nil
				}
				return fmt.Errorf("%w: %s resolves to %s", ErrRefused, host, ap.Addr())
			}
			return dd.DialContext(ctx, network, addr)
		},
	}
	return &http.Client{Timeout: timeout, Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return p.Check(req.URL.String())
		}}
}
