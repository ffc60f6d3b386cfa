package disk

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/fat"
	"github.com/hardenvm/hardenvm/pkg/gpt"
)

var testTime = time.Date(2025, 1, 2, 3, 4, 6, 0, time.UTC)

// inputs are the contents of a small image: a root image that is not a
// whole number of MiB and has a 2 MiB run of zeros, a hash tree, a config
// image, and the ESP's boot loader.
type inputs struct {
	root, verity, config, sig []byte
	bootloader                []byte
	rootHash                  []byte
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func newInputs(t *testing.T) *inputs {
	t.Helper()
	in := &inputs{bootloader: randomBytes(9, 200_000)}
	root := append(randomBytes(1, 1<<20), make([]byte, 2<<20)...)
	in.root = append(root, randomBytes(2, 12345)...)
	in.verity = randomBytes(3, 40960)
	in.config = randomBytes(4, 100_000)
	in.sig = append([]byte(`{"rootHash":"x"}`), make([]byte, 4096-16)...)
	h := sha256.Sum256(in.root)
	in.rootHash = h[:]
	return in
}

func (in *inputs) image() Image {
	return Image{
		ESP: []fat.File{
			{Path: "EFI/BOOT/BOOTX64.EFI", Size: int64(len(in.bootloader)), Data: bytes.NewReader(in.bootloader)},
			{Path: "loader/loader.conf", Size: 10, Data: strings.NewReader("timeout 0\n")},
		},
		Time: testTime, Root: section(in.root), RootVerity: section(in.verity), RootHash: in.rootHash,
		RootVeritySig: section(in.sig), Config: section(in.config), Free: 8 << 20,
	}
}

func section(b []byte) *io.SectionReader {
	return io.NewSectionReader(bytes.NewReader(b), 0, int64(len(b)))
}

func build(t *testing.T, im Image) (string, *Result) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := Build(f, im)
	if err != nil {
		t.Fatal(err)
	}
	return p, res
}

