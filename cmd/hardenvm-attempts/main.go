// Command hardenvm-attempts runs hardenvm's escape-attempt battery inside
// a container and prints one JSON line per attempt ({"name","ok","detail"}).
// Escapes must report ok=false, work ok=true; the exit code is 0 only when
// all did. Build it static (CGO_ENABLED=0) to drop it into any rootfs.
//
//	hardenvm-attempts            run every escape attempt
//	hardenvm-attempts list       list the attempts
//	hardenvm-attempts NAME ARGS  run one attempt
package main

import (
	"os"

	"github.com/hardenvm/hardenvm/pkg/runtime/attempts"
)

func main() { os.Exit(attempts.Main(os.Stdout, os.Args[1:])) }
