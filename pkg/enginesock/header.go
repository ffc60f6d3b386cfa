package enginesock

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// HeaderVersion is the version of the stream header this package writes
// and the only one it reads.
const HeaderVersion = 1

// Kind says what a stream carries.
type Kind byte

const (
	// KindEngine is a connection to the engine's unix socket; its header
	// names no target.
	KindEngine Kind = 'E'
	// KindTCP is a connection to a TCP port in the VM (a published port);
	// its header names the address, "IP:PORT".
	KindTCP Kind = 'T'
)

// maxTarget bounds a header's target: one length byte.
const maxTarget = 255

// Header opens every stream: what the host asks the guest to connect it
// to.
type Header struct {
	Kind   Kind
	Target netip.AddrPort // KindTCP only
}

// ErrHeader is wrapped by every error about a malformed header.
var ErrHeader = errors.New("bad stream header")

// MarshalBinary encodes h: version, kind, target length, target.
func (h Header) MarshalBinary() ([]byte, error) {
	var target string
	switch h.Kind {
	case KindEngine:
		if h.Target.IsValid() {
			return nil, fmt.Errorf("%w: an engine stream names no target", ErrHeader)
		}
	case KindTCP:
		if !h.Target.IsValid() || h.Target.Port() == 0 {
			return nil, fmt.Errorf("%w: a TCP stream needs IP:PORT, not %v", ErrHeader, h.Target)
		}
		target = h.Target.String()
	default:
		return nil, fmt.Errorf("%w: kind %q", ErrHeader, h.Kind)
	}
	if len(target) > maxTarget {
		return nil, fmt.Errorf("BUG: header target of %d bytes", len(target))
	}
	return append([]byte{HeaderVersion, byte(h.Kind), byte(len(target))}, target...), nil
}

// ReadHeader reads one header from r, and nothing after it.
func ReadHeader(r io.Reader) (Header, error) {
	var fixed [3]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return Header{}, fmt.Errorf("reading the stream header: %w", err)
	}
	if fixed[0] != HeaderVersion {
		return Header{}, fmt.Errorf("%w: version %d, want %d (host and guest from different hardenvm versions?)", ErrHeader, fixed[0], HeaderVersion)
	}
	h := Header{Kind: Kind(fixed[1])}
	target := make([]byte, fixed[2])
	if _, err := io.ReadFull(r, target); err != nil {
		return Header{}, fmt.Errorf("reading the stream header: %w", err)
	}
	switch h.Kind {
	case KindEngine:
		if len(target) != 0 {
			return Header{}, fmt.Errorf("%w: an engine stream with a target", ErrHeader)
		}
	case KindTCP:
		ap, err := netip.ParseAddrPort(string(target))
		if err != nil || ap.Port() == 0 || ap.Addr().Zone() != "" {
			return Header{}, fmt.Errorf("%w: TCP target %q: want IP:PORT", ErrHeader, target)
		}
		h.Target = ap
	default:
		return Header{}, fmt.Errorf("%w: kind %q", ErrHeader, h.Kind)
	}
	return h, nil
}
