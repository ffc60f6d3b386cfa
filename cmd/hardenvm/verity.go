package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/pkg/verity"
	"github.com/spf13/cobra"
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

// verityInfo is the --json form of a hash tree's description.
type verityInfo struct {
	RootHash       string `json:"rootHash,omitempty"`
	Salt           string `json:"salt"`
	UUID           string `json:"uuid"`
	Algorithm      string `json:"algorithm"`
	HashType       int    `json:"hashType"`
	DataBlocks     uint64 `json:"dataBlocks"`
	DataBlockSize  int    `json:"dataBlockSize"`
	HashBlocks     uint64 `json:"hashBlocks"`
	HashBlockSize  int    `json:"hashBlockSize"`
	HashStartBlock uint64 `json:"hashStartBlock"`
	HashSize       int64  `json:"hashSize"`
}

func newVerityInfo(r verity.Result) verityInfo {
	return verityInfo{RootHash: hex.EncodeToString(r.RootHash), Salt: hex.EncodeToString(r.Salt),
		UUID: verity.FormatUUID(r.UUID), Algorithm: r.Algorithm, HashType: 1,
		DataBlocks: r.DataBlocks, DataBlockSize: r.DataBlockSize, HashBlocks: r.HashBlocks,
		HashBlockSize: r.HashBlockSize, HashStartBlock: r.HashStartBlock, HashSize: r.HashSize}
}

// printVerityInfo prints v in veritysetup's layout, or as JSON.
func printVerityInfo(a *app, v verityInfo) error {
	if a.json {
		return a.printJSON(v)
	}
	salt := v.Salt
	if salt == "" {
		salt = "-"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "UUID:             %s\n", v.UUID)
	fmt.Fprintf(&b, "Hash type:        %d\n", v.HashType)
	fmt.Fprintf(&b, "Data blocks:      %d\n", v.DataBlocks)
	fmt.Fprintf(&b, "Data block size:  %d\n", v.DataBlockSize)
	fmt.Fprintf(&b, "Hash blocks:      %d\n", v.HashBlocks)
	fmt.Fprintf(&b, "Hash block size:  %d\n", v.HashBlockSize)
	fmt.Fprintf(&b, "Hash algorithm:   %s\n", v.Algorithm)
	fmt.Fprintf(&b, "Salt:             %s\n", salt)
	fmt.Fprintf(&b, "Hash device size: %d [bytes]\n", v.HashSize)
	if v.RootHash != "" {
		fmt.Fprintf(&b, "Root hash:        %s\n", v.RootHash)
	}
	_, err := io.WriteString(a.stdout, b.String())
	return err
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
			if cmd.Flags().Changed("salt") {
				salt, err := parseSalt(saltHex)
				if err != nil {
					return err
				}
				p.Salt = salt
			}
			if uuidStr != "" {
				u, err := verity.ParseUUID(uuidStr)
				if err != nil {
					return usagef("--uuid: %v", err)
				}
				p.UUID = u
			}
			dataPath, hashPath := args[0], args[1]
			data, size, err := openSized(dataPath)
			if err != nil {
				return err
			}
			defer data.Close()
			out, err := atomicfile.Create(hashPath, 0o644)
			if err != nil {
				return err
			}
			defer out.Abort()
			start := time.Now()
			res, err := verity.Format(cmd.Context(), data, size, out, p)
			if err != nil {
				return fmt.Errorf("%s: %w", dataPath, err)
			}
			if err := out.Commit(); err != nil {
				return err
			}
			a.log.Info("verity format", "data", dataPath, "hash", hashPath, "blocks", res.DataBlocks,
				"root", hex.EncodeToString(res.RootHash), "elapsed", time.Since(start))
			return printVerityInfo(a, newVerityInfo(res))
		},
	}
	cmd.Flags().StringVar(&saltHex, "salt", "", `salt in hex, at most 256 bytes; "-" for none (default: derived from DATA)`)
	cmd.Flags().StringVar(&uuidStr, "uuid", "", "UUID of the superblock (default: derived from salt and root hash)")
	return cmd
}

// parseSalt reads --salt. Bad hex is a usage error; a salt that cannot fit
// in the superblock is a plain failure (exit 1), like a bad superblock.
func parseSalt(s string) ([]byte, error) {
	if s == "-" {
		return []byte{}, nil
	}
	salt, err := hex.DecodeString(s)
	if err != nil {
		return nil, usagef("--salt %q: want hex digits (or - for no salt): %v", s, err)
	}
	if len(salt) > verity.MaxSaltSize {
		return nil, fmt.Errorf("--salt: %w: got %d bytes", verity.ErrSaltTooLong, len(salt))
	}
	return salt, nil
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
			dataPath, hashPath := args[0], args[1]
			root, err := hex.DecodeString(strings.TrimSpace(args[2]))
			if err != nil || len(root) == 0 {
				return usagef("ROOTHASH %q: want the root hash in hex", args[2])
			}
			data, dataSize, err := openSized(dataPath)
			if err != nil {
				return err
			}
			defer data.Close()
			hash, hashSize, err := openSized(hashPath)
			if err != nil {
				return err
			}
			defer hash.Close()
			start := time.Now()
			res, err := verity.Verify(cmd.Context(), data, dataSize, hash, hashSize, root)
			if err != nil {
				return fmt.Errorf("%s with %s: %w", dataPath, hashPath, err)
			}
			a.log.Info("verity verify", "data", dataPath, "hash", hashPath, "blocks", res.DataBlocks, "elapsed", time.Since(start))
			if a.json {
				return a.printJSON(newVerityInfo(res))
			}
			_, err = fmt.Fprintf(a.stdout, "ok: %s verified: %d data blocks of %d bytes, root hash %x\n",
				dataPath, res.DataBlocks, res.DataBlockSize, res.RootHash)
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
			f, size, err := openSized(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			sb, err := verity.ReadSuperblock(f)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			res, err := sb.Result(nil)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			info := newVerityInfo(res)
			if size < info.HashSize {
				return fmt.Errorf("%s: hash file %w: %d bytes, but its superblock describes a tree of %d bytes",
					args[0], verity.ErrTruncated, size, info.HashSize)
			}
			return printVerityInfo(a, info)
		},
	}
}

// openSized opens a file or block device for reading and returns its size
// (by seeking to the end: stat reports 0 for a block device).
func openSized(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("%s: finding its size: %w", path, err)
	}
	return f, size, nil
}
