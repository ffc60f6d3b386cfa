package dnsproxy

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// query is a standard query for name and type, as a stub resolver sends it.
func query(id uint16, name string, qtype uint16) []byte {
	m := binary.BigEndian.AppendUint16(nil, id)
	m = append(m, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0) // RD; one question
	for _, l := range splitLabels(name) {
		m = append(m, byte(len(l)))
		m = append(m, l...)
	}
	m = append(m, 0)
	m = binary.BigEndian.AppendUint16(m, qtype)
	return binary.BigEndian.AppendUint16(m, classIN)
}

func splitLabels(name string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '.' {
			if i > start {
				out = append(out, name[start:i])
			}
			start = i + 1
		}
	}
	return out
}

func TestAnswer(t *testing.T) {
	s := &Server{Host: netip.MustParseAddr("10.0.2.2")}
	tests := []struct {
		name    string
		m       []byte
		own     bool
		answers int
	}{
		{name: "A host.docker.internal", m: query(7, "host.docker.internal", typeA), own: true, answers: 1},
		{name: "any case, final dot", m: query(7, "Host.Docker.Internal.", typeA), own: true, answers: 1},
		{name: "gateway", m: query(7, "gateway.docker.internal", typeA), own: true, answers: 1},
		{name: "AAAA: empty reply", m: query(7, "host.docker.internal", 28), own: true, answers: 0},
		{name: "another name goes upstream", m: query(7, "deb.example", typeA)},
		{name: "a subdomain goes upstream", m: query(7, "x.host.docker.internal", typeA)},
		{name: "short", m: []byte{1, 2, 3}},
		{name: "a response", m: func() []byte { m := query(7, "host.docker.internal", typeA); m[2] |= 0x80; return m }()},
		{name: "two questions", m: func() []byte { m := query(7, "host.docker.internal", typeA); m[5] = 2; return m }()},
		{name: "truncated question", m: query(7, "host.docker.internal", typeA)[:20]},
		{name: "compressed name", m: append(query(7, "", typeA)[:12], 0xc0, 12, 0, 1, 0, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.Answer(tt.m)
			if (r != nil) != tt.own {
				t.Fatalf("Answer = %x, want own answer: %v", r, tt.own)
			}
			if r == nil {
				return
			}
			if r[0] != tt.m[0] || r[1] != tt.m[1] || r[2]&0x80 == 0 || r[3]&0x0f != 0 {
				t.Errorf("header %x: want the query's ID, QR set, RCODE 0", r[:4])
			}
			if got := int(binary.BigEndian.Uint16(r[6:])); got != tt.answers {
				t.Errorf("ANCOUNT = %d, want %d", got, tt.answers)
			}
			if tt.answers == 1 && !slices.Equal(r[len(r)-4:], []byte{10, 0, 2, 2}) {
				t.Errorf("address %v, want 10.0.2.2", r[len(r)-4:])
			}
		})
	}
}

// upstream is a DNS server on the loopback that answers every A query with
// 192.0.2.7 and every other type with no answer.
func upstream(t *testing.T) netip.AddrPort {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			q, ok := parse(buf[:n])
			if !ok {
				continue
			}
			r := append([]byte(nil), buf[:q.end]...)
			r[2] |= 0x80
			binary.BigEndian.PutUint16(r[10:], 0)
			if q.qtype == typeA {
				binary.BigEndian.PutUint16(r[6:], 1)
				r = append(r, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7)
			}
			c.WriteTo(r, from)
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// TestWithGoResolver puts Go's own DNS client in front of the server (the
// peer that parses what it answers) and an upstream behind it.
func TestWithGoResolver(t *testing.T) {
	silent, err := net.ListenPacket("udp", "127.0.0.1:0") // never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	s := &Server{Host: netip.MustParseAddr("10.0.2.2"), Timeout: 300 * time.Millisecond,
		Upstream: []netip.AddrPort{silent.LocalAddr().(*net.UDPAddr).AddrPort(), upstream(t)}}
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(c)
	defer c.Close()
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("udp", c.LocalAddr().String())
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, want := range map[string]string{"host.docker.internal": "10.0.2.2", "gateway.docker.internal": "10.0.2.2", "registry.example": "192.0.2.7"} {
		addrs, err := r.LookupHost(ctx, name)
		if err != nil || !slices.Equal(addrs, []string{want}) {
			t.Errorf("LookupHost(%s) = %v, %v; want [%s]", name, addrs, err, want)
		}
	}
}

func FuzzAnswer(f *testing.F) {
	f.Add(query(1, "host.docker.internal", typeA))
	f.Add(query(1, "a.b", 28))
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63})
	s := &Server{Host: netip.MustParseAddr("10.0.2.2")}
	f.Fuzz(func(t *testing.T, m []byte) {
		r := s.Answer(m)
		if r == nil {
			return
		}
		q, ok := parse(m)
		if !ok || !isOwn(q.name) {
			t.Fatalf("answered %x, which is no query for an own name", m)
		}
		if len(r) < q.end || r[0] != m[0] || r[1] != m[1] {
			t.Fatalf("reply %x to %x", r, m)
		}
	})
}
