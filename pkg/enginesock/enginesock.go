// Package enginesock carries the container engine's unix socket between
// the VM and the host over one byte stream — a virtio-serial port — with
// each connection a yamux stream. The guest side (ServeGuest) accepts the
// streams the host opens and connects each to the engine's socket; the
// host side (Host) serves a unix socket, mode 0600, and opens a stream per
// connection. Nothing listens on TCP, so the rule that the engine is never
// reachable over the network without TLS holds.
//
// Half-closes pass through (docker attach and exec close their write side
// and keep reading), so a stream ends only when both sides are done.
package enginesock

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

// ChannelName is the virtio-serial port of the engine socket.
const ChannelName = "org.hardenvm.engine"

// config is yamux's, with nothing sent unasked: the guest side starts
// before the host connects, and a virtio-serial port drops what the guest
// writes while no host is there, so neither side may ping on its own.
func config() *yamux.Config {
	c := yamux.DefaultConfig()
	c.EnableKeepAlive = false
	c.LogOutput = io.Discard
	c.StreamOpenTimeout = 15 * time.Second
	c.ConnectionWriteTimeout = 30 * time.Second
	return c
}

// ServeGuest runs one session over port, connecting each stream to the
// engine's unix socket at engine. It returns when the port reports the
// host gone (a virtio-serial port reads EOF while no host is connected)
// or the session fails; port itself stays open for the next session.
func ServeGuest(port io.ReadWriter, engine string) error {
	s, err := yamux.Server(keepOpen{port}, config())
	if err != nil {
		return err
	}
	defer s.Close()
	for {
		st, err := s.AcceptStream()
		if err != nil {
			if errors.Is(err, io.EOF) || s.IsClosed() {
				return io.EOF
			}
			return err
		}
		go func() {
			c, err := net.Dial("unix", engine)
			if err != nil {
				st.Close()
				return
			}
			pipe(st, c)
		}()
	}
}

// keepOpen is a port whose Close leaves it open: sessions come and go
// with the host, the port stays.
type keepOpen struct{ io.ReadWriter }

func (keepOpen) Close() error { return nil }

// pipe copies both ways and passes half-closes on; it returns when both
// directions are done, and closes both ends.
func pipe(a, b io.ReadWriteCloser) {
	var wg sync.WaitGroup
	one := func(dst, src io.ReadWriteCloser) {
		defer wg.Done()
		io.Copy(dst, src)
		closeWrite(dst)
	}
	wg.Add(2)
	go one(a, b)
	go one(b, a)
	wg.Wait()
	a.Close()
	b.Close()
}

// closeWrite ends the write side: a unix socket's CloseWrite, a yamux
// stream's Close (a FIN: the other side may still send).
func closeWrite(c io.WriteCloser) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}
