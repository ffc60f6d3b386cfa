package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hardenvm/hardenvm/pkg/deb"
)

func init() { register(newLockCmd) }

func newLockCmd(a *app) *cobra.Command {
	var mirror string
	cmd := &cobra.Command{
		Use:   "lock SPEC",
		Short: "Resolve a spec's Debian packages and pin them in SPEC's lock file",
		Long: `lock reads an image spec (images/NAME.yml), fetches the suite's InRelease
from the Debian mirror, verifies it with the Debian archive keyring (or the
spec's debian.keyring), reads the Packages indexes it vouches for, resolves
the dependency closure of the spec's packages (Depends and Pre-Depends, not
Recommends), and writes images/NAME.lock.json: the InRelease digest and, per
package, version, pool path, sha256 and size. Builds use only the lock.

The mirror is --mirror, else $HARDENVM_DEBIAN_MIRROR, else the first Debian
mirror in this host's apt sources. Locking the same suite snapshot twice gives
an identical file.`,
		Example: `  hardenvm lock images/minimal.yml
  hardenvm lock --mirror http://mirror.example/debian images/desktop.yml
  hardenvm lock --json images/minimal.yml`,
		Args: exactArgs("SPEC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := deb.FindMirror(mirror, "/")
			if err != nil {
				return err
			}
			cache, err := deb.DefaultCache()
			if err != nil {
				return err
			}
			cache.Log = a.log
			c := &deb.Client{Mirror: m, Cache: cache, Log: a.log}
			l, out, err := deb.WriteLock(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.stdout, l)
			}
			k := l.Kernel[len(l.Kernel)-1]
			noun := "packages"
			if len(l.Packages) == 1 {
				noun = "package"
			}
			_, err = fmt.Fprintf(a.stdout, "%s: %s, %d %s, kernel %s %s, stub %s %s, InRelease sha256 %s\n",
				out, l.Suite, len(l.Packages), noun, k.Name, k.Version, l.Stub.Name, l.Stub.Version, l.InRelease)
			return err
		},
	}
	cmd.Flags().StringVar(&mirror, "mirror", "", "Debian mirror URL (default: $HARDENVM_DEBIAN_MIRROR, then the host's apt sources)")
	return cmd
}
