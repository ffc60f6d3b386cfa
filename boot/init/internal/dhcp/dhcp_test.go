package dhcp

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeServer answers like QEMU's user network: an OFFER for a DISCOVER,
// an ACK (or NAK) for a REQUEST, with noise in between.
type fakeServer struct {
	t       *testing.T
	queue   [][]byte
	nak     bool
	request *packet
}

func (s *fakeServer) reply(req []byte, typ byte) []byte {
	b := make([]byte, 240)
	b[0] = 2
	copy(b[4:8], req[4:8])     // xid
	copy(b[28:44], req[28:44]) // chaddr
	copy(b[16:20], []byte{10, 0, 2, 15})
	copy(b[236:], magic)
	b = append(b, optType, 1, typ, optServerID, 4, 10, 0, 2, 2, optSubnet, 4, 255, 255, 255, 0,
		optRouter, 4, 10, 0, 2, 2, optDNS, 8, 10, 0, 2, 3, 1, 1, 1, 1, optLease, 4, 0, 1, 0x51, 0x80, optPad, optEnd)
	return b
}

func (s *fakeServer) Send(b []byte) error {
	p, err := parse(b)
	if err != nil {
		s.t.Fatalf("client sent a bad message: %v", err)
	}
	if len(b) < 300 || p.op != 1 || p.flags != 0x8000 {
		s.t.Errorf("client message: %d bytes, op %d, flags %#x", len(b), p.op, p.flags)
	}
	other := s.reply(b, Offer)
	other[4] ^= 1 // another transaction
	s.queue = append(s.queue, []byte("garbage"), other)
	switch p.msgType {
	case Discover:
		s.queue = append(s.queue, s.reply(b, Offer))
	case Request:
		s.request = p
		if s.nak {
			s.queue = append(s.queue, s.reply(b, Nak))
		} else {
			s.queue = append(s.queue, s.reply(b, Ack))
		}
	}
	return nil
}

func (s *fakeServer) Receive() ([]byte, error) {
	if len(s.queue) == 0 {
		return nil, os.ErrDeadlineExceeded
	}
	b := s.queue[0]
	s.queue = s.queue[1:]
	return b, nil
}

func TestExchange(t *testing.T) {
	mac := [6]byte{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	s := &fakeServer{t: t}
	got, err := Exchange(s, mac, 0xdeadbeef)
	if err != nil {
		t.Fatal(err)
	}
	want := Lease{Addr: netip.MustParsePrefix("10.0.2.15/24"), Router: netip.MustParseAddr("10.0.2.2"),
		DNS:    []netip.Addr{netip.MustParseAddr("10.0.2.3"), netip.MustParseAddr("1.1.1.1")},
		Server: netip.MustParseAddr("10.0.2.2"), LeaseSec: 86400}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("lease (-want +got):\n%s", diff)
	}
	if s.request.addr(optRequested) != netip.MustParseAddr("10.0.2.15") || s.request.addr(optServerID) != netip.MustParseAddr("10.0.2.2") {
		t.Errorf("REQUEST options %v", s.request.options)
	}

	if _, err := Exchange(&fakeServer{t: t, nak: true}, mac, 1); err == nil || !strings.Contains(err.Error(), "NAK") {
		t.Errorf("NAK: %v", err)
	}
	if _, err := Exchange(&silent{}, mac, 1); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("no server: %v", err)
	}
}

type silent struct{}

func (silent) Send([]byte) error        { return nil }
func (silent) Receive() ([]byte, error) { return nil, os.ErrDeadlineExceeded }

func TestUDPFraming(t *testing.T) {
	hdr := []byte{0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255}
	binary.BigEndian.PutUint16(hdr[10:], checksum(hdr))
	if checksum(hdr) != 0 {
		t.Errorf("a header with its checksum does not sum to zero")
	}
	pkt := append(hdr, 0, 67, 0, 68, 0, 8+2, 0, 0, 'h', 'i')
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	if p, ok := udpPayload(pkt, 68); !ok || string(p) != "hi" {
		t.Errorf("udpPayload = %q, %v", p, ok)
	}
	if _, ok := udpPayload(pkt, 67); ok {
		t.Error("payload for another port accepted")
	}
	if _, ok := udpPayload(pkt[:25], 68); ok {
		t.Error("truncated datagram accepted")
	}
}

func FuzzParse(f *testing.F) {
	s := &fakeServer{}
	f.Add(s.reply(encode(Discover, 1, [6]byte{}, netip.Addr{}, netip.Addr{}), Ack))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parse(b)
		if err != nil {
			return
		}
		p.lease()
		udpPayload(b, 68)
	})
}
