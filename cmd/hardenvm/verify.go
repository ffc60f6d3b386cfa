package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hardenvm/hardenvm/pkg/imagedir"
)

func init() { register(newVerifyCmd) }

func newVerifyCmd(a *app) *cobra.Command {
	var tf trustFlags
	cmd := &cobra.Command{
		Use:   "verify DIR",
		Short: "Check an image directory's signature, artifact digests, verity tree and UKI signature",
		Long: `verify checks a built image directory offline, one line per check:

  bundle        ` + imagedir.Bundle + ` signs ` + imagedir.Manifest + ` (artifact-signing key)
  digest        every artifact the manifest lists has its SHA-256 and size
  verity        ` + imagedir.Disk + `'s root partition matches its verity tree and the root hash
  authenticode  ` + imagedir.UKI + ` is signed by the db certificate
  sbom          the SBOM lists every package of the manifest
  provenance    the signed SLSA provenance, when present, names every artifact
  config        the config partition's admin signature and blocks

If the bundle does not verify, nothing else is checked. It exits 1 naming
every artifact that failed.

Trust comes from the artifact-signing public key: --key PUB, or
DIR/signing.pub of a key set given with --keys DIR. Without either, the key
set in ./keys (where 'hardenvm keys init' and 'hardenvm build' put it) is
used when it exists. The UKI must be signed by the db certificate whose
SHA-256 the signed manifest names; --db-cert CRT (or db.crt of the key set)
also pins it to that certificate.`,
		Example: `  hardenvm verify out/minimal --keys keys
  hardenvm verify out/minimal --key vendor-signing.pub --db-cert vendor-db.crt
  hardenvm verify out/minimal --key signing.pub --json`,
		Args: exactArgs("DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := imagedir.CheckImageDir(args[0]); err != nil {
				return err
			}
			o, err := tf.options()
			if err != nil {
				return err
			}
			r, err := imagedir.Verify(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			if err := a.print(r, r.Print); err != nil {
				return err
			}
			if err := r.Err(); err != nil {
				return err
			}
			if !a.json {
				fmt.Fprintf(a.stdout, "verified %s\n", args[0])
			}
			return nil
		},
	}
	tf.register(cmd.Flags())
	return cmd
}

// trustFlags are the trust anchors of verify, run, push and pull.
type trustFlags struct{ files imagedir.TrustFiles }

func (t *trustFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&t.files.Key, "key", "", "artifact-signing public key (PEM), e.g. the publisher's signing.pub")
	fl.StringVar(&t.files.Keys, "keys", "", "key set directory: its signing.pub and db.crt are the trust anchors (default ./keys when it exists)")
	fl.StringVar(&t.files.DBCert, "db-cert", "", "the Secure Boot db certificate (PEM) the UKI must be signed by")
}

// options loads the trust anchors the flags name; naming none is a
// usage error.
func (t *trustFlags) options() (imagedir.Trust, error) {
	o, err := imagedir.LoadTrust(t.files)
	if errors.Is(err, imagedir.ErrNoTrustAnchor) {
		return o, usageError{err}
	}
	return o, err
}
