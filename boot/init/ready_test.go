package main

import (
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/boot/bootparams"
)

func serveUnix(t *testing.T, status int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_ping" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

func TestProbeReady(t *testing.T) {
	ok, failing := serveUnix(t, 200), serveUnix(t, 500)
	tests := []struct {
		name string
		r    bootparams.Readiness
		want string // "" for ready
	}{
		{"answers 200", bootparams.Readiness{Socket: ok, HTTPGet: "/_ping"}, ""},
		{"socket only", bootparams.Readiness{Socket: failing}, ""},
		{"answers 500", bootparams.Readiness{Socket: failing, HTTPGet: "/_ping"}, `GET /_ping: "HTTP/1.0 500 Internal Server Error"`},
		{"wrong path", bootparams.Readiness{Socket: ok, HTTPGet: "/other"}, "404"},
		{"no socket", bootparams.Readiness{Socket: filepath.Join(t.TempDir(), "none.sock")}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := probeReady(&tt.r)
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("probeReady = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestWaitReadyBounded: a check that never passes fails at its timeout,
// naming the service.
func TestWaitReadyBounded(t *testing.T) {
	never := bootparams.Service{Name: "engine", Ready: &bootparams.Readiness{Socket: filepath.Join(t.TempDir(), "x.sock"), TimeoutSeconds: 1}}
	start := time.Now()
	err := waitReady([]bootparams.Service{{Name: "plain"}, never}, start)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("waitReady took %v with a 1 s timeout", took)
	}
	if err == nil || !strings.HasPrefix(err.Error(), "service engine not ready after 1s") {
		t.Errorf("waitReady = %v", err)
	}
}
