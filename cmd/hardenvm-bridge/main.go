// Command hardenvm-bridge is the guest end of the host's engine socket and
// published ports: a stage-2 service that opens the virtio-serial port
// org.hardenvm.engine and connects each stream the host opens to what its
// header names (package pkg/enginesock): the engine's unix socket
// (hardenvm run serves STATE/docker.sock) or a published port on the VM's
// loopback (the host's 127.0.0.1:PORT). It is built static and copied into the desktop image
// from images/bin.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/hardenvm/hardenvm/pkg/enginesock"
	"github.com/hardenvm/hardenvm/pkg/vport"
)

func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "hardenvm-bridge: "+format+"\n", args...)
}

func main() {
	engine := flag.String("engine", "/run/docker.sock", "the engine's unix socket")
	port := flag.String("port", "", "the virtio-serial device (default: the port named "+enginesock.ChannelName+")")
	flag.Parse()
	last := ""
	for {
		err := serve(*port, *engine)
		// Say each new trouble once: the host comes and goes.
		if msg := fmt.Sprint(err); msg != last {
			say("%v", err)
			last = msg
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// serve keeps the port open across sessions: a guest that closed it
// would lose what the host sends meanwhile.
func serve(port, engine string) error {
	if port == "" {
		var err error
		if port, err = vport.Find(enginesock.ChannelName); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(port, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	say("serving %s and published ports on %s", engine, port)
	g := enginesock.Guest{Engine: engine, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // the console stamps lines
			}
			return a
		},
	})).With("service", "hardenvm-bridge")}
	for {
		if err := g.Serve(f); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: %w", port, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
