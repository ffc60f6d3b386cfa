package initramfs

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/internal/testkernel"
	"github.com/ulikunitz/xz"
)

// fakeModule returns a minimal ELF64 relocatable file whose .modinfo
// section holds name= and depends=, followed by a signature marker.
func fakeModule(t *testing.T, name, depends string) []byte {
	t.Helper()
	modinfo := []byte("license=GPL\x00depends=" + depends + "\x00name=" + name + "\x00vermagic=test\x00")
	shstr := []byte("\x00.modinfo\x00.shstrtab\x00")
	le := binary.LittleEndian
	var b bytes.Buffer
	hdr := make([]byte, 64)
	copy(hdr, "\x7fELF")
	hdr[4], hdr[5], hdr[6] = 2, 1, 1 // 64-bit, little-endian, version 1
	le.PutUint16(hdr[16:], 1)        // ET_REL
	le.PutUint16(hdr[18:], 62)       // x86-64
	le.PutUint32(hdr[20:], 1)
	modOff := 64
	strOff := modOff + len(modinfo)
	shOff := (strOff + len(shstr) + 7) &^ 7
	le.PutUint64(hdr[40:], uint64(shOff))
	le.PutUint16(hdr[52:], 64) // ehsize
	le.PutUint16(hdr[58:], 64) // shentsize
	le.PutUint16(hdr[60:], 3)  // shnum
	le.PutUint16(hdr[62:], 2)  // shstrndx
	b.Write(hdr)
	b.Write(modinfo)
	b.Write(shstr)
	b.Write(make([]byte, shOff-b.Len()))
	sh := func(nameOff, typ uint32, off, size int) {
		s := make([]byte, 64)
		le.PutUint32(s[0:], nameOff)
		le.PutUint32(s[4:], typ)
		le.PutUint64(s[24:], uint64(off))
		le.PutUint64(s[32:], uint64(size))
		le.PutUint64(s[48:], 1)
		b.Write(s)
	}
	sh(0, 0, 0, 0)
	sh(1, 1, modOff, len(modinfo)) // SHT_PROGBITS
	sh(10, 3, strOff, len(shstr))  // SHT_STRTAB
	b.WriteString("~Module signature appended~\n")
	return b.Bytes()
}

func xzBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := xz.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// entry is one member read back from a newc archive.
type entry struct {
	mode, mtime, major, minor uint32
	data                      string
}

// readNewc is a small newc reader for checking what Write produced.
func readNewc(t *testing.T, gz []byte) (map[string]entry, []string) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]entry{}
	var order []string
	off := 0
	field := func(i int) uint32 {
		v, err := strconv.ParseUint(string(raw[off+6+8*i:off+14+8*i]), 16, 32)
		if err != nil {
			t.Fatalf("bad header at %d: %v", off, err)
		}
		return uint32(v)
	}
	align := func(n int) int { return (n + 3) &^ 3 }
	for {
		if string(raw[off:off+6]) != "070701" {
			t.Fatalf("bad magic at %d", off)
		}
		mode, mtime, size, major, minor, namesize := field(1), field(5), field(6), field(9), field(10), field(11)
		name := string(raw[off+110 : off+110+int(namesize)-1])
		off = align(off + 110 + int(namesize))
		data := string(raw[off : off+int(size)])
		off = align(off + int(size))
		if name == "TRAILER!!!" {
			return out, order
		}
		out[name] = entry{mode, mtime, major, minor, data}
		order = append(order, name)
	}
}

