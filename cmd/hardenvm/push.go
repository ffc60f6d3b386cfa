package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hardenvm/hardenvm/internal/tty"
	"github.com/hardenvm/hardenvm/pkg/oci"
)

func init() {
	register(newPushCmd)
	register(newPullCmd)
}

const registryHelp = `
The image travels as one OCI artifact (artifactType
application/vnd.hardenvm.image.v1): the manifest and every artifact it
lists as layers titled with their file names (the disk zstd-compressed),
and the sigstore bundle attached as an OCI referrer (artifactType
application/vnd.dev.sigstore.bundle.v0.3+json; registries without the
referrers API get go-containerregistry's sha256-<digest> fallback tag).
Credentials come from the docker config.json ($DOCKER_CONFIG or
~/.docker) and its credential helpers, as 'docker login' leaves them.
Registries are spoken to over HTTPS; plain HTTP only to loopback
addresses, or to any registry with --plain-http (credentials then cross
the network in clear). --ca-cert FILE trusts a private CA besides the
system's. A registry that does not connect within 30 s or stops answering
for 60 s fails, named.

The trust anchors are those of 'hardenvm verify': --key PUB or --keys DIR
(default ./keys when it exists), and optionally --db-cert CRT.`

func newPushCmd(a *app) *cobra.Command {
	var rf registryFlags
	cmd := &cobra.Command{
		Use:   "push DIR REF",
		Short: "Verify an image directory and push it, with its signature, to an OCI registry",
		Long: `push verifies the image directory DIR (as 'hardenvm verify' does) and
refuses to publish one that fails; then it uploads it to REF.
` + registryHelp,
		Example: `  hardenvm push out/minimal registry.example.com/desktop/vm:1.0 --keys keys
  hardenvm push out/minimal 127.0.0.1:5000/hardenvm/minimal:dev --key keys/signing.pub`,
		Args: exactArgs("DIR", "REF"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := rf.options(a)
			if err != nil {
				return err
			}
			res, err := oci.Push(cmd.Context(), args[0], args[1], o)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(res)
			}
			fmt.Fprintf(a.stdout, "pushed %s (%s), signature %s\n", res.Ref, res.Digest, res.Signature)
			return nil
		},
	}
	rf.register(cmd.Flags())
	return cmd
}

func newPullCmd(a *app) *cobra.Command {
	var rf registryFlags
	cmd := &cobra.Command{
		Use:   "pull REF DIR",
		Short: "Pull a signed image from an OCI registry into a directory, verifying it first",
		Long: `pull downloads the image at REF into the image directory DIR. The sigstore
bundle is checked against the manifest before anything else is
downloaded, every artifact against the signed manifest while it
downloads, and the whole image (verity tree, UKI signature) before DIR
is written: a pull that fails verification writes nothing. DIR must not
exist, or be an image directory, which is then replaced as a whole.
` + registryHelp,
		Example: `  hardenvm pull registry.example.com/desktop/vm:1.0 vm --key vendor-signing.pub
  hardenvm pull 127.0.0.1:5000/hardenvm/minimal@sha256:… out/minimal --keys keys --json`,
		Args: exactArgs("REF", "DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := rf.options(a)
			if err != nil {
				return err
			}
			res, rep, err := oci.Pull(cmd.Context(), args[0], args[1], o)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(struct {
					*oci.Result
					Verify any `json:"verify"`
				}{res, rep})
			}
			if err := rep.Print(a.stdout); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "pulled %s (%s) into %s, verified\n", res.Ref, res.Digest, args[1])
			return nil
		},
	}
	rf.register(cmd.Flags())
	return cmd
}

// registryFlags are the flags of push and pull: the trust anchors and the
// registry connection.
type registryFlags struct {
	trust     trustFlags
	plainHTTP bool
	caCert    string
}

func (f *registryFlags) register(fl *pflag.FlagSet) {
	f.trust.register(fl)
	fl.BoolVar(&f.plainHTTP, "plain-http", false, "allow plain HTTP to a registry that is not on loopback (credentials travel in clear)")
	fl.StringVar(&f.caCert, "ca-cert", "", "PEM file of CA certificates to trust besides the system's (a registry with a private CA)")
}

func (f *registryFlags) options(a *app) (oci.Options, error) {
	t, err := f.trust.options()
	return oci.Options{Trust: t, Log: a.log, PlainHTTP: f.plainHTTP, CACert: f.caCert, Steps: &tty.Steps{W: tty.Terminal(a.stderr)}}, err
}
