package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hardenvm/hardenvm/pkg/inspect"
)

func init() { register(newInspectCmd) }

func newInspectCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect DIR|DISK",
		Short: "Show an image's partitions, root hash, UKI sections and signer",
		Example: `  hardenvm inspect out/minimal
  hardenvm inspect out/minimal/disk.raw --json`,
		Args: exactArgs("DIR|DISK"),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := inspect.Inspect(args[0])
			if err != nil {
				return err
			}
			// Damage is shown, then makes the command fail.
			damaged := func() error {
				if len(r.Problems) == 0 {
					return nil
				}
				return fmt.Errorf("inspect: %s", strings.Join(r.Problems, "; "))
			}
			if a.json {
				if err := a.printJSON(r); err != nil {
					return err
				}
				return damaged()
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "disk\t%s (GUID %s)\n", r.Disk, r.DiskGUID)
			fmt.Fprintf(w, "#\tROLE\tOFFSET\tSIZE\tRO\tTYPE\tUUID\n")
			for _, p := range r.Partitions {
				fmt.Fprintf(w, "%d\t%s\t%d\t%d\t%v\t%s\t%s\n", p.Number, p.Role, p.Offset, p.Size, p.ReadOnly, p.Type, p.GUID)
			}
			if r.RootHash != "" {
				fmt.Fprintf(w, "root hash\t%s\n", r.RootHash)
			}
			if r.Verity != nil {
				fmt.Fprintf(w, "verity\t%s, %d data blocks of %d bytes, salt %s\n", r.Verity.Algorithm, r.Verity.DataBlocks, r.Verity.DataBlockSize, r.Verity.Salt)
			}
			if u := r.UKI; u != nil {
				fmt.Fprintf(w, "uki\t%s (authenticode sha256 %s)\n", u.Path, u.Digest)
				fmt.Fprintf(w, "SECTION\tVSIZE\tSHA256\n")
				for _, s := range u.Sections {
					fmt.Fprintf(w, "%s\t%d\t%s\n", s.Name, s.VirtualSize, s.SHA256)
				}
				if len(u.Signers) == 0 {
					fmt.Fprintf(w, "signer\tNONE: the UKI is not signed\n")
				}
				for _, s := range u.Signers {
					fmt.Fprintf(w, "signer\t%s (sha256 %s)\n", s.Subject, s.SHA256)
				}
				fmt.Fprintf(w, "cmdline\t%s\n", r.Cmdline())
			}
			for _, p := range r.Problems {
				fmt.Fprintf(w, "DAMAGED\t%s\n", p)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			return damaged()
		},
	}
}
