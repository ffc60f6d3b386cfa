// Package dnsproxy is the VM's DNS server: it answers host.docker.internal
// and gateway.docker.internal with the host's address (QEMU user
// networking's gateway, which reaches the host's loopback), as a desktop
// engine's VM does, and passes every other query to the servers DHCP gave.
// The engine and its containers use it: the VM's resolv.conf names it,
// the engine copies that into containers, and its embedded DNS forwards to it.
//
// Subset of RFC 1035: UDP only (a reply too large for the client's buffer
// comes back truncated from upstream and the client retries over TCP,
// which this server does not offer); it reads the header and a single
// question without name compression, and answers A queries for the two
// names (other types of those names get an empty NOERROR reply). Anything
// else, well-formed or not, goes upstream untouched.
package dnsproxy

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Names are the names the server answers itself, lower case, without the
// root's dot.
var Names = []string{"host.docker.internal", "gateway.docker.internal"}

const (
	typeA   = 1
	classIN = 1
	ttl     = 60 // seconds: the host's address does not change while the VM runs
)

// Server answers Names with Host and forwards the rest to Upstream.
type Server struct {
	Host     netip.Addr       // an IPv4 address
	Upstream []netip.AddrPort // tried in order
	Timeout  time.Duration    // per upstream server; 0 means 5 s
}

// question is a parsed single question: its name (lower case, no final
// dot), type and the end of the question section.
type question struct {
	name  string
	qtype uint16
	end   int
}

// parse reads the header and the one question of a standard query; ok is
// false for anything else (a response, another opcode, several
// questions, compression, truncation).
func parse(m []byte) (q question, ok bool) {
	if len(m) < 12 {
		return q, false
	}
	flags := binary.BigEndian.Uint16(m[2:])
	if flags&0x8000 != 0 || (flags>>11)&0xf != 0 || binary.BigEndian.Uint16(m[4:]) != 1 {
		return q, false
	}
	var labels []string
	i := 12
	for {
		if i >= len(m) {
			return q, false
		}
		n := int(m[i])
		i++
		if n == 0 {
			break
		}
		if n > 63 || i+n > len(m) {
			return q, false // a pointer (0xc0) or a bad length
		}
		labels = append(labels, strings.ToLower(string(m[i:i+n])))
		i += n
	}
	if i+4 > len(m) || binary.BigEndian.Uint16(m[i+2:]) != classIN {
		return q, false
	}
	return question{name: strings.Join(labels, "."), qtype: binary.BigEndian.Uint16(m[i:]), end: i + 4}, true
}

// Answer is the server's own reply to query m, or nil when m goes upstream.
func (s *Server) Answer(m []byte) []byte {
	q, ok := parse(m)
	if !ok || !isOwn(q.name) {
		return nil
	}
	r := make([]byte, q.end, q.end+16)
	copy(r, m[:q.end])
	// QR, the query's opcode (0) and RD, AA and RA; RCODE 0.
	binary.BigEndian.PutUint16(r[2:], 0x8000|0x0400|binary.BigEndian.Uint16(m[2:])&0x0100|0x0080)
	binary.BigEndian.PutUint16(r[8:], 0)  // NSCOUNT
	binary.BigEndian.PutUint16(r[10:], 0) // ARCOUNT: an OPT record of the query is not echoed
	if q.qtype != typeA || !s.Host.Is4() {
		binary.BigEndian.PutUint16(r[6:], 0)
		return r
	}
	binary.BigEndian.PutUint16(r[6:], 1) // ANCOUNT
	ip := s.Host.As4()
	r = append(r, 0xc0, 12) // the name: a pointer to the question's
	r = binary.BigEndian.AppendUint16(r, typeA)
	r = binary.BigEndian.AppendUint16(r, classIN)
	r = binary.BigEndian.AppendUint32(r, ttl)
	r = binary.BigEndian.AppendUint16(r, 4)
	return append(r, ip[:]...)
}

func isOwn(name string) bool {
	for _, n := range Names {
		if name == n {
			return true
		}
	}
	return false
}

// Serve answers the queries that reach c until c is closed; each query
// that goes upstream is forwarded in a goroutine of its own, bounded by
// the timeout.
func (s *Server) Serve(c net.PacketConn) error {
	buf := make([]byte, 65535)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		m := append([]byte(nil), buf[:n]...)
		if r := s.Answer(m); r != nil {
			c.WriteTo(r, from)
			continue
		}
		go func() {
			if r := s.forward(m); r != nil {
				c.WriteTo(r, from)
			}
		}()
	}
}

// forward asks each upstream server in turn and returns the first reply
// with the query's ID, nil when none answers in time.
func (s *Server) forward(m []byte) []byte {
	if len(m) < 12 {
		return nil
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	for _, up := range s.Upstream {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(up))
		if err != nil {
			continue
		}
		c.SetDeadline(time.Now().Add(timeout))
		if _, err := c.Write(m); err == nil {
			buf := make([]byte, 65535)
			for {
				n, err := c.Read(buf)
				if err != nil {
					break
				}
				if n >= 12 && buf[0] == m[0] && buf[1] == m[1] {
					c.Close()
					return buf[:n]
				}
			}
		}
		c.Close()
	}
	return nil
}
