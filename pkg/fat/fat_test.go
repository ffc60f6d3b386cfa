package fat

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hardenvm/hardenvm/internal/testenv"
)

var testTime = time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC)

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// sample is a typical ESP plus the awkward cases: long and mixed-case
// names, names that need "~N" aliases, non-ASCII, an empty file, an empty
// directory, and a directory spanning several clusters.
func sample() map[string][]byte {
	m := map[string][]byte{
		"EFI/BOOT/BOOTX64.EFI":             randomBytes(1, 300_001),
		"loader/loader.conf":               []byte("timeout 0\n"),
		"loader/entries/hardenvm.conf":     []byte("title hardenvm\n"),
		"A long file name with spaces.txt": []byte("spaces"),
		"A long file name with dots.x.y":   []byte("dots"),
		"café.txt":                         []byte("accent"),
		"EMPTY":                            {},
		"README":                           []byte("exact 8.3, no long name"),
	}
	for i := range 40 {
		m[fmt.Sprintf("many/long-name-number-%02d.bin", i)] = randomBytes(uint64(i), i*100)
	}
	return m
}

func filesOf(m map[string][]byte) []File {
	var fs []File
	for p, b := range m {
		fs = append(fs, File{Path: p, Size: int64(len(b)), Data: bytes.NewReader(b)})
	}
	return append(fs, File{Path: "EFI/Linux", Dir: true})
}

func writeImage(t *testing.T, m map[string][]byte, opt Options) (string, Info) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "esp.img")
	info, err := WriteFile(p, filesOf(m), opt)
	if err != nil {
		t.Fatal(err)
	}
	return p, info
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

