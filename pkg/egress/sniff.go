package egress

import (
	"bytes"
	"encoding/binary"
	"net"
	"strconv"
	"strings"
)

// Kind is what the first bytes of a connection are.
type Kind int

const (
	// Opaque is neither TLS nor HTTP: the connection passes untouched.
	Opaque Kind = iota
	// TLS is a TLS ClientHello.
	TLS
	// HTTP is a plain HTTP/1.x request.
	HTTP
)

// Hello is what a connection's first bytes say about where it goes.
type Hello struct {
	Kind Kind
	// Host is the server name (SNI, the Host header's host, a proxy
	// request's target host), lower case; "" when the client gave none.
	Host string
	// Proxied is set for a request to an HTTP proxy (CONNECT, or an
	// absolute URL): Host and Port are its target, not the server the
	// connection goes to. TargetTLS says whether the target is spoken to
	// over TLS (CONNECT) or plain HTTP (an absolute http:// URL).
	Proxied   bool
	Port      int
	TargetTLS bool
}

// MaxHello bounds how much of a connection the filter reads before it
// decides: a ClientHello (post-quantum key shares make them ~2 KiB) or
// an HTTP request's headers. A client that needs more passes as Opaque.
const MaxHello = 16 << 10

// Sniff reads the first bytes of a connection. done is false while b is
// a prefix of a TLS ClientHello or HTTP request header that is not yet
// complete; once done, h says what it is (Opaque for anything else).
func Sniff(b []byte) (h Hello, done bool) {
	if len(b) == 0 {
		return Hello{}, false
	}
	if b[0] == 0x16 {
		return sniffTLS(b)
	}
	return sniffHTTP(b)
}

// sniffTLS reads the server name from a ClientHello (RFC 8446 4.1.2 and
// RFC 6066 3), which may span several handshake records.
func sniffTLS(b []byte) (Hello, bool) {
	var hs []byte
	for len(b) > 0 {
		if len(b) < 5 {
			return Hello{}, false
		}
		if b[0] != 0x16 || b[1] != 3 {
			return Hello{}, true
		}
		n := int(binary.BigEndian.Uint16(b[3:5]))
		if len(b) < 5+n {
			return Hello{}, false
		}
		hs = append(hs, b[5:5+n]...)
		b = b[5+n:]
		if len(hs) >= 4 {
			if hs[0] != 1 {
				return Hello{}, true // not a ClientHello
			}
			if need := 4 + (int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])); len(hs) >= need {
				return Hello{Kind: TLS, Host: serverName(hs[4:need])}, true
			}
		}
	}
	return Hello{}, false
}

// serverName is the host_name of a ClientHello body's server_name
// extension, or "".
func serverName(ch []byte) string {
	r := reader(ch)
	if !r.skip(2+32) || !r.skipVec(1) || !r.skipVec(2) || !r.skipVec(1) {
		return ""
	}
	exts, ok := r.vec(2)
	if !ok {
		return ""
	}
	for len(exts) >= 4 {
		typ := binary.BigEndian.Uint16(exts)
		n := int(binary.BigEndian.Uint16(exts[2:]))
		if len(exts) < 4+n {
			return ""
		}
		data := exts[4 : 4+n]
		exts = exts[4+n:]
		if typ != 0 {
			continue
		}
		list := reader(data)
		names, ok := list.vec(2)
		for ok && len(names) >= 3 {
			nr := reader(names[1:])
			name, ok2 := nr.vec(2)
			if !ok2 {
				return ""
			}
			if names[0] == 0 {
				return normalHost(string(name))
			}
			names = names[3+len(name):]
		}
		return ""
	}
	return ""
}

type reader []byte

func (r *reader) skip(n int) bool {
	if len(*r) < n {
		return false
	}
	*r = (*r)[n:]
	return true
}

// vec reads a vector with a lenBytes-byte big-endian length.
func (r *reader) vec(lenBytes int) ([]byte, bool) {
	if len(*r) < lenBytes {
		return nil, false
	}
	n := 0
	for _, c := range (*r)[:lenBytes] {
		n = n<<8 | int(c)
	}
	if len(*r) < lenBytes+n {
		return nil, false
	}
	v := (*r)[lenBytes : lenBytes+n]
	*r = (*r)[lenBytes+n:]
	return v, true
}

func (r *reader) skipVec(lenBytes int) bool { _, ok := r.vec(lenBytes); return ok }

// sniffHTTP reads an HTTP/1.x request line and headers (RFC 9112 3):
// origin-form with Host, absolute-form and CONNECT's authority-form.
func sniffHTTP(b []byte) (Hello, bool) {
	// A method is a token of upper-case letters (every registered one).
	i := 0
	for i < len(b) && i < 16 && b[i] >= 'A' && b[i] <= 'Z' {
		i++
	}
	if i == len(b) {
		return Hello{}, false
	}
	if i == 0 || b[i] != ' ' {
		return Hello{}, true
	}
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return Hello{}, false
	}
	lines := strings.Split(string(b[:end]), "\r\n")
	req := strings.Fields(lines[0])
	if len(req) != 3 || !strings.HasPrefix(req[2], "HTTP/1.") {
		return Hello{}, true
	}
	method, target := req[0], req[1]
	switch {
	case method == "CONNECT":
		host, port := splitHostPort(target, 443)
		return Hello{Kind: HTTP, Host: host, Port: port, Proxied: true, TargetTLS: true}, true
	case strings.HasPrefix(strings.ToLower(target), "http://"):
		auth, _, _ := strings.Cut(target[len("http://"):], "/")
		host, port := splitHostPort(auth, 80)
		return Hello{Kind: HTTP, Host: host, Port: port, Proxied: true}, true
	case strings.HasPrefix(strings.ToLower(target), "https://"):
		auth, _, _ := strings.Cut(target[len("https://"):], "/")
		host, port := splitHostPort(auth, 443)
		return Hello{Kind: HTTP, Host: host, Port: port, Proxied: true, TargetTLS: true}, true
	}
	h := Hello{Kind: HTTP}
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), "host") {
			h.Host, _ = splitHostPort(strings.TrimSpace(v), 0)
			break
		}
	}
	return h, true
}

// splitHostPort splits "host", "host:port", "[v6]:port"; def is the port
// when none is given.
func splitHostPort(s string, def int) (string, int) {
	if h, p, err := net.SplitHostPort(s); err == nil {
		if n, err := strconv.Atoi(p); err == nil && n > 0 && n < 65536 {
			return normalHost(h), n
		}
		return normalHost(h), def
	}
	return normalHost(strings.Trim(s, "[]")), def
}

// normalHost is a host name as the filter compares it: lower case,
// without a trailing dot.
func normalHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }
