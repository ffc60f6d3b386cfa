package launch

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"

	"github.com/hardenvm/hardenvm/pkg/dockercontext"
	"github.com/hardenvm/hardenvm/pkg/enginesock"
	"github.com/hardenvm/hardenvm/pkg/portfwd"
	"github.com/hardenvm/hardenvm/pkg/vm"
)

// serveEngine serves the VM's engine on the host at STATE/docker.sock,
// says how to use it (and writes the docker context asked for), and says
// "engine ready" once the guest init reports READY (which waits for the
// engine's /_ping).
func serveEngine(ctx context.Context, o Options, m *vm.Machine) error {
	sock, err := filepath.Abs(filepath.Join(o.State, engineSocketFile))
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	cfg := m.Config()
	h := &enginesock.Host{Listen: sock, Channel: cfg.ChannelPath(enginesock.ChannelName), Log: o.Log}
	go func() {
		if err := h.Serve(ctx); err != nil {
			o.Log.Error("engine socket", "err", err)
		}
	}()
	use := "DOCKER_HOST=unix://" + sock
	if o.DockerContext != "" {
		dir, err := dockercontext.ConfigDir()
		if err == nil {
			err = dockercontext.Write(dir, o.DockerContext, "unix://"+sock, "hardenvm VM ("+o.State+")")
		}
		if err != nil {
			return fmt.Errorf("run: %w", err)
		}
		use = "docker --context " + o.DockerContext + " (or " + use + ")"
	}
	fmt.Fprintf(o.Stderr, "hardenvm: the engine answers on %s once the VM is ready: %s\n", sock, use)
	// Ports containers publish (-p 8080:80, -p 127.0.0.1:8080:80) appear
	// on the host's loopback while they run: TCP over the engine channel
	// (no network needed), UDP by QEMU's host forwards (only with one).
	fwd := portfwd.Forwards{Dial: h.DialTCP, Log: o.Log}
	if cfg.Net != nil {
		fwd.VM = m
	}
	engine := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	go (&portfwd.Publisher{Engine: engine, Forward: fwd, Log: o.Log}).Run(ctx)
	go func() {
		if err := m.Console().Wait(ctx, "hardenvm-init: READY"); err == nil {
			fmt.Fprintf(o.Stderr, "hardenvm: engine ready: %s\n", use)
		}
	}()
	return nil
}
