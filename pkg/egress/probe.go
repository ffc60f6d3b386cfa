package egress

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Prober asks a server whether it is a registry, the way a registry
// client starts (distribution spec, "API Version Check"): GET /v2/. A
// registry answers with the Docker-Distribution-API-Version header, or
// with 401 and a Bearer challenge that names a realm and a service
// (token authentication). Both schemes are tried, the client's first, so
// a TLS client of a plain-HTTP registry is refused with the policy named
// instead of failing on the protocol.
type Prober struct {
	// Dial opens the filter's own connections, which must not come back
	// to it (the rules pass connections that carry Mark).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Timeout bounds each request (default 5 s).
	Timeout time.Duration
}

// IsRegistry reports whether t is a registry.
func (p Prober) IsRegistry(ctx context.Context, t Target) bool {
	schemes := []string{"http", "https"}
	if t.TLS {
		schemes = []string{"https", "http"}
	}
	for _, s := range schemes {
		if p.ask(ctx, t, s) {
			return true
		}
	}
	return false
}

func (p Prober) ask(ctx context.Context, t Target, scheme string) bool {
	timeout := p.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tr := &http.Transport{
		// Only whether it is a registry matters, not whose.
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		DisableKeepAlives: true,
		ForceAttemptHTTP2: false,
	}
	dial := p.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	if t.Via {
		tr.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: t.Addr.String()})
		tr.DialContext = dial
	} else {
		// Always the address the client connected to, whatever the
		// name resolves to here.
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dial(ctx, network, t.Addr.String())
		}
	}
	defer tr.CloseIdleConnections()
	u := url.URL{Scheme: scheme, Host: joinHostPort(t.Name, t.Port), Path: "/v2/"}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false
	}
	resp, err := (&http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	return IsRegistryAnswer(resp.StatusCode, resp.Header)
}

// IsRegistryAnswer reports whether a GET /v2/ answer is a registry's.
func IsRegistryAnswer(status int, h http.Header) bool {
	if h.Get("Docker-Distribution-Api-Version") != "" {
		return true
	}
	if status != http.StatusUnauthorized {
		return false
	}
	for _, c := range h.Values("Www-Authenticate") {
		c = strings.ToLower(c)
		if strings.HasPrefix(c, "bearer ") && strings.Contains(c, "realm=") && strings.Contains(c, "service=") {
			return true
		}
	}
	return false
}
