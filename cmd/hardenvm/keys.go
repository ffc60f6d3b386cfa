package main

import (
	"fmt"
	"text/tabwriter"
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
			return showKeys(a, dir, set)
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
			return showKeys(a, dir, set)
		},
	}
	cmd.AddCommand(initCmd, showCmd)
	return cmd
}

type keyView struct {
	Role        string `json:"role"`
	Purpose     string `json:"purpose"`
	Algorithm   string `json:"algorithm"`
	Subject     string `json:"subject,omitempty"`
	Fingerprint string `json:"sha256"`
	File        string `json:"file"`
}

func showKeys(a *app, dir string, set *keys.Set) error {
	var views []keyView
	for _, r := range keys.Roles {
		k := set.Get(r)
		_, pub := keys.Files(r)
		v := keyView{Role: string(r), Purpose: r.Purpose(), Algorithm: k.Algorithm(), Fingerprint: k.Fingerprint(), File: pub}
		if k.Cert != nil {
			v.Subject = k.Cert.Subject.String()
		}
		views = append(views, v)
	}
	if a.json {
		return a.printJSON(struct {
			Dir   string    `json:"dir"`
			Owner string    `json:"ownerGUID"`
			Keys  []keyView `json:"keys"`
		}{dir, set.Owner.String(), views})
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ROLE\tALGORITHM\tSHA-256 FINGERPRINT\tPURPOSE\n")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Role, v.Algorithm, v.Fingerprint, v.Purpose)
	}
	fmt.Fprintf(tw, "owner GUID: %s\n", set.Owner.String())
	return tw.Flush()
}
