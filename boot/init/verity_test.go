package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/pkg/verity"
)

// formatted writes data and its verity tree to files and returns a
// bootDisk over them (checkVerity reads partitions as files).
func formatted(t *testing.T, data []byte, p verity.Params) (*bootDisk, verity.Result) {
	t.Helper()
	dir := t.TempDir()
	var hash bytes.Buffer
	w := &bufAt{&hash}
	res, err := verity.Format(context.Background(), bytes.NewReader(data), int64(len(data)), w, p)
	if err != nil {
		t.Fatal(err)
	}
	rootPath, hashPath := filepath.Join(dir, "root"), filepath.Join(dir, "verity")
	os.WriteFile(rootPath, data, 0o644)
	os.WriteFile(hashPath, hash.Bytes(), 0o644)
	return &bootDisk{name: "test",
		root:   &partition{dev: rootPath, size: int64(len(data))},
		verity: &partition{dev: hashPath, size: int64(hash.Len())},
	}, res
}

type bufAt struct{ b *bytes.Buffer }

func (w *bufAt) WriteAt(p []byte, off int64) (int, error) {
	if need := int(off) + len(p); need > w.b.Len() {
		w.b.Write(make([]byte, need-w.b.Len()))
	}
	copy(w.b.Bytes()[off:], p)
	return len(p), nil
}

func TestCheckVerity(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 300*4096)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	d, res := formatted(t, data, verity.Params{})
	got, err := checkVerity(d, res.RootHash)
	if err != nil {
		t.Fatal(err)
	}
	if got.DataBlocks != 300 || got.HashStartBlock != 1 || !bytes.Equal(got.RootHash, res.RootHash) {
		t.Errorf("checkVerity = %+v", got)
	}

	wrong := bytes.Clone(res.RootHash)
	wrong[5] ^= 1
	if _, err := checkVerity(d, wrong); err == nil || !strings.Contains(err.Error(), "root hash mismatch") {
		t.Errorf("wrong root hash: %v", err)
	}
	if _, err := checkVerity(d, res.RootHash[:20]); err == nil || !strings.Contains(err.Error(), "20 bytes") {
		t.Errorf("short root hash: %v", err)
	}
	small := *d
	small.root = &partition{dev: d.root.dev, size: 4096}
	if _, err := checkVerity(&small, res.RootHash); err == nil || !strings.Contains(err.Error(), "covers") {
		t.Errorf("tree larger than the root partition: %v", err)
	}
	small = *d
	small.verity = &partition{dev: d.verity.dev, size: 4096}
	if _, err := checkVerity(&small, res.RootHash); err == nil || !strings.Contains(err.Error(), "needs") {
		t.Errorf("tree larger than the verity partition: %v", err)
	}

	// One data block: no tree levels, the root hash is the block's.
	one, res1 := formatted(t, data[:4096], verity.Params{})
	if _, err := checkVerity(one, res1.RootHash); err != nil {
		t.Errorf("one-block tree: %v", err)
	}
	// sha512 with a 64-byte root hash.
	d512, res512 := formatted(t, data[:8*4096], verity.Params{Algorithm: "sha512"})
	if _, err := checkVerity(d512, res512.RootHash); err != nil {
		t.Errorf("sha512 tree: %v", err)
	}
	// A damaged superblock.
	b, _ := os.ReadFile(d.verity.dev)
	b[0] = 'X'
	os.WriteFile(d.verity.dev, b, 0o644)
	if _, err := checkVerity(d, res.RootHash); err == nil || !strings.Contains(err.Error(), "superblock") {
		t.Errorf("bad superblock: %v", err)
	}
}
