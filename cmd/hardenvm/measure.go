package main

import (
	"github.com/spf13/cobra"

	"github.com/hardenvm/hardenvm/pkg/imagedir"
)

func init() { register(newMeasureCmd) }

func newMeasureCmd(a *app) *cobra.Command {
	var events bool
	cmd := &cobra.Command{
		Use:   "measure DIR",
		Short: "Print the PCR values (sha256 bank) an image's boot must produce",
		Long: `measure predicts, from an image directory's own artifacts (` + imagedir.UKI + `,
` + imagedir.Vars + ` and the root hash in ` + imagedir.Manifest + `), every measurement its boot
makes into PCRs 4, 5, 7, 9, 11 and 15 and the values they reach:

  4   the firmware's boot-option action, separator, the UKI's Authenticode hash
  5   separator, the disk's GPT (as built: the first boot), ExitBootServices
  7   SecureBoot, PK, KEK, db, dbx as enrolled, separator, the db certificate
      that verifies the UKI
  9   the kernel EFI stub's command line (LoadOptions) and initrd events
  11  systemd-stub's UKI section measurements (name, then contents)
  15  hardenvm-init's root hash (and config root hash) and enter-userspace

The build writes the same prediction into the manifest; measure says
whether the manifest agrees. With --events each event is listed with what
it stands for. PCRs 0-3 and 6 depend on the firmware and are recorded
from a known-good boot ('hardenvm attest --record-golden').`,
		Example: `  hardenvm measure out/minimal
  hardenvm measure out/minimal --events
  hardenvm measure out/minimal --json`,
		Args: exactArgs("DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := imagedir.Measure(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(m.PCRs)
			}
			if err := m.Print(a.stdout, events); err != nil {
				return err
			}
			return m.Err()
		},
	}
	cmd.Flags().BoolVar(&events, "events", false, "list every predicted event with what it stands for")
	return cmd
}
