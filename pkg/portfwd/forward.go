package portfwd

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/hardenvm/hardenvm/internal/pipe"
)

// Forwards opens published ports: TCP over Dial, UDP by the VM's host
// forwards.
type Forwards struct {
	// Dial connects to a TCP port on the VM's loopback
	// (enginesock.Host.DialTCP).
	Dial func(port int) (net.Conn, error)
	// VM forwards UDP ports; nil when the VM has no network, and UDP
	// ports are then not published.
	VM  VM
	Log *slog.Logger
}

// ErrNoNetwork refuses a UDP port in a VM without a network.
var ErrNoNetwork = errors.New("UDP ports need the VM's network (--network nat or restricted)")

// Open serves pt on the host's loopback until the returned Closer closes.
func (f Forwards) Open(pt Port) (io.Closer, error) {
	switch pt.Proto {
	case "tcp":
		return f.listen(pt.Port)
	case "udp":
		if f.VM == nil {
			return nil, ErrNoNetwork
		}
		if err := f.VM.AddHostForward("udp", pt.Port, pt.Port); err != nil {
			return nil, err
		}
		return hostForward{f.VM, pt.Port}, nil
	}
	return nil, fmt.Errorf("protocol %q", pt.Proto)
}

type hostForward struct {
	vm   VM
	port int
}

func (h hostForward) Close() error { return h.vm.RemoveHostForward("udp", h.port) }

// listen serves TCP port on 127.0.0.1, which must be free, and on ::1
// where the host has IPv6 and the port is free there too.
func (f Forwards) listen(port int) (io.Closer, error) {
	p := strconv.Itoa(port)
	ln4, err := net.Listen("tcp4", "127.0.0.1:"+p)
	if err != nil {
		return nil, err
	}
	ls := &listeners{lns: []net.Listener{ln4}}
	if ln6, err := net.Listen("tcp6", "[::1]:"+p); err == nil {
		ls.lns = append(ls.lns, ln6)
	} else if f.Log != nil {
		f.Log.Debug("published port: IPv4 only", "port", port, "err", err)
	}
	for _, ln := range ls.lns {
		go f.serve(ln, port)
	}
	return ls, nil
}

// serve carries each connection ln accepts to port in the VM, until ln
// closes. Connections already carried go on until either side ends them.
func (f Forwards) serve(ln net.Listener, port int) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			g, err := f.Dial(port)
			if err != nil {
				if f.Log != nil {
					f.Log.Warn("published port: no stream to the VM", "port", port, "err", err)
				}
				c.Close()
				return
			}
			pipe.Join(c, g)
		}()
	}
}

type listeners struct {
	once sync.Once
	lns  []net.Listener
}

func (l *listeners) Close() error {
	var errs []error
	l.once.Do(func() {
		for _, ln := range l.lns {
			errs = append(errs, ln.Close())
		}
	})
	return errors.Join(errs...)
}
