package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hardenvm/hardenvm/internal/version"
)

func init() { register(newVersionCmd) }

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version and VCS commit of this binary",
		Example: "  hardenvm version\n  hardenvm --version\n  hardenvm version --json",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			v := version.Get()
			if a.json {
				return a.printJSON(v)
			}
			_, err := fmt.Fprintf(a.stdout, "hardenvm %s %s %s\n", v, v.Module, v.Go)
			return err
		},
	}
}
