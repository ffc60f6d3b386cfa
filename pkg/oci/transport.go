package oci

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

// Network bounds: connecting (TCP and TLS), and waiting for a response's
// headers or its body's next bytes. A registry that accepts and never
// answers fails after them, named.
var (
	ConnectTimeout = 30 * time.Second
	IdleTimeout    = 60 * time.Second
)

// ErrPlainHTTP is matched by the errors of a refused plain-HTTP request.
var ErrPlainHTTP = errors.New("plain HTTP refused")

// nameOptions are the reference parsing options: with PlainHTTP,
// go-containerregistry may speak plain HTTP to any registry.
func (o *Options) nameOptions() []name.Option {
	if o.PlainHTTP {
		return []name.Option{name.Insecure}
	}
	return nil
}

// transport is the HTTP transport of every registry request: bounded
// waits, the extra CA, and no plain HTTP but to loopback unless
// PlainHTTP (go-containerregistry itself falls back to plain HTTP for
// private address ranges, which would carry credentials across a LAN in
// clear).
func (o *Options) transport() (http.RoundTripper, error) {
	next := o.Transport
	if next == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = (&net.Dialer{Timeout: ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext
		tr.TLSHandshakeTimeout = ConnectTimeout
		tr.ResponseHeaderTimeout = IdleTimeout
		if o.CACert != "" {
			pool, err := certPool(o.CACert)
			if err != nil {
				return nil, err
			}
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		next = tr
	}
	return &guard{next: next, plain: o.PlainHTTP}, nil
}

// certPool is the system's roots plus the PEM certificates in path.
func certPool(path string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--ca-cert: %w", err)
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("--ca-cert: %s holds no PEM certificate", path)
	}
	return pool, nil
}

// plainHTTPErr is the guard's refusal, found again (errors.As) under
// go-containerregistry's and net/http's wrapping.
type plainHTTPErr struct{ error }

func (e plainHTTPErr) Unwrap() error { return e.error }

type guard struct {
	next  http.RoundTripper
	plain bool
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.plain && !loopback(req.URL.Hostname()) {
		return nil, plainHTTPErr{fmt.Errorf("%w to %s (not a loopback address): pass --plain-http if this registry has no TLS, or --ca-cert FILE if its certificate is from a private CA", ErrPlainHTTP, req.URL.Host)}
	}
	resp, err := g.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = newIdleBody(resp.Body, req.URL.Host)
	return resp, nil
}

// loopback reports whether host is localhost or a loopback address.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// idleBody fails a read that waits more than IdleTimeout for data (a
// server that stops sending mid-blob), naming the host.
type idleBody struct {
	rc      io.ReadCloser
	host    string
	d       time.Duration
	t       *time.Timer
	expired atomic.Bool
}

func newIdleBody(rc io.ReadCloser, host string) *idleBody {
	b := &idleBody{rc: rc, host: host, d: IdleTimeout}
	b.t = time.AfterFunc(time.Hour, func() {
		b.expired.Store(true)
		rc.Close()
	})
	b.t.Stop()
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.t.Reset(b.d)
	n, err := b.rc.Read(p)
	b.t.Stop()
	if err != nil && b.expired.Load() {
		return n, fmt.Errorf("%s sent nothing for %v: %w", b.host, b.d, context.DeadlineExceeded)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.t.Stop()
	return b.rc.Close()
}
