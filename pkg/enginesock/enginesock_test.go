package enginesock

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// engine is a stand-in for dockerd on a unix socket: /_ping answers OK,
// and a raw "ECHO\n" connection echoes until the client half-closes, then
// says "BYE" (as an attach stream goes on after stdin closes).
func engine(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "engine.sock")
	ln, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	mux := http.NewServeMux()
	mux.HandleFunc("/_ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b := make([]byte, 5)
				if _, err := io.ReadFull(c, b); err != nil {
					return
				}
				if string(b) == "ECHO\n" {
					io.Copy(c, c)
					io.WriteString(c, "BYE")
					return
				}
				// Anything else is HTTP: hand the bytes back to a server.
				one := &oneConn{Conn: c, pre: b}
				srv := &http.Server{Handler: mux}
				srv.Serve(&oneListener{c: one})
			}()
		}
	}()
	return p
}

type oneConn struct {
	net.Conn
	pre []byte
}

func (c *oneConn) Read(b []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(b, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

type oneListener struct {
	c    net.Conn
	once sync.Once
	done chan struct{}
}

func (l *oneListener) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c, l.done = l.c, make(chan struct{}) })
	if c != nil {
		return c, nil
	}
	<-l.done
	return nil, io.EOF
}
func (l *oneListener) Close() error   { return nil }
func (l *oneListener) Addr() net.Addr { return l.c.LocalAddr() }

// vm plays QEMU's chardev socket (server) with the guest side on its far
// end, as virtio-serial joins them.
func vm(t *testing.T, dir string, g Guest) string {
	t.Helper()
	p := filepath.Join(dir, "chan.sock")
	ln, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.Serve(c)
			c.Close()
		}
	}()
	return p
}

func TestBridge(t *testing.T) {
	dir := t.TempDir()
	h := &Host{Listen: filepath.Join(dir, "docker.sock"), Channel: vm(t, dir, Guest{Engine: engine(t, dir)})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- h.Serve(ctx) }()
	for i := 0; ; i++ {
		if _, err := os.Stat(h.Listen); err == nil {
			break
		}
		if i > 100 {
			t.Fatal("no socket")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if fi, _ := os.Stat(h.Listen); fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}

	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", h.Listen)
	}}, Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 { // concurrent connections, each its own stream
		wg.Go(func() {
			resp, err := client.Get("http://engine/_ping")
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != "OK" {
				errs <- fmt.Errorf("/_ping: %d %q", resp.StatusCode, b)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// A half-close reaches the engine, and its answer after it comes back.
	c, err := net.Dial("unix", h.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "ECHO\nhello")
	c.(*net.UnixConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "helloBYE" {
		t.Errorf("after a half-close: %q, %v; want \"helloBYE\"", got, err)
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Serve did not return after its context ended")
	}
}

// logLines hands each line the guest logs to the test.
type logLines chan string

func (l logLines) Write(p []byte) (int, error) {
	l <- string(p)
	return len(p), nil
}

// TestPublishedPort: DialTCP reaches a server on the guest's loopback, with
// half-closes, next to engine streams on the same session; a stream to any
// other address, or one without a header the guest reads, is closed with
// one log line.
func TestPublishedPort(t *testing.T) {
	dir := t.TempDir()
	published, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer published.Close()
	go func() { // the container's server: upper-cases until EOF, then "!"
		for {
			c, err := published.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				c.Write(append(bytes.ToUpper(b), '!'))
			}()
		}
	}()
	logs := make(logLines, 16)
	h := &Host{Channel: vm(t, dir, Guest{Engine: engine(t, dir), Log: slog.New(slog.NewTextHandler(logs, nil))})}

	port := published.Addr().(*net.TCPAddr).Port
	c, err := h.DialTCP(port)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "hello")
	c.Close() // a half-close: the answer still comes
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(c); string(got) != "HELLO!" || err != nil {
		t.Errorf("through DialTCP(%d): %q, %v; want \"HELLO!\"", port, got, err)
	}

	// An engine stream on the same session.
	st, err := h.open()
	if err != nil {
		t.Fatal(err)
	}
	hdr, _ := Header{Kind: KindEngine}.MarshalBinary()
	st.Write(append(hdr, "ECHO\nhi"...))
	st.Close()
	st.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(st); string(got) != "hiBYE" || err != nil {
		t.Errorf("engine stream: %q, %v; want \"hiBYE\"", got, err)
	}

	refused := []struct {
		name, stream, log string
	}{
		{"not loopback", "\x01T\x0b192.0.2.1:80", "not the VM's loopback"},
		{"no header", "GET /_ping HTTP/1.1\r\n\r\n", "bad stream header"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			st, err := h.open()
			if err != nil {
				t.Fatal(err)
			}
			st.Write([]byte(tt.stream))
			st.SetReadDeadline(time.Now().Add(5 * time.Second))
			if got, err := io.ReadAll(st); len(got) != 0 || err != nil {
				t.Errorf("refused stream: read %q, %v; want EOF", got, err)
			}
			select {
			case line := <-logs:
				if !strings.Contains(line, tt.log) {
					t.Errorf("guest log %q: no %q", line, tt.log)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("the guest logged nothing; want %q", tt.log)
			}
		})
	}
}
