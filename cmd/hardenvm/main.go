// Command hardenvm builds, signs, boots and attests the hardened VM.
//
// The commands are thin: they parse flags and call one package function.
// Everything a test needs runs in-process through run.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
