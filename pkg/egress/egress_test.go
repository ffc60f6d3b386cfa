package egress

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// clientHello is the first flight of a real crypto/tls client.
func clientHello(t *testing.T, serverName string) []byte {
	t.Helper()
	a, b := net.Pipe()
	go func() {
		tls.Client(a, &tls.Config{ServerName: serverName, InsecureSkipVerify: true}).Handshake()
		a.Close()
	}()
	buf := make([]byte, MaxHello)
	n := 0
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	for n < len(buf) {
		m, err := b.Read(buf[n:])
		n += m
		if _, done := Sniff(buf[:n]); done || err != nil {
			break
		}
	}
	b.Close()
	return buf[:n]
}

func TestSniff(t *testing.T) {
	hello := clientHello(t, "Registry.Example.")
	tests := []struct {
		name string
		in   []byte
		want Hello
		done bool
	}{
		{"tls sni", hello, Hello{Kind: TLS, Host: "registry.example"}, true},
		{"tls partial", hello[:len(hello)-1], Hello{}, false},
		{"tls no sni", clientHello(t, ""), Hello{Kind: TLS}, true},
		{"http host", []byte("GET /v2/ HTTP/1.1\r\nUser-Agent: x\r\nhost: 10.0.2.2:5000\r\n\r\n"), Hello{Kind: HTTP, Host: "10.0.2.2"}, true},
		{"http partial", []byte("GET /v2/ HTTP/1.1\r\nHost: a"), Hello{}, false},
		{"http method prefix", []byte("GE"), Hello{}, false},
		{"connect", []byte("CONNECT reg.example:443 HTTP/1.1\r\nHost: reg.example:443\r\n\r\n"), Hello{Kind: HTTP, Host: "reg.example", Port: 443, Proxied: true, TargetTLS: true}, true},
		{"absolute", []byte("GET http://reg.example:5000/v2/ HTTP/1.1\r\nHost: reg.example:5000\r\n\r\n"), Hello{Kind: HTTP, Host: "reg.example", Port: 5000, Proxied: true}, true},
		{"ssh", []byte("SSH-2.0-OpenSSH_9.2\r\n"), Hello{}, true},
		{"binary", []byte{0, 1, 2, 3}, Hello{}, true},
		{"tls alert not hello", []byte{0x15, 3, 3, 0, 2, 2, 40}, Hello{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, done := Sniff(tt.in)
			if got != tt.want || done != tt.done {
				t.Errorf("Sniff = %+v, %v; want %+v, %v", got, done, tt.want, tt.done)
			}
		})
	}
}

func TestListed(t *testing.T) {
	a := AllowList{"docker.io", "Reg.Example", "host.docker.internal:5000", "[::1]:6000"}
	tests := []struct {
		host string
		port int
		want bool
	}{
		{"registry-1.docker.io", 443, true},
		{"docker.io", 443, true},
		{"reg.example", 443, true},
		{"reg.example.", 80, true},
		{"reg.example", 5000, false},
		{"host.docker.internal", 5000, true},
		{"host.docker.internal", 5001, false},
		{"host.docker.internal", 443, false},
		{"::1", 6000, true},
		{"evil.example", 443, false},
	}
	for _, tt := range tests {
		if got := a.Listed(tt.host, tt.port); got != tt.want {
			t.Errorf("Listed(%q, %d) = %v, want %v", tt.host, tt.port, got, tt.want)
		}
	}
}

func TestAllowed(t *testing.T) {
	reg := netip.MustParseAddrPort("10.0.2.2:5000")
	other := netip.MustParseAddrPort("10.0.2.2:5001")
	web := netip.MustParseAddrPort("192.0.2.7:443")
	probes := 0
	d := &Decider{
		Allow: AllowList{"host.docker.internal:5000"},
		Resolve: func(_ context.Context, h string) ([]netip.Addr, error) {
			if h == "host.docker.internal" {
				return []netip.Addr{netip.MustParseAddr("10.0.2.2")}, nil
			}
			return nil, fmt.Errorf("no such host %s", h)
		},
		IsRegistry: func(_ context.Context, t Target) bool { probes++; return t.Addr.Addr() == reg.Addr() },
	}
	tests := []struct {
		name string
		dst  netip.AddrPort
		h    Hello
		want bool
	}{
		{"listed name at its address", reg, Hello{Kind: HTTP, Host: "host.docker.internal"}, true},
		{"listed name, other port, a registry", other, Hello{Kind: HTTP, Host: "host.docker.internal"}, false},
		{"no name, a registry", other, Hello{Kind: TLS}, false},
		{"listed name lied about", other, Hello{Kind: HTTP, Host: "host.docker.internal"}, false},
		{"not a registry", web, Hello{Kind: TLS, Host: "cdn.example"}, true},
		{"opaque", other, Hello{}, true},
		{"proxy to a listed target", web, Hello{Kind: HTTP, Host: "host.docker.internal", Port: 5000, Proxied: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, why := d.Allowed(context.Background(), tt.dst, tt.h)
			if ok != tt.want {
				t.Errorf("Allowed(%v, %+v) = %v %q, want %v", tt.dst, tt.h, ok, why, tt.want)
			}
			if !ok && !strings.Contains(why, "is not allowed by the admin policy (registryAllowList)") {
				t.Errorf("refusal %q does not name the policy", why)
			}
		})
	}
	n := probes
	d.Allowed(context.Background(), other, Hello{Kind: HTTP})
	if probes != n {
		t.Errorf("a second connection to %v probed again: the answer is cached", other)
	}
}

