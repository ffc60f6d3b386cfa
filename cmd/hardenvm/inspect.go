package main

import (
	"github.com/spf13/cobra"

	"github.com/hardenvm/hardenvm/pkg/imagedir"
)

func init() { register(newInspectCmd) }

func newInspectCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect DIR|DISK",
		Short: "Show an image's partitions, root hash, UKI sections and signer",
		Example: `  hardenvm inspect out/minimal
  hardenvm inspect out/minimal/` + imagedir.Disk + ` --json`,
		Args: exactArgs("DIR|DISK"),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := imagedir.Inspect(args[0])
			if err != nil {
				return err
			}
			if err := a.print(r, r.Print); err != nil {
				return err
			}
			return r.Err() // damage is shown, then makes the command fail
		},
	}
}
