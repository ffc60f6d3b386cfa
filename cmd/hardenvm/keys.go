package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/hardenvm/hardenvm/pkg/keys"
)

func init() { register(newKeysCmd) }

func newKeysCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create and show the key set hardenvm signs with",
		Long: `The key set: Secure Boot PK, KEK and db (RSA-2048, X.509), the admin key
that signs the config partition, and the artifact-signing key (ECDSA P-256)
for sigstore bundles. Keep the directory private: private keys are 0600.`,
		Example: "  hardenvm keys init --keys keys\n  hardenvm keys show --keys keys --json",
		Args:    exactArgs(),
		RunE:    wantSubcommand,
	}
	var dir string
	cmd.PersistentFlags().StringVar(&dir, "keys", "keys", "key set directory")

	var force bool
	var org string
	initCmd := &cobra.Command{
		Use:     "init",
		Short:   "Generate a new key set",
		Example: "  hardenvm keys init --keys keys\n  hardenvm keys init --keys keys --org 'Example Corp' --force",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			a.log.Info("generating key set", "dir", dir)
			set, err := keys.Generate(keys.Options{Organization: org, Now: time.Now()})
			if err != nil {
				return err
			}
			if err := keys.Write(dir, set, force); err != nil {
				return err
			}
			v := set.View(dir)
			return a.print(v, v.WriteText)
		},
	}
	initCmd.Flags().BoolVar(&force, "force", false, "replace an existing key set (its keys are lost)")
	initCmd.Flags().StringVar(&org, "org", "hardenvm", "organisation named in the certificate subjects")

	showCmd := &cobra.Command{
		Use:     "show",
		Short:   "Print each key's role, algorithm and SHA-256 fingerprint",
		Example: "  hardenvm keys show --keys keys",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := keys.Load(dir)
			if err != nil {
				return err
			}
			v := set.View(dir)
			return a.print(v, v.WriteText)
		},
	}
	cmd.AddCommand(initCmd, showCmd)
	return cmd
}