// TestServer runs the filter in front of a real registry (go-containerregistry's)
// and a plain web server, with the original destination given by the test:
// a registry client is refused with the policy named over HTTP and TLS, the
// web server passes, and the listed registry passes.
func TestServer(t *testing.T) {
	regSrv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer regSrv.Close()
	webSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }))
	defer webSrv.Close()
	regAddr := netip.MustParseAddrPort(regSrv.Listener.Addr().String())
	webAddr := netip.MustParseAddrPort(webSrv.Listener.Addr().String())

	run := func(allow AllowList) (dial func(dst netip.AddrPort) net.Conn) {
		cert, err := RefusalCert(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		var dsts sync.Map // client port → original destination
		d := &net.Dialer{}
		s := &Server{
			Decider: &Decider{Allow: allow, IsRegistry: Prober{Timeout: 2 * time.Second}.IsRegistry,
				Resolve: func(context.Context, string) ([]netip.Addr, error) { return nil, fmt.Errorf("offline") }},
			Dial: d.DialContext, Cert: cert, HelloTimeout: 2 * time.Second,
			OriginalDst: func(c *net.TCPConn) (netip.AddrPort, error) {
				for range 100 {
					if d, ok := dsts.Load(c.RemoteAddr().(*net.TCPAddr).Port); ok {
						return d.(netip.AddrPort), nil
					}
					time.Sleep(10 * time.Millisecond)
				}
				return netip.AddrPort{}, fmt.Errorf("no destination")
			},
			Log: t.Logf,
		}
		go s.Serve(l)
		return func(dst netip.AddrPort) net.Conn {
			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			dsts.Store(c.LocalAddr().(*net.TCPAddr).Port, dst)
			return c
		}
	}
	client := func(dial func(netip.AddrPort) net.Conn, dst netip.AddrPort) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: func(context.Context, string, string) (net.Conn, error) { return dial(dst), nil },
			DialTLSContext: func(_ context.Context, _, addr string) (net.Conn, error) {
				host, _, _ := net.SplitHostPort(addr)
				c := tls.Client(dial(dst), &tls.Config{ServerName: host})
				return c, c.Handshake()
			},
		}}
	}

	dial := run(AllowList{"listed.example"})
	resp, err := client(dial, regAddr).Get("http://unlisted.example:5000/v2/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(resp.Status, "registryAllowList") || !strings.Contains(string(body), `"code":"DENIED"`) {
		t.Errorf("plain HTTP to an unlisted registry: %s %s; want 403 naming the policy", resp.Status, body)
	}
	// TLS to it (a plain-HTTP registry: probed over HTTP too): a
	// verifying client's error names the policy.
	_, err = client(dial, regAddr).Get("https://unlisted.example/v2/")
	if err == nil || !strings.Contains(err.Error(), "registryAllowList") {
		t.Errorf("TLS to an unlisted registry: %v; want a certificate error naming the policy", err)
	}
	// A web server that is no registry passes.
	resp, err = client(dial, webAddr).Get("http://web.example/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello" {
		t.Errorf("web server through the filter: %s %q", resp.Status, body)
	}

	// The registry listed by its IP literal passes.
	dial = run(AllowList{regAddr.String()})
	resp, err = client(dial, regAddr).Get("http://" + regAddr.String() + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("the listed registry through the filter: %s", resp.Status)
	}
}

func TestRules(t *testing.T) {
	r := Rules(15001, []netip.Prefix{netip.MustParsePrefix("172.17.0.1/16")}, true)
	for _, want := range []string{
		"-A HARDENVM-EGRESS -m addrtype --dst-type LOCAL -j RETURN\n",
		"-A HARDENVM-EGRESS -m mark --mark 0x4856 -j RETURN\n",
		"-A HARDENVM-EGRESS -d 172.17.0.0/16 -j RETURN\n",
		"-A HARDENVM-EGRESS -p tcp -j REDIRECT --to-ports 15001\n",
		"-I PREROUTING 1 -p tcp -j HARDENVM-EGRESS\n",
		"-I OUTPUT 1 -p tcp -j HARDENVM-EGRESS\n",
	} {
		if !strings.Contains(r, want) {
			t.Errorf("Rules lacks %q:\n%s", want, r)
		}
	}
	if strings.Contains(Rules(15001, nil, false), "PREROUTING") {
		t.Errorf("Rules without hooks adds the jumps again")
	}
	if !strings.Contains(Rules6(true), "-j REJECT --reject-with tcp-reset") {
		t.Errorf("Rules6 does not reset IPv6 egress:\n%s", Rules6(true))
	}
}

// TestSniffLengths: the server name comes out of ClientHellos of every
// length around a few bit boundaries (a length miscomputed by operator
// precedence once cut hellos short).
func TestSniffLengths(t *testing.T) {
	for n := 1; n <= 70; n++ {
		name := strings.Repeat("a", n) + ".example"
		if h, done := Sniff(clientHello(t, name)); !done || h.Host != name {
			t.Errorf("Sniff(ClientHello for %q) = %+v, %v", name, h, done)
		}
	}
}

// FuzzSniff: any bytes give an answer or ask for more, never a panic; a
// complete answer stays the same with more bytes after it.
func FuzzSniff(f *testing.F) {
	f.Add([]byte("GET /v2/ HTTP/1.1\r\nHost: a:1\r\n\r\n"))
	f.Add([]byte("CONNECT a:443 HTTP/1.1\r\n\r\n"))
	f.Add([]byte{0x16, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, done := Sniff(b)
		if done {
			if h2, done2 := Sniff(append(slices.Clone(b), "tail"...)); !done2 || h2 != h {
				t.Errorf("Sniff(%q) = %+v, but with more bytes %+v, %v", b, h, h2, done2)
			}
		}
	})
}
