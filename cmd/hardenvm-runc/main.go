// Command hardenvm-runc is the hardened OCI runtime: a runc-compatible
// command line that hardens the bundle's config.json on create and run
// (user namespace for every container, --privileged confined, host
// namespaces and protected mounts refused) and then runs the real runc.
// The engine uses it as its default runtime, and the desktop image installs
// it under the name runc too, so that every runtime name ends here.
//
//	hardenvm-runc [--hardenvm-runtime /usr/libexec/hardenvm/runc]
//	              [--hardenvm-settings FILE] [runc global flags] COMMAND …
package main

import (
	"os"

	"github.com/hardenvm/hardenvm/pkg/runtime/shim"
)

func main() { os.Exit(shim.Main(os.Args)) }
