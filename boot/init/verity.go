package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"strings"

	"github.com/hardenvm/hardenvm/boot/init/internal/dm"
	"github.com/hardenvm/hardenvm/pkg/verity"
	"golang.org/x/sys/unix"
)

// rootName is the device-mapper name of the verified root.
const rootName = "root"

// mapped is the verity device stage 1 set up.
type mapped struct {
	name, dev string // "root", "/dev/mapper/root"
	table     string // as the kernel reports it
}

// checkVerity reads the root-verity superblock and checks it against the
// partitions and the root hash from the command line: the algorithm's
// digest length, that the tree covers data inside the root partition and
// fits in the verity partition, and that the top hash block hashes to the
// root hash. The kernel verifies every block below that as it reads; this
// check turns a wrong root hash into one clear message before anything is
// mapped.
func checkVerity(d *bootDisk, rootHash []byte) (verity.Result, error) {
	hf, err := os.Open(d.verity.dev)
	if err != nil {
		return verity.Result{}, err
	}
	defer hf.Close()
	sb, err := verity.ReadSuperblock(hf)
	if err != nil {
		return verity.Result{}, fmt.Errorf("%s: %w", d.verity.dev, err)
	}
	ds, err := verity.DigestSize(sb.Algorithm)
	if err != nil {
		return verity.Result{}, fmt.Errorf("%s: %w", d.verity.dev, err)
	}
	if ds != len(rootHash) {
		return verity.Result{}, fmt.Errorf("%s: verity tree uses %s (%d-byte digests) but hardenvm.roothash has %d bytes",
			d.verity.dev, sb.Algorithm, ds, len(rootHash))
	}
	g, err := sb.Geometry()
	if err != nil {
		return verity.Result{}, fmt.Errorf("%s: %w", d.verity.dev, err)
	}
	r, err := sb.Result(rootHash)
	if err != nil {
		return verity.Result{}, fmt.Errorf("%s: %w", d.verity.dev, err)
	}
	if g.DataSize() > d.root.size {
		return verity.Result{}, fmt.Errorf("%s: the verity tree covers %d bytes but the root partition %s has %d",
			d.verity.dev, g.DataSize(), d.root.dev, d.root.size)
	}
	if r.HashSize > d.verity.size {
		return verity.Result{}, fmt.Errorf("%s: the verity tree needs %d bytes but the partition has %d", d.verity.dev, r.HashSize, d.verity.size)
	}
	var newH func() hash.Hash
	switch sb.Algorithm {
	case "sha256":
		newH = sha256.New
	case "sha512":
		newH = sha512.New
	default:
		return verity.Result{}, fmt.Errorf("%s: unsupported verity algorithm %q", d.verity.dev, sb.Algorithm)
	}
	// The top block: the single block of the last level (stored first,
	// after the superblock), or the only data block of a one-block tree.
	src, off, size := hf, int64(g.HashBlockSize), g.HashBlockSize
	if len(g.Levels) == 0 {
		df, err := os.Open(d.root.dev)
		if err != nil {
			return verity.Result{}, err
		}
		defer df.Close()
		src, off, size = df, 0, g.DataBlockSize
	} else {
		off = int64(1+g.Levels[len(g.Levels)-1].Start) * int64(g.HashBlockSize)
	}
	block := make([]byte, size)
	if _, err := src.ReadAt(block, off); err != nil {
		return verity.Result{}, fmt.Errorf("reading the top of the verity tree: %w", err)
	}
	h := newH()
	h.Write(sb.Salt)
	h.Write(block)
	if got := h.Sum(nil); !bytes.Equal(got, rootHash) {
		return verity.Result{}, fmt.Errorf("root hash mismatch: the verity tree on %s has root hash %x, the signed command line says %x",
			d.verity.dev, got, rootHash)
	}
	return r, nil
}

// setupVerity checks the tree and maps the root through dm-verity,
// read-only, with the corruption policy, and reads the table back.
func setupVerity(d *bootDisk, rootHash []byte, policy string) (*mapped, error) {
	r, err := checkVerity(d, rootHash)
	if err != nil {
		return nil, err
	}
	dataDev, err := majMin(d.root.dev)
	if err != nil {
		return nil, err
	}
	hashDev, err := majMin(d.verity.dev)
	if err != nil {
		return nil, err
	}
	line := verity.Table(dataDev, hashDev, r, policy)
	f := strings.SplitN(line, " ", 4) // start, length, "verity", params
	var length uint64
	fmt.Sscan(f[1], &length)
	ctl, err := dm.Open()
	if err != nil {
		return nil, fmt.Errorf("device mapper (is dm_mod in the initramfs?): %w", err)
	}
	defer ctl.Close()
	dev, err := ctl.Create(rootName, "HARDENVM-VERITY-"+hex.EncodeToString(rootHash))
	if err != nil {
		return nil, err
	}
	if err := ctl.Load(rootName, true, []dm.Target{{Start: 0, Length: length, Type: f[2], Params: f[3]}}); err != nil {
		ctl.Remove(rootName)
		return nil, fmt.Errorf("%w (is dm_verity in the initramfs?)", err)
	}
	if err := ctl.Resume(rootName); err != nil {
		ctl.Remove(rootName)
		return nil, err
	}
	node := "/dev/mapper/" + rootName
	if err := unix.Mknod(node, unix.S_IFBLK|0o600, int(dev)); err != nil {
		return nil, fmt.Errorf("creating %s: %w", node, err)
	}
	ts, err := ctl.Table(rootName)
	if err != nil || len(ts) != 1 {
		return nil, fmt.Errorf("reading back the table of %s: %v (%d targets)", rootName, err, len(ts))
	}
	got := fmt.Sprintf("%d %d %s %s", ts[0].Start, ts[0].Length, ts[0].Type, ts[0].Params)
	if !strings.Contains(got, " "+hex.EncodeToString(rootHash)+" ") {
		return nil, fmt.Errorf("the kernel's table for %s does not carry the root hash: %s", rootName, got)
	}
	return &mapped{name: rootName, dev: node, table: got}, nil
}

func majMin(dev string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		return "", fmt.Errorf("stat %s: %w", dev, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return "", fmt.Errorf("%s is not a block device", dev)
	}
	return fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev)), nil
}