func fakeKernel(t *testing.T) (fstest.MapFS, map[string][]byte) {
	kos := map[string][]byte{
		"dm_mod":       fakeModule(t, "dm_mod", ""),
		"dm_bufio":     fakeModule(t, "dm_bufio", "dm-mod"),
		"dm_verity":    fakeModule(t, "dm_verity", "dm-mod,dm-bufio,reed_solomon"),
		"reed_solomon": fakeModule(t, "reed_solomon", ""),
		"erofs":        fakeModule(t, "erofs", "libcrc32c"),
		"libcrc32c":    fakeModule(t, "libcrc32c", ""),
		"virtio_blk":   fakeModule(t, "virtio_blk", "virtio,virtio_ring"),
	}
	return fstest.MapFS{
		"kernel/drivers/md/dm-mod.ko.xz":             {Data: xzBytes(t, kos["dm_mod"])},
		"kernel/drivers/md/dm-bufio.ko.xz":           {Data: xzBytes(t, kos["dm_bufio"])},
		"kernel/drivers/md/dm-verity.ko":             {Data: kos["dm_verity"]},
		"kernel/lib/reed_solomon/reed_solomon.ko.xz": {Data: xzBytes(t, kos["reed_solomon"])},
		"kernel/fs/erofs/erofs.ko.xz":                {Data: xzBytes(t, kos["erofs"])},
		"kernel/lib/libcrc32c.ko.xz":                 {Data: xzBytes(t, kos["libcrc32c"])},
		"kernel/drivers/block/virtio_blk.ko.xz":      {Data: xzBytes(t, kos["virtio_blk"])},
		"modules.builtin":                            {Data: []byte("kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_ring.ko\nkernel/drivers/virtio/virtio_pci.ko\n")},
	}, kos
}

func TestWrite(t *testing.T) {
	mods, kos := fakeKernel(t)
	in := Input{
		Init: []byte("\x7fELF init"), Modules: mods,
		Names:     []string{"virtio_pci", "virtio-blk", "dm_verity", "erofs", "dm_mod"},
		AdminCert: []byte("-----BEGIN CERTIFICATE-----\n"), Release: "6.12.0-test", Mtime: time.Unix(1735689600, 0),
	}
	var buf bytes.Buffer
	res, err := Write(&buf, in)
	if err != nil {
		t.Fatal(err)
	}
	want := Result{
		Modules: []string{"virtio_blk", "dm_mod", "dm_bufio", "reed_solomon", "dm_verity", "libcrc32c", "erofs"},
		Builtin: []string{"virtio_pci", "virtio", "virtio_ring"},
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("Result diff (-want +got):\n%s", diff)
	}
	got, order := readNewc(t, buf.Bytes())
	if e := got[bootparams.InitPath]; e.data != string(in.Init) || e.mode != 0o100755 {
		t.Errorf("init: mode %o, %d bytes", e.mode, len(e.data))
	}
	if e := got["dev/console"]; e.mode != 0o020600 || e.major != 5 || e.minor != 1 {
		t.Errorf("dev/console: %+v", e)
	}
	if e := got[bootparams.ModulesList]; e.data != strings.Join(addKo(want.Modules), "\n")+"\n" {
		t.Errorf("modules list %q", e.data)
	}
	if got[bootparams.AdminCertPath].data != string(in.AdminCert) {
		t.Errorf("admin cert not stored")
	}
	if got[bootparams.ReleasePath].data != "6.12.0-test\n" {
		t.Errorf("release %q", got[bootparams.ReleasePath].data)
	}
	for _, m := range want.Modules {
		e, ok := got[bootparams.ModulesDir+"/"+m+".ko"]
		if !ok || e.data != string(kos[m]) {
			t.Errorf("module %s: stored %v, equal to the decompressed original: %v", m, ok, e.data == string(kos[m]))
		}
		if !Signed([]byte(e.data)) {
			t.Errorf("module %s lost its signature marker", m)
		}
	}
	seen := map[string]bool{}
	for _, name := range order {
		if got[name].mtime != uint32(in.Mtime.Unix()) {
			t.Errorf("%s: mtime %d", name, got[name].mtime)
		}
		if d := filepath.Dir(name); d != "." && !seen[d] {
			t.Errorf("%s comes before its directory", name)
		}
		seen[name] = true
	}
	for _, d := range []string{"proc", "sys", "run", "sysroot", "dev"} {
		if got[d].mode != 0o040755 {
			t.Errorf("directory %s: mode %o", d, got[d].mode)
		}
	}

	var again bytes.Buffer
	if _, err := Write(&again, in); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("two writes of the same input differ")
	}
	in.AdminCert = nil
	var noCert bytes.Buffer
	if _, err := Write(&noCert, in); err != nil {
		t.Fatal(err)
	}
	if got, _ := readNewc(t, noCert.Bytes()); got[bootparams.AdminCertPath] != (entry{}) {
		t.Error("admin cert written although none was given")
	}
}

