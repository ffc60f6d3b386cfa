package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/hardenvm/hardenvm/internal/epoch"
	"github.com/hardenvm/hardenvm/pkg/efivars"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/keys"
)

func init() { register(newEfivarsCmd) }

func newEfivarsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "efivars",
		Short: "Enroll Secure Boot keys into an OVMF variable store, and list its variables",
		Example: `  hardenvm efivars enroll --keys keys -o vars.fd
  hardenvm efivars enroll --keys keys --arch arm64 -o aavmf-vars.fd
  hardenvm efivars dump out/minimal/` + imagedir.Vars,
		RunE: wantSubcommand,
	}
	cmd.AddCommand(newEfivarsEnrollCmd(a), newEfivarsDumpCmd(a))
	return cmd
}

func newEfivarsEnrollCmd(a *app) *cobra.Command {
	var keyDir, template, out, at, archName string
	cmd := &cobra.Command{
		Use:   "enroll -o OUT",
		Short: "Write a variable store with our PK, KEK and db enrolled (Secure Boot on at first boot)",
		Long: `enroll copies the OVMF variable store template and writes into it PK, KEK and
db from the key set (one X.509 EFI_SIGNATURE_LIST each, owned by the set's
owner GUID, authenticated-variable attributes), SecureBootEnable=1 and
CustomMode=0. There is no dbx. Keys already in the template are dropped.

The timestamp in the authenticated variable headers is --time, else
SOURCE_DATE_EPOCH, else the PK certificate's start of validity: the output
depends on its inputs only. OUT is written atomically.

--arch arm64 takes the store of Debian's AAVMF (qemu-efi-aarch64), which
ships it blank: it is formatted as the firmware would first.`,
		Example: `  hardenvm efivars enroll --keys keys -o vars.fd
  hardenvm efivars enroll --keys keys --arch arm64 -o aavmf-vars.fd
  hardenvm efivars enroll --keys keys --template /usr/share/OVMF/OVMF_VARS_4M.fd --time 2026-01-01T00:00:00Z -o vars.fd`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("efivars enroll: --output (-o) is required")
			}
			set, err := keys.Load(keyDir)
			if err != nil {
				return err
			}
			ts, err := enrollTime(at, set)
			if err != nil {
				return err
			}
			e, err := efivars.KeySetEnrollment(set, ts)
			if err != nil {
				return err
			}
			fw, err := efivars.FirmwareOf(archName)
			if err != nil {
				return usagef("efivars enroll: --arch: %w", err)
			}
			if template == "" {
				template = fw.Vars
			}
			if err := fw.EnrollFile(template, out, e); err != nil {
				return err
			}
			a.log.Info("enrolled", "output", out, "owner", e.Owner, "time", ts.Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&keyDir, "keys", "keys", "key directory (hardenvm keys init)")
	cmd.Flags().StringVar(&template, "template", "", "variable store template (default: the --arch firmware's, "+efivars.OVMF.Vars+" or "+efivars.AAVMF.Vars+")")
	cmd.Flags().StringVar(&archName, "arch", "amd64", "architecture of the firmware: amd64 (OVMF) or arm64 (AAVMF)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "variable store to write")
	cmd.Flags().StringVar(&at, "time", "", "timestamp of the authenticated variables (RFC 3339 or @UNIX)")
	return cmd
}

// enrollTime picks the authenticated variables' timestamp from inputs:
// --time, else SOURCE_DATE_EPOCH, else the PK's start of validity.
func enrollTime(flag string, set *keys.Set) (time.Time, error) {
	if flag != "" {
		t, err := epoch.ParseTime(flag)
		if err != nil {
			return t, usagef("efivars enroll: --time %q: want RFC 3339 (2026-01-02T15:04:05Z) or @UNIX seconds", flag)
		}
		return t, nil
	}
	if s := os.Getenv(epoch.Env); s != "" {
		t, err := epoch.Parse(s)
		if err != nil {
			return t, fmt.Errorf("efivars enroll: SOURCE_DATE_EPOCH=%q is not a number of seconds", s)
		}
		return t, nil
	}
	return set.Get(keys.PK).Cert.NotBefore.UTC(), nil
}

func newEfivarsDumpCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "dump FILE",
		Short: "List the variables of an OVMF variable store",
		Long: `dump lists every current variable of an edk2 variable store with its vendor
GUID, name, attributes, size and timestamp, and for PK, KEK, db and dbx the
signatures they hold (owner, certificate subject, SHA-256).`,
		Example: `  hardenvm efivars dump out/minimal/` + imagedir.Vars + `
  hardenvm efivars dump --json /usr/share/OVMF/OVMF_VARS_4M.ms.fd`,
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := efivars.DescribeFile(args[0])
			if err != nil {
				return err
			}
			return a.print(v, v.WriteText)
		},
	}
}
