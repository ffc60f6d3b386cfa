package debarchive

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSilentMirror: a mirror that accepts and never answers, or answers
// and then stops sending, fails within the idle timeout with an error
// naming its host; nothing waits forever.
func TestSilentMirror(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accept, never answer
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	stall := make(chan struct{})
	defer close(stall)
	half := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Write([]byte("Origin: Debian\n"))
		w.(http.Flusher).Flush()
		<-stall
	})}
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go half.Serve(hln)
	defer half.Close()

	for _, tt := range []struct{ name, host string }{
		{"accepts, never answers", ln.Addr().String()},
		{"stops mid-body", hln.Addr().String()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &Client{Mirrors: Mirrors{Debian: "http://" + tt.host + "/debian"}, IdleTimeout: 300 * time.Millisecond}
			start := time.Now()
			_, err := c.Release(context.Background(), "trixie")
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("Release took %v with a 300ms idle timeout", took)
			}
			if err == nil || !strings.Contains(err.Error(), "the mirror "+tt.host+" sent nothing for 300ms") || !strings.Contains(err.Error(), "dists/trixie/InRelease") {
				t.Errorf("Release error = %v, want one naming the host, the file and the timeout", err)
			}
		})
	}
}