// TestPeerTools has dosfstools check the volume and mtools read every
// file back, at the smallest FAT32 size, the default, and one with
// 4 KiB clusters.
func TestPeerTools(t *testing.T) {
	fsck := testenv.Tool(t, "fsck.vfat", "dosfstools")
	mtype := testenv.Tool(t, "mtype", "mtools")
	minfo := testenv.Tool(t, "minfo", "mtools")
	mdir := testenv.Tool(t, "mdir", "mtools")
	m := sample()
	for _, tt := range []struct {
		size        int64
		label       string
		clusterSize int
	}{{33 << 20, "", 512}, {0, "HARDENVM", 512}, {300 << 20, "ESP", 4096}} {
		t.Run(fmt.Sprint(tt.size>>20, "MiB"), func(t *testing.T) {
			img, info := writeImage(t, m, Options{Size: tt.size, Time: testTime, Label: tt.label, HiddenSectors: 2048})
			if info.ClusterSize != tt.clusterSize || info.Clusters < 65525 {
				t.Errorf("info = %+v, want %d-byte clusters and ≥ 65525 of them", info, tt.clusterSize)
			}
			out := run(t, fsck, "-n", "-V", img)
			// fsck counts directories (EFI, BOOT, Linux, loader, entries,
			// many) and the label entry as files too.
			nfiles := len(m) + 6
			if tt.label != "" {
				nfiles++
			}
			if strings.Contains(out, "\n  ") || !strings.Contains(out, fmt.Sprintf(": %d files, %d/%d clusters", nfiles, info.Used, info.Clusters)) {
				// dosfstools indents each problem it finds.
				t.Errorf("fsck.vfat -n -V reports problems:\n%s", out)
			}
			for p, want := range m {
				got := run(t, mtype, "-i", img, "::/"+p)
				if got != string(want) {
					t.Errorf("mtype %s: %d bytes (sha256 %x), want %d (sha256 %x)",
						p, len(got), sha256.Sum256([]byte(got)), len(want), sha256.Sum256(want))
				}
			}
			mi := run(t, minfo, "-i", img, "::")
			serial := fmt.Sprintf("serial number: %08X", info.VolumeID)
			if !strings.Contains(mi, serial) || !strings.Contains(mi, "disk type=\"FAT32   \"") {
				t.Errorf("minfo does not show %q and FAT32:\n%s", serial, mi)
			}
			dir := run(t, mdir, "-i", img, "::/loader")
			if !strings.Contains(dir, "2024-05-06") || !strings.Contains(dir, "7:08") || !strings.Contains(dir, "loader.conf") {
				t.Errorf("mdir ::/loader lacks the long name or the timestamp 2024-05-06 7:08:\n%s", dir)
			}
			if tt.label != "" && !strings.Contains(run(t, mdir, "-i", img, "::"), "Volume in drive : is "+tt.label) {
				t.Errorf("mdir does not show label %s", tt.label)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	m := sample()
	p1, i1 := writeImage(t, m, Options{Time: testTime})
	p2, i2 := writeImage(t, m, Options{Time: testTime})
	b1, _ := os.ReadFile(p1)
	b2, _ := os.ReadFile(p2)
	if !bytes.Equal(b1, b2) || i1 != i2 {
		t.Fatal("same inputs, different images")
	}
	if i1.Size != 64<<20 {
		t.Errorf("default size %d, want 64 MiB", i1.Size)
	}
	m["loader/loader.conf"] = []byte("timeout 1\n")
	_, i3 := writeImage(t, m, Options{Time: testTime})
	_, i4 := writeImage(t, sample(), Options{Time: testTime.Add(2 * time.Second)})
	if i3.VolumeID == i1.VolumeID || i4.VolumeID == i1.VolumeID {
		t.Errorf("volume ID %08x did not change with content (%08x) or time (%08x)", i1.VolumeID, i3.VolumeID, i4.VolumeID)
	}
}

func TestMinSizeGrows(t *testing.T) {
	big := []File{{Path: "EFI/BOOT/BOOTX64.EFI", Size: 100 << 20, Data: bytes.NewReader(make([]byte, 100<<20))}}
	size, err := MinSize(big, "")
	if err != nil {
		t.Fatal(err)
	}
	if size < 100<<20 || size > 110<<20 || size%(1<<20) != 0 {
		t.Errorf("MinSize(100 MiB file) = %d, want a whole MiB between 100 and 110 MiB", size)
	}
	if _, err := Write(discard{}, big, Options{Size: size}); err != nil {
		t.Errorf("writing at MinSize: %v", err)
	}
}

type discard struct{}

func (discard) WriteAt(p []byte, off int64) (int, error) { return len(p), nil }

func TestShortNames(t *testing.T) {
	tests := []struct {
		names []string
		want  []string // short names, in sorted name order
		long  []bool
	}{
		{[]string{"BOOTX64.EFI", "EFI", "A-B_C~1.X"}, []string{"A-B_C~1 X  ", "BOOTX64 EFI", "EFI        "}, []bool{false, false, false}},
		{[]string{"loader.conf", "LOADER~1.CON"}, []string{"LOADER~1CON", "LOADER~2CON"}, []bool{false, true}},
		{[]string{"a b.c.txt", "a+b", ".hidden"}, []string{"HIDDEN~1   ", "ABC~1   TXT", "A_B~1      "}, []bool{true, true, true}},
		{[]string{"café.txt"}, []string{"CAF_~1  TXT"}, []bool{true}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.names, ","), func(t *testing.T) {
			var fs []File
			for _, n := range tt.names {
				fs = append(fs, File{Path: n})
			}
			root, err := buildTree(fs)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			var long []bool
			for _, c := range root.children {
				got = append(got, string(c.short[:]))
				long = append(long, c.long)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("short names diff (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.long, long); diff != "" {
				t.Errorf("long flags diff (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteErrors(t *testing.T) {
	f := func(p, data string) File { return File{Path: p, Size: int64(len(data)), Data: strings.NewReader(data)} }
	tests := []struct {
		name  string
		files []File
		opt   Options
		want  string
	}{
		{"case clash", []File{f("EFI/boot/a", "1"), f("EFI/BOOT/b", "2")}, Options{}, "ignore case"},
		{"twice", []File{f("a", "1"), f("a", "2")}, Options{}, "listed twice"},
		{"file and dir", []File{f("a", "1"), f("a/b", "2")}, Options{}, "both a file and a directory"},
		{"bad char", []File{f("a:b", "1")}, Options{}, "does not allow"},
		{"trailing dot", []File{f("a.", "1")}, Options{}, "ends in a dot"},
		{"dotdot", []File{f("a/../b", "1")}, Options{}, "invalid name"},
		{"absolute", []File{f("/a", "1")}, Options{}, "relative"},
		{"short data", []File{{Path: "a", Size: 10, Data: strings.NewReader("123")}}, Options{}, "ended after 3 of 10"},
		{"long data", []File{{Path: "a", Size: 2, Data: strings.NewReader("123")}}, Options{}, "longer than its size"},
		{"below FAT32", []File{f("a", "1")}, Options{Size: 32 << 20}, "FAT32 needs at least 65525"},
		{"files too big", []File{{Path: "a", Size: 40 << 20, Data: bytes.NewReader(make([]byte, 40<<20))}}, Options{Size: 34 << 20}, "the files need"},
		{"odd size", []File{f("a", "1")}, Options{Size: 64<<20 + 1}, "multiple of 512"},
		{"label", []File{f("a", "1")}, Options{Label: "TOO LONG LABEL"}, "longer than 11"},
		{"label char", []File{f("a", "1")}, Options{Label: "esp"}, "not allowed"},
	}
	var many []File
	for i := range 3200 { // 3200 × 21 entries > 65536
		many = append(many, File{Path: fmt.Sprintf("d/%0250d", i)})
	}
	tests = append(tests, struct {
		name  string
		files []File
		opt   Options
		want  string
	}{"huge directory", many, Options{}, "more than 65536 entries"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Write(discard{}, tt.files, tt.opt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Write error = %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(tt.want, "FAT32") && !errors.Is(err, ErrTooSmall) {
				t.Errorf("error %v is not ErrTooSmall", err)
			}
		})
	}
}

func TestWriteFileLeavesNothingOnError(t *testing.T) {
	dir := t.TempDir()
	_, err := WriteFile(filepath.Join(dir, "esp.img"), []File{{Path: "a", Size: 5, Data: strings.NewReader("1")}}, Options{})
	if err == nil {
		t.Fatal("short data accepted")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}