func fileSHA(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestBuildLayout(t *testing.T) {
	in := newInputs(t)
	p, res := build(t, in.image())
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	if fi.Size() != res.Size || res.Size%Align != 0 {
		t.Errorf("disk is %d bytes, result says %d (want a whole MiB)", fi.Size(), res.Size)
	}
	tb, err := gpt.Read(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(res.Table, tb); diff != "" {
		t.Errorf("table read back differs (-written +read):\n%s", diff)
	}
	type row struct {
		Type  gpt.GUID
		Name  string
		Attr  uint64
		MiB   int64
		Start uint64
	}
	ro := gpt.AttrReadOnly
	want := []row{
		{gpt.TypeESP, bootparams.PartitionESP, 0, 64, 2048},
		{gpt.TypeRootX86_64, bootparams.PartitionRoot, ro, 4, 2048 + 64*2048},
		{gpt.TypeRootVerityX86_64, bootparams.PartitionRootVerity, ro, 1, 2048 + 68*2048},
		{gpt.TypeRootVeritySigX86_64, bootparams.PartitionRootVeritySig, ro, 1, 2048 + 69*2048},
		{gpt.TypeLinuxData, bootparams.PartitionConfig, ro, 1, 2048 + 70*2048},
	}
	var got []row
	for _, p := range tb.Partitions {
		got = append(got, row{p.Type, p.Name, p.Attributes, p.Size(512) >> 20, p.FirstLBA})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("partitions diff (-want +got):\n%s", diff)
	}
	if end := int64(tb.Partitions[4].LastLBA+1) * 512; res.Size-end != 8<<20+Align {
		t.Errorf("after the last partition: %d bytes, want 8 MiB free + 1 MiB", res.Size-end)
	}
	if g := tb.Partitions[1].GUID; !bytes.Equal(g[:], in.rootHash[:16]) {
		t.Errorf("root UUID %s, want the root hash's first 16 bytes %x", g, in.rootHash[:16])
	}
	if g := tb.Partitions[2].GUID; !bytes.Equal(g[:], in.rootHash[16:]) {
		t.Errorf("verity UUID %s, want the root hash's last 16 bytes %x", g, in.rootHash[16:])
	}

	// Each partition holds its source, then zeros.
	for i, b := range map[int][]byte{1: in.root, 2: in.verity, 3: in.sig, 4: in.config} {
		pt := tb.Partitions[i]
		region := make([]byte, pt.Size(512))
		if _, err := f.ReadAt(region, pt.Offset(512)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(region[:len(b)], b) || !bytes.Equal(region[len(b):], make([]byte, len(region)-len(b))) {
			t.Errorf("partition %s does not hold its contents followed by zeros", pt.Name)
		}
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		t.Logf("disk.raw: %d bytes, %d allocated", fi.Size(), st.Blocks*512)
		if st.Blocks*512 >= fi.Size()/2 {
			t.Errorf("disk.raw is not sparse: %d of %d bytes allocated", st.Blocks*512, fi.Size())
		}
	}
}

func TestDeterministic(t *testing.T) {
	in := newInputs(t)
	p1, r1 := build(t, in.image())
	p2, _ := build(t, in.image())
	if a, b := fileSHA(t, p1), fileSHA(t, p2); a != b {
		t.Fatalf("same inputs, sha256 %s and %s", a, b)
	}
	// A changed config changes its partition's UUID and the disk's.
	in.config = randomBytes(5, 100_000)
	_, r3 := build(t, in.image())
	if r3.Table.Partitions[4].GUID == r1.Table.Partitions[4].GUID || r3.Table.DiskGUID == r1.Table.DiskGUID {
		t.Error("config content change left the config or disk GUID unchanged")
	}
	if r3.Table.Partitions[0].GUID != r1.Table.Partitions[0].GUID {
		t.Error("config change moved the ESP's GUID")
	}
}

// TestPeerTools checks the disk with sgdisk, and the ESP inside it with
// fsck.vfat and mtools.
func TestPeerTools(t *testing.T) {
	sgdisk := testenv.Tool(t, "sgdisk", "gdisk")
	fsck := testenv.Tool(t, "fsck.vfat", "dosfstools")
	mtype := testenv.Tool(t, "mtype", "mtools")
	in := newInputs(t)
	p, res := build(t, in.image())

	out := run(t, sgdisk, "-v", p)
	if !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v:\n%s", out)
	}
	out = run(t, sgdisk, "-p", p)
	for _, want := range []string{"EF00  esp", "8300  hardenvm-config", "Disk identifier (GUID): " + strings.ToUpper(res.Table.DiskGUID.String())} {
		if !strings.Contains(out, want) {
			t.Errorf("sgdisk -p lacks %q:\n%s", want, out)
		}
	}
	for _, pt := range res.Table.Partitions {
		out := run(t, sgdisk, "-i", fmt.Sprint(pt.Number), p)
		for _, want := range []string{
			"Partition GUID code: " + strings.ToUpper(pt.Type.String()),
			"Partition unique GUID: " + strings.ToUpper(pt.GUID.String()),
			fmt.Sprintf("Attribute flags: %016x", pt.Attributes),
			fmt.Sprintf("Partition name: '%s'", pt.Name),
		} {
			if !strings.Contains(out, want) {
				t.Errorf("sgdisk -i %d lacks %q:\n%s", pt.Number, want, out)
			}
		}
	}
	out = run(t, sgdisk, "-i", "2", p)
	if !strings.Contains(out, "(Linux x86-64 root (/))") {
		t.Errorf("sgdisk does not know partition 2 as the x86-64 root:\n%s", out)
	}

	// The ESP: fsck.vfat on a copy of its region, mtype straight from the
	// disk at the partition's offset.
	esp := res.Table.Partitions[0]
	f, _ := os.Open(p)
	defer f.Close()
	espImg := filepath.Join(t.TempDir(), "esp.img")
	e, _ := os.Create(espImg)
	if _, err := io.Copy(e, io.NewSectionReader(f, esp.Offset(512), esp.Size(512))); err != nil {
		t.Fatal(err)
	}
	e.Close()
	out = run(t, fsck, "-n", "-V", espImg)
	if strings.Contains(out, "\n  ") || !strings.Contains(out, "5 files") {
		t.Errorf("fsck.vfat -n -V:\n%s", out)
	}
	got := run(t, mtype, "-i", fmt.Sprintf("%s@@%d", p, esp.Offset(512)), "::/EFI/BOOT/BOOTX64.EFI")
	if got != string(in.bootloader) {
		t.Errorf("BOOTX64.EFI read back: %d bytes, want %d, identical", len(got), len(in.bootloader))
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Image, *inputs)
		want string
	}{
		{"short root hash", func(im *Image, _ *inputs) { im.RootHash = im.RootHash[:20] }, "root hash of 20 bytes"},
		{"no verity", func(im *Image, _ *inputs) { im.RootVerity = nil }, "hash tree are required"},
		{"no ESP files", func(im *Image, _ *inputs) { im.ESP = nil }, "no files"},
		{"ESP too small", func(im *Image, _ *inputs) { im.ESPSize = 8 << 20 }, "FAT32 needs"},
		{"extra too big", func(im *Image, in *inputs) {
			im.Extra = []Partition{{Type: gpt.TypeLinuxData, Name: "x", Data: section(in.root), Size: 1 << 20}}
		}, "more than the partition's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newInputs(t)
			im := in.image()
			tt.edit(&im, in)
			var w written
			_, err := Build(&w, im)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Build error = %v, want one containing %q", err, tt.want)
			}
			if w.n != 0 {
				t.Errorf("failed build wrote %d times before it noticed", w.n)
			}
		})
	}
}

