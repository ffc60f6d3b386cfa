package oci

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/imagetest"
	"github.com/hardenvm/hardenvm/internal/registrytest"
	"github.com/hardenvm/hardenvm/internal/testenv"
)

type recorder struct{ urls []string }

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.urls = append(r.urls, req.URL.String())
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("")), Request: req}, nil
}

// TestGuard: plain HTTP leaves only for loopback, unless allowed.
func TestGuard(t *testing.T) {
	tests := []struct {
		url   string
		plain bool
		ok    bool
	}{
		{"http://127.0.0.1:5000/v2/", false, true},
		{"http://localhost:5000/v2/", false, true},
		{"http://[::1]:5000/v2/", false, true},
		{"https://10.0.0.5:5000/v2/", false, true},
		{"http://10.0.0.5:5000/v2/", false, false},
		{"http://192.168.1.2/v2/", false, false},
		{"http://registry.local:5000/v2/", false, false},
		{"http://registry.example.com/v2/", false, false},
		{"http://10.0.0.5:5000/v2/", true, true},
	}
	for _, tt := range tests {
		rec := &recorder{}
		g := &guard{next: rec, plain: tt.plain}
		req, _ := http.NewRequest("GET", tt.url, nil)
		resp, err := g.RoundTrip(req)
		if tt.ok {
			if err != nil || len(rec.urls) != 1 {
				t.Errorf("%s (plain %v): %v, sent %v; want it sent", tt.url, tt.plain, err, rec.urls)
			} else {
				resp.Body.Close()
			}
			continue
		}
		if !errors.Is(err, ErrPlainHTTP) || !strings.Contains(err.Error(), "--plain-http") || len(rec.urls) != 0 {
			t.Errorf("%s: %v, sent %v; want a refusal naming --plain-http and nothing sent", tt.url, err, rec.urls)
		}
	}
}

// TestPullPrivateAddress pulls through a registry reached as a private
// address (10.0.0.1, redirected to the loopback test registry): refused
// with one line naming --plain-http, and done with PlainHTTP.
func TestPullPrivateAddress(t *testing.T) {
	reg := registrytest.Start(t, "", "")
	registrytest.DockerConfig(t, reg.Addr, "", "")
	im := imagetest.New(t, imagetest.Options{})
	ctx := context.Background()
	if _, err := Push(ctx, im.Dir, reg.Addr+"/hardenvm/img:1", options(im)); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(reg.Addr)
	redirect := http.DefaultTransport.(*http.Transport).Clone()
	redirect.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, reg.Addr)
	}
	ref := "10.0.0.1:" + port + "/hardenvm/img:1"
	o := options(im)
	o.Transport = redirect
	_, _, err := Pull(ctx, ref, filepath.Join(t.TempDir(), "a"), o)
	if !errors.Is(err, ErrPlainHTTP) || !strings.Contains(err.Error(), "pass --plain-http") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Pull from a private address over plain HTTP = %v, want a one-line refusal", err)
	}
	o.PlainHTTP = true
	if _, _, err := Pull(ctx, ref, filepath.Join(t.TempDir(), "b"), o); err != nil {
		t.Fatalf("Pull with PlainHTTP = %v", err)
	}
}

// TestPullSilentRegistry: a registry that accepts connections and never
// answers fails within the network bounds, named.
func TestPullSilentRegistry(t *testing.T) {
	ct, it := ConnectTimeout, IdleTimeout
	ConnectTimeout, IdleTimeout = 500*time.Millisecond, 500*time.Millisecond
	t.Cleanup(func() { ConnectTimeout, IdleTimeout = ct, it })
	addr := testenv.Silent(t, "tcp", "127.0.0.1:0")
	registrytest.DockerConfig(t, addr, "", "")
	im := imagetest.New(t, imagetest.Options{})
	done := make(chan error, 1)
	go func() {
		_, _, err := Pull(context.Background(), addr+"/x/y:1", filepath.Join(t.TempDir(), "out"), options(im))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), addr) {
			t.Errorf("Pull from a silent registry = %v, want an error naming %s", err, addr)
		}
		t.Logf("%v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("Pull from a silent registry still waits after 60s")
	}
}
