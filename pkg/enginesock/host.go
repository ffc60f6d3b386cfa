package enginesock

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/hardenvm/hardenvm/internal/pipe"
	"github.com/hashicorp/yamux"
)

// Host serves the engine socket on the host. Channel is the host end of
// the VM's engine channel (QEMU's chardev socket, vm.Config.ChannelPath);
// Listen is where clients connect (STATE/docker.sock).
type Host struct {
	Listen, Channel string
	Log             *slog.Logger

	mu      sync.Mutex
	session *yamux.Session
}

// Serve listens on h.Listen (replacing a stale socket there; mode 0600,
// the invoking user's) until ctx ends. Each connection becomes a stream to
// the guest; a session that broke (the guest side restarted) is replaced
// by reconnecting to the channel.
func (h *Host) Serve(ctx context.Context) error {
	os.Remove(h.Listen)
	ln, err := net.Listen("unix", h.Listen)
	if err != nil {
		return fmt.Errorf("engine socket: %w", err)
	}
	if err := os.Chmod(h.Listen, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("engine socket: %w", err)
	}
	go func() {
		<-ctx.Done()
		ln.Close()
		h.mu.Lock()
		if h.session != nil {
			h.session.Close()
		}
		h.mu.Unlock()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("engine socket: %w", err)
		}
		go h.forward(c)
	}
}

func (h *Host) forward(c net.Conn) {
	st, err := h.open()
	if err != nil {
		if h.Log != nil {
			h.Log.Warn("engine socket: no stream to the VM", "err", err)
		}
		c.Close()
		return
	}
	hdr, _ := Header{Kind: KindEngine}.MarshalBinary()
	if _, err := st.Write(hdr); err != nil {
		c.Close()
		st.Close()
		return
	}
	pipe.Join(c, st)
}

// DialTCP connects to TCP port on the VM's loopback (127.0.0.1), where
// the engine serves the ports containers publish. The guest closes the
// connection when nothing listens there.
func (h *Host) DialTCP(port int) (net.Conn, error) {
	if port <= 0 || port > 65535 {
		return nil, fmt.Errorf("dialing the VM: port %d", port)
	}
	hdr, err := Header{Kind: KindTCP, Target: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port))}.MarshalBinary()
	if err != nil {
		return nil, err
	}
	st, err := h.open()
	if err != nil {
		return nil, err
	}
	if _, err := st.Write(hdr); err != nil {
		st.Close()
		return nil, fmt.Errorf("dialing the VM: %w", err)
	}
	return st, nil
}

// open opens a stream, (re)connecting the session when there is none or
// it broke.
func (h *Host) open() (*yamux.Stream, error) {
	for attempt := 0; ; attempt++ {
		s, err := h.sessionFor()
		if err != nil {
			return nil, err
		}
		st, err := s.OpenStream()
		if err == nil {
			return st, nil
		}
		h.mu.Lock()
		if h.session == s {
			s.Close()
			h.session = nil
		}
		h.mu.Unlock()
		if attempt == 1 {
			return nil, fmt.Errorf("the VM's engine channel %s: %w", h.Channel, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (h *Host) sessionFor() (*yamux.Session, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.session != nil && !h.session.IsClosed() {
		return h.session, nil
	}
	conn, err := net.DialTimeout("unix", h.Channel, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("the VM's engine channel: %w", err)
	}
	s, err := yamux.Client(conn, config())
	if err != nil {
		conn.Close()
		return nil, err
	}
	h.session = s
	return s, nil
}
