package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/hardenvm/hardenvm/internal/epoch"
	"github.com/hardenvm/hardenvm/pkg/adminsettings"
	"github.com/hardenvm/hardenvm/pkg/configimage"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/keys"
)

func init() { register(newConfigCmd) }

func newConfigCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Build, sign, verify and install the locked config partition (admin settings)",
		Long: `The config partition holds the admin settings (admin-settings.json, a Docker
Desktop compatible subset), the daemon.json and runtime policy generated from
them and the engine's TLS server material, as a read-only EROFS image with a
dm-verity tree whose root hash the admin key signs. The guest init verifies
it at boot with the admin certificate in the initramfs and mounts it
read-only; an admin replaces it without rebuilding or re-signing the OS.`,
		Example: `  hardenvm config build admin-settings.json -o config.img --tls keys/engine-tls
  hardenvm config sign config.img --keys keys
  hardenvm config verify config.img --keys keys
  hardenvm config install out/desktop config.img --keys keys`,
		RunE: wantSubcommand,
	}
	cmd.AddCommand(newConfigBuildCmd(a), newConfigSignCmd(a), newConfigVerifyCmd(a), newConfigInstallCmd(a), newConfigSchemaCmd(a))
	return cmd
}

func printConfig(a *app, im *configimage.Image, path, tlsDir string) error {
	info := im.Info(path, tlsDir)
	return a.print(info, info.Print)
}

func newConfigBuildCmd(a *app) *cobra.Command {
	var out, tlsDir, keyDir, epochFlag string
	var signIt bool
	cmd := &cobra.Command{
		Use:   "build SETTINGS -o config.img",
		Short: "Validate admin-settings.json and build a config partition image",
		Long: `build validates SETTINGS (refusing, with the key named, a TCP engine without
TLS client verification and options that would defeat the hardened runtime),
generates daemon.json and the runtime policy, and writes config.img: EROFS,
dm-verity tree, signature block. With --sign the admin key signs it at once.

When the settings put the engine on TCP, --tls names a directory with the
engine's TLS material; if it does not exist it is created: a CA (ca.pem,
ca-key.pem), the engine's server certificate for 127.0.0.1/localhost
(server-cert.pem, server-key.pem: these go into the image) and a client
certificate for the host (cert.pem, key.pem). Point the docker CLI at it
with DOCKER_CERT_PATH=DIR DOCKER_TLS_VERIFY=1.`,
		Example: `  hardenvm config build admin-settings.json -o config.img
  hardenvm config build admin-settings.json -o config.img --tls keys/engine-tls --sign --keys keys`,
		Args: exactArgs("SETTINGS"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("config build: --output (-o) config.img is required")
			}
			t, err := epoch.Flag(epochFlag)
			if err != nil {
				return usageError{err}
			}
			o := configimage.FileOptions{Settings: args[0], TLSDir: tlsDir, Epoch: t, Out: out}
			if signIt {
				if o.Admin, err = keys.LoadRole(keyDir, keys.Admin); err != nil {
					return err
				}
			}
			im, created, err := configimage.BuildFile(cmd.Context(), o)
			if errors.Is(err, configimage.ErrNeedsTLS) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			return printConfig(a, im, out, created)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "the config image to write")
	f.StringVar(&tlsDir, "tls", "", "engine TLS directory (needed when the settings have a tcp:// host; created when missing)")
	f.BoolVar(&signIt, "sign", false, "sign with the admin key at once")
	f.StringVar(&keyDir, "keys", "keys", "key set directory (for --sign)")
	f.StringVar(&epochFlag, "epoch", "", "timestamp of the files, seconds since 1970 (default $SOURCE_DATE_EPOCH, else 0)")
	return cmd
}

func newConfigSignCmd(a *app) *cobra.Command {
	var keyDir string
	cmd := &cobra.Command{
		Use:   "sign CONFIG.IMG",
		Short: "Sign a config image's root hash with the admin key (in place)",
		Long: `sign checks every block of the image against the root hash its signature
block states, then replaces the block with the admin key's ECDSA signature
over that root hash and the number of data blocks.`,
		Example: `  hardenvm config sign config.img --keys keys`,
		Args:    exactArgs("CONFIG.IMG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			admin, err := keys.LoadRole(keyDir, keys.Admin)
			if err != nil {
				return err
			}
			im, err := configimage.SignFile(cmd.Context(), args[0], admin)
			if err != nil {
				return err
			}
			return printConfig(a, im, args[0], "")
		},
	}
	cmd.Flags().StringVar(&keyDir, "keys", "keys", "key set directory (its admin.key signs)")
	return cmd
}

func newConfigVerifyCmd(a *app) *cobra.Command {
	var keyDir, certPath string
	cmd := &cobra.Command{
		Use:   "verify CONFIG.IMG|DISK|DIR",
		Short: "Check a config image's admin signature and every block against the signed root hash",
		Long: `verify checks a config image — a file, the config partition of a disk
image, or of an image directory's disk — with the admin certificate:
the signature over its root hash, then every data and hash block.`,
		Example: `  hardenvm config verify config.img --keys keys
  hardenvm config verify out/desktop --keys keys
  hardenvm config verify out/desktop/` + imagedir.Disk + ` --cert admin.crt --json`,
		Args: exactArgs("CONFIG.IMG|DISK|DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if certPath == "" {
				certPath = keys.PubPath(keyDir, keys.Admin)
			}
			im, name, err := imagedir.VerifyConfig(cmd.Context(), args[0], certPath)
			if err != nil {
				return err
			}
			return printConfig(a, im, name, "")
		},
	}
	cmd.Flags().StringVar(&keyDir, "keys", "keys", "key set directory (its admin.crt verifies)")
	cmd.Flags().StringVar(&certPath, "cert", "", "admin certificate (PEM) instead of --keys")
	return cmd
}

func newConfigInstallCmd(a *app) *cobra.Command {
	var keyDir string
	cmd := &cobra.Command{
		Use:   "install DIR CONFIG.IMG",
		Short: "Swap a signed config image into an image directory's disk",
		Long: `install verifies CONFIG.IMG with the admin certificate the image trusts,
writes it into the config partition of DIR/` + imagedir.Disk + ` (the rest of the
partition zeroed), and updates and re-signs DIR/` + imagedir.Manifest + ` with the
artifact-signing key. The ESP with the signed UKI, the root and its verity
tree and the partition table stay byte-identical. Boot the VM again to use
the new settings.

It is all or nothing: DIR must verify first (a damaged image is not
re-signed); the new directory is made beside DIR, verified, and swapped in
with one rename, so a failure, Ctrl-C or kill leaves DIR as it was.`,
		Example: `  hardenvm config install out/desktop config.img --keys keys`,
		Args:    exactArgs("DIR", "CONFIG.IMG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := imagedir.InstallFile(cmd.Context(), args[0], args[1], keyDir)
			if err != nil {
				return err
			}
			return a.print(m.Config, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "%s: config root hash %s installed; manifest re-signed\n", args[0], m.Config.RootHash)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&keyDir, "keys", "keys", "key set directory (admin.crt, signing.key)")
	return cmd
}

func newConfigSchemaCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "schema",
		Short:   "Print the JSON Schema of admin-settings.json (for editors)",
		Example: `  hardenvm config schema > admin-settings.schema.json`,
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := a.stdout.Write(adminsettings.Schema())
			return err
		},
	}
}
