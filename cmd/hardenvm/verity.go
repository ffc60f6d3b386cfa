package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hardenvm/hardenvm/pkg/verity"
	"github.com/hardenvm/hardenvm/pkg/verity/veritysetup"
)

func init() { register(newVerityCmd) }

func newVerityCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verity",
		Short: "Make, check and inspect dm-verity hash trees (byte-compatible with veritysetup)",
		Example: `  hardenvm verity format root.img root.verity
  hardenvm verity verify root.img root.verity 6f1c…e2
  hardenvm verity dump root.verity`,
		// Reached only without a known subcommand.
		RunE: wantSubcommand,
	}
	cmd.AddCommand(newVerityFormatCmd(a), newVerityVerifyCmd(a), newVerityDumpCmd(a))
	return cmd
}

func newVerityFormatCmd(a *app) *cobra.Command {
	var saltHex, uuidStr string
	cmd := &cobra.Command{
		Use:   "format DATA HASHFILE",
		Short: "Compute the hash tree of DATA and write superblock and tree to HASHFILE",
		Long: `format writes the dm-verity hash tree of DATA to HASHFILE, exactly as
'veritysetup format' would with the same salt and UUID (sha256, 4096-byte
blocks, format 1), and prints the root hash.

Without --salt and --uuid both are derived from the content (see
'go doc github.com/hardenvm/hardenvm/pkg/verity'), so the same DATA always
gives the same HASHFILE and root hash. DATA must be a whole number of
4096-byte blocks. HASHFILE appears only once it is complete.`,
		Example: `  hardenvm verity format root.img root.verity
  hardenvm verity format --salt 00112233 --uuid 4f0f1a2b-0000-4000-8000-000000000001 root.img root.verity
  hardenvm verity format --json root.img root.verity`,
		Args: exactArgs("DATA", "HASHFILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p verity.Params
			var err error
			if cmd.Flags().Changed("salt") {
				p.Salt, err = veritysetup.ParseSalt(saltHex)
				if errors.Is(err, verity.ErrSaltTooLong) {
					return fmt.Errorf("--salt: %w", err)
				} else if err != nil {
					return usagef("--salt %q: %v", saltHex, err)
				}
			}
			if uuidStr != "" {
				if p.UUID, err = verity.ParseUUID(uuidStr); err != nil {
					return usagef("--uuid: %v", err)
				}
			}
			start := time.Now()
			res, err := veritysetup.Format(cmd.Context(), args[0], args[1], p)
			if err != nil {
				return err
			}
			a.log.Info("verity format", "data", args[0], "hash", args[1], "blocks", res.DataBlocks,
				"root", hex.EncodeToString(res.RootHash), "elapsed", time.Since(start))
			v := veritysetup.InfoOf(res)
			return a.print(v, v.WriteText)
		},
	}
	cmd.Flags().StringVar(&saltHex, "salt", "", `salt in hex, at most 256 bytes; "-" for none (default: derived from DATA)`)
	cmd.Flags().StringVar(&uuidStr, "uuid", "", "UUID of the superblock (default: derived from salt and root hash)")
	return cmd
}

func newVerityVerifyCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "verify DATA HASHFILE ROOTHASH",
		Short: "Check DATA and its hash tree against a trusted root hash",
		Long: `verify checks every hash block of HASHFILE and every data block of DATA
against ROOTHASH (hex), top down as the kernel does, and names the first
block that fails: a data block of DATA or a hash block of HASHFILE. It
accepts trees made by 'veritysetup format' as well as by 'hardenvm verity
format'.`,
		Example: `  hardenvm verity verify root.img root.verity 6f1ca0…e2
  hardenvm verity verify --json root.img root.verity "$(cat roothash)"`,
		Args: exactArgs("DATA", "HASHFILE", "ROOTHASH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, err := hex.DecodeString(strings.TrimSpace(args[2]))
			if err != nil || len(root) == 0 {
				return usagef("ROOTHASH %q: want the root hash in hex", args[2])
			}
			start := time.Now()
			res, err := veritysetup.Verify(cmd.Context(), args[0], args[1], root)
			if err != nil {
				return err
			}
			a.log.Info("verity verify", "data", args[0], "hash", args[1], "blocks", res.DataBlocks, "elapsed", time.Since(start))
			if a.json {
				return a.printJSON(veritysetup.InfoOf(res))
			}
			_, err = fmt.Fprintf(a.stdout, "ok: %s verified: %d data blocks of %d bytes, root hash %x\n",
				args[0], res.DataBlocks, res.DataBlockSize, res.RootHash)
			return err
		},
	}
}

func newVerityDumpCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "dump HASHFILE",
		Short: "Print the superblock of a hash file",
		Long: `dump prints the verity superblock at the start of HASHFILE and the tree size
it implies, and fails if HASHFILE is too short for that tree. The root hash
is not stored in the file; it comes from the format step.`,
		Example: `  hardenvm verity dump root.verity
  hardenvm verity dump --json root.verity`,
		Args: exactArgs("HASHFILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			info, err := veritysetup.Dump(args[0])
			if err != nil {
				return err
			}
			return a.print(info, info.WriteText)
		},
	}
}
