package main

import (
	"cmp"
	"fmt"
	"strings"

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
			c, err := newDebClient(a, mirrors)
			if err != nil {
				return err
			}
			u, err := lockfile.Relock(cmd.Context(), c, args[0], !check)
			if err != nil {
				return err
			}
			if a.json {
				if err := a.printJSON(newLockReport(u)); err != nil {
					return err
				}
			} else {
				printLockUpdate(a, u, check)
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

func newDebClient(a *app, flags debarchive.Mirrors) (*debarchive.Client, error) {
	m, err := debarchive.FindMirrors(flags, "/")
	if err != nil {
		return nil, err
	}
	cache, err := debarchive.DefaultCache()
	if err != nil {
		return nil, err
	}
	cache.Log = a.log
	return &debarchive.Client{Mirrors: m, Cache: cache, Log: a.log, Steps: &tty.Steps{W: tty.Terminal(a.stderr)}}, nil
}

func printLockUpdate(a *app, u *lockfile.Update, check bool) {
	l := u.New
	k := l.Kernel[len(l.Kernel)-1]
	noun := "packages"
	if len(l.Packages) == 1 {
		noun = "package"
	}
	state := "unchanged"
	switch {
	case check && len(u.Changes) > 0:
		state = "not current"
	case check:
		state = "current"
	case u.Written:
		state = "written"
	}
	fmt.Fprintf(a.stdout, "%s: %s; %s, %d %s, kernel %s %s, stub %s %s\n",
		u.Path, state, strings.Join(l.SuiteNames(), " "), len(l.Packages), noun, k.Name, k.Version, l.Stub.Name, l.Stub.Version)
	for _, c := range u.Changes {
		mark := " "
		if c.Security() {
			mark = "!"
		}
		fmt.Fprintf(a.stdout, "%s %s\n", mark, c)
		for _, e := range c.Entries {
			what := "no CVE named"
			if len(e.CVEs) > 0 {
				what = strings.Join(e.CVEs, ", ")
			}
			fmt.Fprintf(a.stdout, "    %s (urgency %s): %s\n", e.Version, cmp.Or(e.Urgency, "unknown"), what)
		}
		if c.Note != "" {
			fmt.Fprintf(a.stdout, "    (%s)\n", c.Note)
		}
	}
}

// lockReport is lock's --json output.
type lockReport struct {
	Path    string             `json:"path"`
	Written bool               `json:"written"`
	Lock    any                `json:"lock"`
	Changes []lockChangeReport `json:"changes"`
}

type lockChangeReport struct {
	Name       string   `json:"name"`
	OldVersion string   `json:"oldVersion,omitempty"`
	NewVersion string   `json:"newVersion,omitempty"`
	Suite      string   `json:"suite,omitempty"`
	Security   bool     `json:"security"`
	CVEs       []string `json:"cves"`
	Urgency    []string `json:"urgency"` // of each changelog entry, newest first
	Note       string   `json:"note,omitempty"`
}

func newLockReport(u *lockfile.Update) lockReport {
	r := lockReport{Path: u.Path, Written: u.Written, Lock: u.New, Changes: []lockChangeReport{}}
	for _, c := range u.Changes {
		cr := lockChangeReport{Name: c.Name, Security: c.Security(), CVEs: c.CVEs(), Urgency: []string{}, Note: c.Note}
		if cr.CVEs == nil {
			cr.CVEs = []string{}
		}
		for _, e := range c.Entries {
			cr.Urgency = append(cr.Urgency, e.Urgency)
		}
		if c.Old != nil {
			cr.OldVersion = c.Old.Version
		}
		if c.New != nil {
			cr.NewVersion, cr.Suite = c.New.Version, c.New.Suite
		}
		r.Changes = append(r.Changes, cr)
	}
	return r
}
