package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/pkg/gpt"
)

// configPartitionName is the config partition's GPT name (pkg/disk writes it).
const configPartitionName = bootparams.PartitionConfig

// partition is a partition found on the boot disk.
type partition struct {
	gpt.Partition
	dev  string // /dev/vda2
	size int64  // bytes
}

// bootDisk is the disk holding the root named by the command line.
type bootDisk struct {
	name                 string // vda
	root, verity, config *partition
}

// mismatchGrace is how long the search goes on after it has seen a disk
// with hardenvm root partitions that all have other UUIDs: another disk
// may still appear, but usually the command line and disk just don't
// belong together, and the message should come quickly.
const mismatchGrace = 3 * time.Second

// findPartitions waits (at most timeout) for a disk whose GPT has a root
// partition and a root-verity partition with the UUIDs the root hash
// gives, and for their device nodes.
func findPartitions(rootHash []byte, timeout time.Duration) (*bootDisk, error) {
	dataGUID, hashGUID, err := gpt.VerityGUIDs(rootHash)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	deadline := start.Add(timeout)
	var mismatch string
	var lastErr error
	for {
		found, seen, err := scanDisks(dataGUID, hashGUID)
		switch {
		case err != nil:
			lastErr = err
		case len(found) > 1:
			return nil, fmt.Errorf("root partition %s is on more than one disk (%s): refusing to choose", dataGUID, strings.Join(found, ", "))
		case len(found) == 1:
			d, err := openBootDisk(found[0], dataGUID, hashGUID)
			if err == nil {
				say("found root %s and verity %s on %s after %v", d.root.dev, d.verity.dev, d.name, time.Since(start).Round(time.Millisecond))
				return d, nil
			}
			lastErr = err
		}
		if seen != "" && mismatch == "" {
			mismatch = seen
			if d := time.Now().Add(mismatchGrace); d.Before(deadline) {
				deadline = d
			}
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	switch {
	case mismatch != "":
		return nil, fmt.Errorf("no root partition with UUID %s (from hardenvm.roothash): %s; the disk does not belong to this signed kernel command line", dataGUID, mismatch)
	case lastErr != nil:
		return nil, fmt.Errorf("no root partition with UUID %s after %v: %w", dataGUID, timeout, lastErr)
	}
	return nil, fmt.Errorf("no disk with a root partition %s and root-verity partition %s appeared within %v", dataGUID, hashGUID, timeout)
}

// ownRoot are the root partition types of the architecture this init was
// built for: an image's disk carries its own architecture's
// (gpt.RootTypesOf; the build refuses other architectures).
var ownRoot, _ = gpt.RootTypesOf(runtime.GOARCH)

// scanDisks reads the GPT of every whole disk. It returns the disks with
// a matching root partition, and a description of hardenvm root
// partitions seen with other UUIDs.
func scanDisks(dataGUID, hashGUID gpt.GUID) (found []string, mismatch string, err error) {
	ents, err := os.ReadDir("/sys/block")
	if err != nil {
		return nil, "", err
	}
	var other []string
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, "dm-") || strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") {
			continue
		}
		t, err := readTable("/dev/" + name)
		if err != nil {
			continue // not there yet, or no GPT
		}
		match := false
		for _, p := range t.Partitions {
			if p.Type == ownRoot.Root {
				if p.GUID == dataGUID {
					match = true
				} else {
					other = append(other, fmt.Sprintf("%s partition %d has UUID %s", name, p.Number, p.GUID))
				}
			}
		}
		if match {
			found = append(found, name)
		}
	}
	return found, strings.Join(other, ", "), nil
}

func readTable(dev string) (*gpt.Table, error) {
	f, err := os.Open(dev)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	return gpt.Read(f, size)
}

// openBootDisk finds the partitions' device nodes on disk name.
func openBootDisk(name string, dataGUID, hashGUID gpt.GUID) (*bootDisk, error) {
	t, err := readTable("/dev/" + name)
	if err != nil {
		return nil, err
	}
	d := &bootDisk{name: name}
	nodes, err := partitionNodes(name)
	if err != nil {
		return nil, err
	}
	pick := func(what string, ok func(gpt.Partition) bool) (*partition, error) {
		var out *partition
		for _, p := range t.Partitions {
			if !ok(p) {
				continue
			}
			if out != nil {
				return nil, fmt.Errorf("%s has more than one %s partition", name, what)
			}
			node, ok := nodes[p.Number]
			if !ok {
				return nil, fmt.Errorf("%s partition %d has no device node yet", name, p.Number)
			}
			out = &partition{Partition: p, dev: node,
				size: int64(p.LastLBA-p.FirstLBA+1) * int64(t.SectorSize)}
		}
		return out, nil
	}
	if d.root, err = pick("root", func(p gpt.Partition) bool { return p.Type == ownRoot.Root && p.GUID == dataGUID }); err != nil {
		return nil, err
	}
	if d.verity, err = pick("root-verity", func(p gpt.Partition) bool {
		return p.Type == ownRoot.Verity && p.GUID == hashGUID
	}); err != nil {
		return nil, err
	}
	if d.verity == nil {
		return nil, fmt.Errorf("%s has the root partition but no root-verity partition with UUID %s", name, hashGUID)
	}
	if d.config, err = pick("config", func(p gpt.Partition) bool { return p.Name == configPartitionName }); err != nil {
		return nil, err
	}
	for _, p := range []*partition{d.root, d.verity, d.config} {
		if p == nil {
			continue
		}
		if err := checkNodeSize(p); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// partitionNodes maps partition numbers of disk to their /dev nodes,
// from sysfs (/sys/block/vda/vda2/partition holds "2").
func partitionNodes(disk string) (map[int]string, error) {
	ents, err := os.ReadDir(filepath.Join("/sys/block", disk))
	if err != nil {
		return nil, err
	}
	out := map[int]string{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/sys/block", disk, e.Name(), "partition"))
		if err != nil {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			continue
		}
		node := "/dev/" + e.Name()
		if _, err := os.Stat(node); err != nil {
			continue
		}
		out[n] = node
	}
	return out, nil
}

// checkNodeSize makes sure the kernel's partition is the one the table
// describes.
func checkNodeSize(p *partition) error {
	f, err := os.Open(p.dev)
	if err != nil {
		return err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if size != p.size {
		return fmt.Errorf("%s is %d bytes, the partition table says %d", p.dev, size, p.size)
	}
	return nil
}
