// Package veritysetup does with files and block devices what the
// veritysetup tool does: format a hash tree, verify data against a root
// hash, and dump a hash file's superblock, printed in veritysetup's layout.
// The trees themselves are package verity's; this package opens the paths
// and describes the results (it is kept apart so that the guest init,
// which links verity, stays as it is).
package veritysetup

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/pkg/verity"
)

// Info describes a hash tree as `veritysetup dump` does, with the root hash
// when it is known. WriteText prints it in veritysetup's layout; its JSON
// form is the struct itself.
type Info struct {
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

// InfoOf describes r.
func InfoOf(r verity.Result) Info {
	return Info{RootHash: hex.EncodeToString(r.RootHash), Salt: hex.EncodeToString(r.Salt),
		UUID: verity.FormatUUID(r.UUID), Algorithm: r.Algorithm, HashType: 1,
		DataBlocks: r.DataBlocks, DataBlockSize: r.DataBlockSize, HashBlocks: r.HashBlocks,
		HashBlockSize: r.HashBlockSize, HashStartBlock: r.HashStartBlock, HashSize: r.HashSize}
}

// WriteText prints v in the layout of `veritysetup format` and `dump`.
func (v Info) WriteText(w io.Writer) error {
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
	_, err := io.WriteString(w, b.String())
	return err
}

// ParseSalt reads a salt in hex, or "-" for none (an empty, non-nil salt).
// A salt too long for the superblock is verity.ErrSaltTooLong.
func ParseSalt(s string) ([]byte, error) {
	if s == "-" {
		return []byte{}, nil
	}
	salt, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("want hex digits (or - for no salt): %w", err)
	}
	if len(salt) > verity.MaxSaltSize {
		return nil, fmt.Errorf("%w: got %d bytes", verity.ErrSaltTooLong, len(salt))
	}
	return salt, nil
}

// Format writes the hash tree of the file or block device at dataPath to
// hashPath, which appears only once it is complete.
func Format(ctx context.Context, dataPath, hashPath string, p verity.Params) (verity.Result, error) {
	data, size, err := openSized(dataPath)
	if err != nil {
		return verity.Result{}, err
	}
	defer data.Close()
	out, err := atomicfile.Create(hashPath, 0o644)
	if err != nil {
		return verity.Result{}, err
	}
	defer out.Abort()
	res, err := verity.Format(ctx, data, size, out, p)
	if err != nil {
		return verity.Result{}, fmt.Errorf("%s: %w", dataPath, err)
	}
	if err := out.Commit(); err != nil {
		return verity.Result{}, err
	}
	return res, nil
}

// Verify checks the data at dataPath and the hash tree at hashPath against
// rootHash, as verity.Verify does.
func Verify(ctx context.Context, dataPath, hashPath string, rootHash []byte) (verity.Result, error) {
	data, dataSize, err := openSized(dataPath)
	if err != nil {
		return verity.Result{}, err
	}
	defer data.Close()
	hash, hashSize, err := openSized(hashPath)
	if err != nil {
		return verity.Result{}, err
	}
	defer hash.Close()
	res, err := verity.Verify(ctx, data, dataSize, hash, hashSize, rootHash)
	if err != nil {
		return verity.Result{}, fmt.Errorf("%s with %s: %w", dataPath, hashPath, err)
	}
	return res, nil
}

// Dump describes the hash tree at path from its superblock (without
// the root hash, which the file does not hold). It fails when the file is
// shorter than the tree the superblock describes.
func Dump(path string) (Info, error) {
	f, size, err := openSized(path)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	sb, err := verity.ReadSuperblock(f)
	if err != nil {
		return Info{}, fmt.Errorf("%s: %w", path, err)
	}
	res, err := sb.Result(nil)
	if err != nil {
		return Info{}, fmt.Errorf("%s: %w", path, err)
	}
	if size < res.HashSize {
		return Info{}, fmt.Errorf("%s: hash file %w: %d bytes, but its superblock describes a tree of %d bytes",
			path, verity.ErrTruncated, size, res.HashSize)
	}
	return InfoOf(res), nil
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
