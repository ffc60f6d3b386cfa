package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/hardenvm/hardenvm/pkg/attest"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/pcr"
	"github.com/hardenvm/hardenvm/pkg/verify"
)

func init() { register(newMeasureCmd) }

func newMeasureCmd(a *app) *cobra.Command {
	var events bool
	cmd := &cobra.Command{
		Use:   "measure DIR",
		Short: "Print the PCR values (sha256 bank) an image's boot must produce",
		Long: `measure predicts, from an image directory's own artifacts (uki.efi,
OVMF_VARS.fd and the root hash in manifest.json), every measurement its boot
makes into PCRs 4, 5, 7, 9, 11 and 15 and the values they reach:

  4   the firmware's boot-option action, separator, the UKI's Authenticode hash
  5   separator, the disk's GPT (as built: the first boot), ExitBootServices
  7   SecureBoot, PK, KEK, db, dbx as enrolled, separator, the db certificate
      that verifies the UKI
  9   the kernel EFI stub's command line (LoadOptions) and initrd events
  11  systemd-stub's UKI section measurements (name, then contents)
  15  hardenvm-init's root hash (and config root hash) and enter-userspace

The build writes the same prediction into manifest.json; measure says
whether the manifest agrees. With --events each event is listed with what
it stands for. PCRs 0-3 and 6 depend on the firmware and are recorded
from a known-good boot ('hardenvm attest --record-golden').`,
		Example: `  hardenvm measure out/minimal
  hardenvm measure out/minimal --events
  hardenvm measure out/minimal --json`,
		Args: exactArgs("DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := manifest.Load(args[0])
			if err != nil {
				return err
			}
			// A prediction from damaged or unsigned artifacts would
			// mislead: refuse what verify would refuse for its files,
			// before reading them.
			if err := verify.Artifacts(cmd.Context(), args[0], m); err != nil {
				return fmt.Errorf("measure: %w; see 'hardenvm verify %s'", err, args[0])
			}
			in, m, err := attest.Load(args[0])
			if err != nil {
				return err
			}
			p, err := pcr.Predict(in)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(p)
			}
			for _, i := range pcr.Predicted {
				k := strconv.Itoa(i)
				fmt.Fprintf(a.stdout, "PCR %2d  %s\n", i, p.Values[k])
				if !events {
					continue
				}
				for _, e := range p.Events {
					if e.PCR == i {
						fmt.Fprintf(a.stdout, "        %-32s %s  %s\n", e.Type, e.SHA256, e.What)
					}
				}
			}
			switch {
			case m.PCRs == nil:
				fmt.Fprintf(a.stdout, "manifest.json has no prediction (built before hardenvm measured images)\n")
			default:
				for _, i := range pcr.Predicted {
					k := strconv.Itoa(i)
					if m.PCRs.Values[k] != p.Values[k] {
						return fmt.Errorf("measure: %s: manifest.json predicts PCR %d = %s but the artifacts give %s: the directory was changed after the build",
							args[0], i, m.PCRs.Values[k], p.Values[k])
					}
				}
				fmt.Fprintf(a.stdout, "manifest.json agrees\n")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&events, "events", false, "list every predicted event with what it stands for")
	return cmd
}
