package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hardenvm/hardenvm/internal/tty"
	"github.com/hardenvm/hardenvm/pkg/debarchive"
	"github.com/hardenvm/hardenvm/pkg/lockfile"
)

func init() { register(newLockCmd) }

func newLockCmd(a *app) *cobra.Command {
	var (
		mirrors debarchive.Mirrors
		check   bool
	)
	cmd := &cobra.Command{
		Use:   "lock SPEC",
		Short: "Resolve a spec's Debian packages and pin them in SPEC's lock file",
		Long: `lock reads an image spec (images/NAME.yml), fetches the InRelease of each of
its suites (by default trixie, trixie-updates and trixie-security) from the
Debian mirrors, verifies each with the Debian archive keyring (or the spec's
debian.keyring), reads the Packages indexes they vouch for, resolves the
dependency closure of the spec's packages over all suites (the highest
version wins, as with apt; Depends and Pre-Depends, not Recommends), and
writes images/NAME.lock.json: each suite's InRelease digest and, per package,
version, suite, pool path, sha256 and size. Builds use only the lock. It
prints each package whose pin changed, security updates first.

--check writes nothing: it exits 1 naming every package whose pin would
change (a newer version in the spec's suites, security first), and 0 when
the lock is current. CI runs it on the committed locks.

The main mirror is --mirror, else $HARDENVM_DEBIAN_MIRROR, else the first
Debian mirror in this host's apt sources; the security archive likewise
(--security-mirror, $HARDENVM_DEBIAN_SECURITY_MIRROR, apt sources), else the
main mirror's sibling .../debian-security. Locking the same snapshot twice
gives an identical file.`,
		Example: `  hardenvm lock images/minimal.yml
  hardenvm lock --check images/desktop.yml
  hardenvm lock --mirror http://mirror.example/debian images/desktop.yml
  hardenvm lock --json images/minimal.yml`,
		Args: exactArgs("SPEC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := debarchive.HostClient(mirrors, a.log)
			if err != nil {
				return err
			}
			c.Steps = &tty.Steps{W: tty.Terminal(a.stderr)}
			u, err := lockfile.Relock(cmd.Context(), c, args[0], !check)
			if err != nil {
				return err
			}
			if a.json {
				err = a.printJSON(u.Report())
			} else {
				err = u.WriteText(a.stdout, check)
			}
			if err != nil {
				return err
			}
			if check && len(u.Changes) > 0 {
				return fmt.Errorf("%s is not current: %d package pin(s) would change; run 'hardenvm lock %s'", u.Path, len(u.Changes), args[0])
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "write nothing; exit 1 if the lock is not current")
	mirrorFlags(cmd.Flags(), &mirrors)
	return cmd
}

// mirrorFlags adds --mirror and --security-mirror.
func mirrorFlags(f *pflag.FlagSet, m *debarchive.Mirrors) {
	f.StringVar(&m.Debian, "mirror", "", "Debian mirror URL (default: $"+debarchive.MirrorEnv+", then the host's apt sources)")
	f.StringVar(&m.Security, "security-mirror", "", "Debian security archive URL (default: $"+debarchive.SecurityMirrorEnv+", then the host's apt sources, then the mirror's sibling .../debian-security)")
}