func addKo(names []string) []string {
	var out []string
	for _, n := range names {
		out = append(out, n+".ko")
	}
	return out
}

func TestErrors(t *testing.T) {
	mods, _ := fakeKernel(t)
	cyc := fstest.MapFS{
		"kernel/a.ko": {Data: fakeModule(t, "a", "b")},
		"kernel/b.ko": {Data: fakeModule(t, "b", "a")},
	}
	badName := fstest.MapFS{"kernel/a.ko": {Data: fakeModule(t, "other", "")}}
	notELF := fstest.MapFS{"kernel/a.ko": {Data: []byte("not a module")}}
	missingDep := fstest.MapFS{"kernel/a.ko": {Data: fakeModule(t, "a", "gone")}}
	base := Input{Init: []byte("init"), Release: "6.12", Mtime: time.Unix(0, 0)}
	tests := []struct {
		name string
		mod  func(*Input)
		want string
		is   error
	}{
		{"unknown module", func(in *Input) { in.Modules, in.Names = mods, []string{"dm_verity", "no_such_mod"} },
			`unknown kernel module "no_such_mod" (requested)`, ErrUnknownModule},
		{"missing dependency", func(in *Input) { in.Modules, in.Names = missingDep, []string{"a"} },
			`unknown kernel module "gone" (needed by a)`, ErrUnknownModule},
		{"cycle", func(in *Input) { in.Modules, in.Names = cyc, []string{"a"} }, "dependency cycle", nil},
		{"name mismatch", func(in *Input) { in.Modules, in.Names = badName, []string{"a"} }, "name=other", nil},
		{"not ELF", func(in *Input) { in.Modules, in.Names = notELF, []string{"a"} }, "not an ELF kernel module", nil},
		{"no init", func(in *Input) { in.Init = nil }, "no init binary", nil},
		{"no release", func(in *Input) { in.Release = "" }, "kernel release", nil},
		{"no modules dir", func(in *Input) { in.Names = []string{"a"} }, "no kernel modules directory", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base
			tt.mod(&in)
			_, err := Write(io.Discard, in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Write: %v, want an error containing %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
		})
	}
}

// TestDebianKernel resolves the modules of images/minimal.yml against the
// pinned Debian cloud kernel: real .modinfo, real xz, real signatures.
func TestDebianKernel(t *testing.T) {
	dir := testkernel.Dir(t)
	release, err := os.ReadFile(filepath.Join(dir, "release"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	res, err := Write(&buf, Input{Init: []byte("init"), Modules: os.DirFS(filepath.Join(dir, "modules")),
		Names:   []string{"virtio_pci", "virtio_blk", "dm_mod", "dm_verity", "erofs"},
		Release: strings.TrimSpace(string(release)), Mtime: time.Unix(1735689600, 0)})
	if err != nil {
		t.Fatal(err)
	}
	want := Result{
		Modules: []string{"virtio_blk", "dm_mod", "dm_bufio", "reed_solomon", "dm_verity", "libcrc32c", "erofs"},
		Builtin: []string{"virtio_pci"},
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("Result diff (-want +got):\n%s", diff)
	}
	got, _ := readNewc(t, buf.Bytes())
	for _, m := range res.Modules {
		ko := []byte(got[bootparams.ModulesDir+"/"+m+".ko"].data)
		if !Signed(ko) {
			t.Errorf("%s: no appended signature", m)
		}
		info, err := ModInfo(ko)
		if err != nil || info["vermagic"] == "" || !strings.HasPrefix(info["vermagic"], strings.TrimSpace(string(release))+" ") {
			t.Errorf("%s: vermagic %q (err %v), want the kernel release first", m, info["vermagic"], err)
		}
	}
	t.Logf("initramfs with %d modules: %d bytes compressed", len(res.Modules), buf.Len())
}
