// Command hardenvm-authz is hardenvm's engine authorization plugin: it
// listens on a unix socket for dockerd's AuthZ plugin calls and applies the
// admin's socket allow-list, commandList, registry allow-list and the ban
// on plugin installs.
//
//	hardenvm-authz [--listen /run/docker/plugins/hardenvm.sock]
//	               [--settings /etc/hardenvm/runtime.json] [--engine /run/docker.sock]
//
// dockerd then runs with --authorization-plugin=hardenvm.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/hardenvm/hardenvm/pkg/runtime"
	"github.com/hardenvm/hardenvm/pkg/runtime/authz"
)

func main() {
	listen := flag.String("listen", "/run/docker/plugins/hardenvm.sock", "unix socket to serve the plugin on")
	settings := flag.String("settings", "/etc/hardenvm/runtime.json", "runtime settings (JSON); the built-in defaults when absent")
	engine := flag.String("engine", "/run/docker.sock", "the engine's API socket, to look images up")
	flag.Parse()
	if err := run(*listen, *settings, *engine); err != nil {
		fmt.Fprintln(os.Stderr, "hardenvm-authz: "+err.Error())
		os.Exit(1)
	}
}

func run(listen, settingsPath, engine string) error {
	s := runtime.Default()
	if _, err := os.Stat(settingsPath); err == nil {
		if s, err = runtime.LoadSettings(settingsPath); err != nil {
			return err
		}
	}
	os.Remove(listen)
	l, err := net.Listen("unix", listen)
	if err != nil {
		return err
	}
	defer os.Remove(listen)
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	p := &authz.Policy{Settings: s, Image: authz.EngineImages(engine)}
	srv := &http.Server{Handler: authz.Handler(p, log)}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(l); err != http.ErrServerClosed {
		return err
	}
	return nil
}
