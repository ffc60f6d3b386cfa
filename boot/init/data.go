package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/pkg/gpt"
	"golang.org/x/sys/unix"
)

// The data partition holds the VM's writable state. It is not verified
// (it is written at run time) and nothing from it is executed by the init;
// it is mounted nosuid,nodev.

const (
	// minDataSize is the smallest data partition worth creating.
	minDataSize = 32 << 20
	alignLBA    = 2048 // 1 MiB
	// blkpg is BLKPG from linux/fs.h (_IO(0x12, 105)).
	blkpg = 0x1269
)

// diskEnv passes the boot disk's name ("vda") from stage 1 to stage 2.
const diskEnv = "HARDENVM_DISK"

// dataMounts are what setupData mounted, for the shutdown.
var dataMounts []string

// setupData finds where the VM keeps its state — the data disk that
// hardenvm run attaches (virtio serial bootparams.DataDiskSerial, used
// whole), else a data partition on the boot disk, created in the free
// space after the last partition — formats it if it holds no ext2/3/4
// file system, mounts it at bootparams.DataMount, and bind-mounts a
// directory of it over each of dirs. Without either (a boot disk without
// free space) the VM keeps no state, and says so.
func setupData(disk string, dirs []string) error {
	dev, kind := findDataDisk(), "disk"
	if dev == "" {
		kind = "partition"
		var err error
		if dev, err = dataPartition(disk); err != nil || dev == "" {
			return err
		}
	}
	if ok, err := hasExtFS(dev); err != nil {
		return err
	} else if !ok {
		if err := mkfs(dev); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(bootparams.DataMount, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(dev, bootparams.DataMount, "ext4", unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("mounting the data %s %s: %w", kind, dev, err)
	}
	dataMounts = append(dataMounts, bootparams.DataMount)
	say("data %s %s mounted on %s", kind, dev, bootparams.DataMount)
	for _, d := range dirs {
		src := filepath.Join(bootparams.DataMount, d)
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			say("WARNING: data directory %s does not exist in the root: not mounted", d)
			continue
		}
		if err := os.MkdirAll(src, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(src, d, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind-mounting %s: %w", d, err)
		}
		dataMounts = append(dataMounts, d)
		if err := unix.Mount("", d, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
			return fmt.Errorf("remounting %s nosuid,nodev: %w", d, err)
		}
	}
	return nil
}

// findDataDisk returns the device node of the data disk, or "".
func findDataDisk() string {
	serials, _ := filepath.Glob("/sys/block/*/serial")
	for _, p := range serials {
		if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == bootparams.DataDiskSerial {
			return "/dev/" + filepath.Base(filepath.Dir(p))
		}
	}
	return ""
}

// dataPartition returns the device node of the boot disk's data
// partition, creating the partition first if needed; "" when there is no
// room for one.
func dataPartition(disk string) (string, error) {
	f, err := os.OpenFile("/dev/"+disk, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return "", err
	}
	t, err := gpt.Read(f, size)
	if err != nil {
		return "", fmt.Errorf("%s: %w", disk, err)
	}
	var part *gpt.Partition
	for i, p := range t.Partitions {
		if p.Type == gpt.TypeLinuxData && p.Name == bootparams.DataPartitionName {
			part = &t.Partitions[i]
		}
	}
	if part == nil {
		if part, err = createDataPartition(f, t, disk); err != nil || part == nil {
			return "", err
		}
	}
	return waitPartitionNode(disk, part.Number, 10*time.Second)
}

// createDataPartition adds the data partition to the table (both copies)
// and tells the kernel about it (BLKPG; a full re-read would fail, the
// root is in use).
func createDataPartition(f *os.File, t *gpt.Table, disk string) (*gpt.Partition, error) {
	if t.SectorSize != gpt.SectorSize {
		return nil, fmt.Errorf("%s: %d-byte sectors: cannot add a data partition", disk, t.SectorSize)
	}
	var end uint64 // first free LBA
	for _, p := range t.Partitions {
		end = max(end, p.LastLBA+1)
	}
	first := (end + alignLBA - 1) / alignLBA * alignLBA
	lastUsable := t.Sectors - gpt.TailSectors - 1
	if first > lastUsable {
		say("no free space on %s for a data partition: the VM keeps no state", disk)
		return nil, nil
	}
	n := (lastUsable + 1 - first) / alignLBA * alignLBA
	if n*gpt.SectorSize < minDataSize {
		say("%d MiB free on %s, %d needed: no data partition, the VM keeps no state", n*gpt.SectorSize>>20, disk, minDataSize>>20)
		return nil, nil
	}
	t.Partitions = append(t.Partitions, gpt.Partition{Type: gpt.TypeLinuxData, Name: bootparams.DataPartitionName,
		FirstLBA: first, LastLBA: first + n - 1})
	if err := t.Write(f); err != nil {
		return nil, fmt.Errorf("adding the data partition to %s: %w", disk, err)
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	p := &t.Partitions[len(t.Partitions)-1]
	bp := unix.BlkpgPartition{Start: int64(first) * gpt.SectorSize, Length: int64(n) * gpt.SectorSize, Pno: int32(p.Number)}
	arg := unix.BlkpgIoctlArg{Op: unix.BLKPG_ADD_PARTITION, Datalen: int32(unsafe.Sizeof(bp)), Data: (*byte)(unsafe.Pointer(&bp))}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), blkpg, uintptr(unsafe.Pointer(&arg))); errno != 0 {
		return nil, fmt.Errorf("telling the kernel about the data partition %s%d: %w", disk, p.Number, errno)
	}
	say("created data partition %d on %s (%d MiB)", p.Number, disk, n*gpt.SectorSize>>20)
	return p, nil
}

func waitPartitionNode(disk string, number int, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		nodes, err := partitionNodes(disk)
		if err == nil && nodes[number] != "" {
			return nodes[number], nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("partition %d of %s has no device node after %v", number, disk, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hasExtFS looks for the ext2/3/4 superblock magic (0xEF53 at byte 1080).
func hasExtFS(dev string) (bool, error) {
	f, err := os.Open(dev)
	if err != nil {
		return false, err
	}
	defer f.Close()
	b := make([]byte, 2)
	if _, err := f.ReadAt(b, 1024+56); err != nil {
		return false, fmt.Errorf("reading %s: %w", dev, err)
	}
	return binary.LittleEndian.Uint16(b) == 0xEF53, nil
}

// mkfs formats dev with the root's mkfs.ext4 (e2fsprogs), or busybox's
// mke2fs where that is all the image has.
func mkfs(dev string) error {
	for _, c := range [][]string{
		{"/usr/sbin/mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1", "-L", bootparams.DataPartitionName, dev},
		{"/usr/bin/busybox", "mke2fs", "-F", "-L", bootparams.DataPartitionName, dev},
	} {
		if _, err := os.Stat(c[0]); err != nil {
			continue
		}
		say("formatting the data partition %s (%s)", dev, filepath.Base(c[0]))
		cmd := exec.Command(c[0], c[1:]...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("formatting %s: %v: %s", dev, err, bytes.TrimSpace(out.Bytes()))
		}
		return nil
	}
	return fmt.Errorf("cannot format the data partition %s: the root has neither /usr/sbin/mkfs.ext4 nor busybox", dev)
}

// unmountData unmounts what setupData mounted, newest first; a mount that
// is still busy is at least made read-only, so the file system is clean.
func unmountData() {
	for i := len(dataMounts) - 1; i >= 0; i-- {
		m := dataMounts[i]
		if err := unix.Unmount(m, 0); err != nil {
			if err2 := unix.Mount("", m, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err2 != nil {
				say("WARNING: %s: unmount: %v; read-only: %v", m, err, err2)
			}
		}
	}
	dataMounts = nil
}