func TestEqualPartitionsGetDistinctGUIDs(t *testing.T) {
	in := newInputs(t)
	im := in.image()
	im.Extra = []Partition{{Type: gpt.TypeLinuxData, Name: "spare", Size: 1 << 20},
		{Type: gpt.TypeLinuxData, Name: "spare", Size: 1 << 20}}
	_, res := build(t, im)
	p := res.Table.Partitions
	if g1, g2 := p[len(p)-2].GUID, p[len(p)-1].GUID; g1 == g2 {
		t.Errorf("two empty partitions of one type and name share GUID %s", g1)
	}
}

// written counts writes.
type written struct{ n int }

func (w *written) WriteAt(p []byte, off int64) (int, error) { w.n++; return len(p), nil }

// TestLayoutArch checks that the root partitions carry the types of the
// image's architecture, which is how the guest init finds them.
func TestLayoutArch(t *testing.T) {
	in := newInputs(t)
	tests := []struct {
		arch    string
		want    gpt.RootTypes
		wantErr bool
	}{
		{"", gpt.RootTypes{Root: gpt.TypeRootX86_64, Verity: gpt.TypeRootVerityX86_64, VeritySig: gpt.TypeRootVeritySigX86_64}, false},
		{"arm64", gpt.RootTypes{Root: gpt.TypeRootARM64, Verity: gpt.TypeRootVerityARM64, VeritySig: gpt.TypeRootVeritySigARM64}, false},
		{"s390x", gpt.RootTypes{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.arch, func(t *testing.T) {
			im := in.image()
			im.Arch = tt.arch
			l, err := im.Layout()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Layout() error = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			got := gpt.RootTypes{Root: l.Partitions[1].Type, Verity: l.Partitions[2].Type, VeritySig: l.Partitions[3].Type}
			if got != tt.want {
				t.Errorf("root partition types = %v, want %v", got, tt.want)
			}
			a := tt.arch
			if a == "" {
				a = "x86-64"
			}
			if l.Partitions[1].Name != "root-"+a || l.Partitions[2].Name != "root-"+a+"-verity" || l.Partitions[3].Name != "root-"+a+"-verity-sig" {
				t.Errorf("root partition names %q %q %q, want root-%s[-verity[-sig]]", l.Partitions[1].Name, l.Partitions[2].Name, l.Partitions[3].Name, a)
			}
		})
	}
}
