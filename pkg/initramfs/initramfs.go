// Package initramfs writes the initramfs of a hardenvm image: the guest
// init as /init, the kernel modules the image spec names together with
// everything they depend on, the file listing their load order, the admin
// certificate and the kernel release, as one gzip-compressed cpio (newc)
// archive laid out as package bootparams says.
//
// Debian's kernel package ships no modules.dep, so dependencies come from
// each module's own .modinfo section ("depends=", the list modpost wrote
// when the kernel was built). Modules are stored decompressed (the kernel's
// finit_module would also take .ko.xz, but only with a matching
// decompressor built in; a plain .ko always works) and byte for byte
// otherwise, so their appended signatures stay valid and they load under
// Secure Boot lockdown. Names that are built into the kernel
// (modules.builtin) are skipped. Everything, including every timestamp,
// comes from the input, so the same input gives the same bytes.
package initramfs

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/pkg/cpio"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Input is what goes into the initramfs.
type Input struct {
	// Init is the static hardenvm-init binary.
	Init []byte
	// Modules is the kernel's lib/modules/<release> directory: the
	// module files under kernel/ (.ko, .ko.xz or .ko.zst) and
	// modules.builtin.
	Modules fs.FS
	// Names are the modules to load (the spec's kernel.modules); "-" and
	// "_" are the same, as for modprobe.
	Names []string
	// AdminCert is the admin's PEM certificate; nil leaves it out.
	AdminCert []byte
	// Release is the kernel release (uname -r) the modules belong to.
	Release string
	// Mtime is the timestamp of every entry.
	Mtime time.Time
}

// Result describes what was written.
type Result struct {
	// Modules are the module names in load order, dependencies first.
	Modules []string
	// Builtin are the requested names (and dependencies) that are built
	// into the kernel and so were left out.
	Builtin []string
}

// ErrUnknownModule is returned for a module name that is neither a module
// file nor built into the kernel.
var ErrUnknownModule = errors.New("unknown kernel module")

// Write writes the compressed initramfs to w.
func Write(w io.Writer, in Input) (Result, error) {
	if len(in.Init) == 0 {
		return Result{}, errors.New("initramfs: no init binary")
	}
	if in.Release == "" || strings.ContainsAny(in.Release, "/\n") {
		return Result{}, fmt.Errorf("initramfs: kernel release %q: want the kernel's uname -r", in.Release)
	}
	if in.Mtime.Unix() < 0 || in.Mtime.Unix() > 0xffffffff {
		return Result{}, fmt.Errorf("initramfs: mtime %v is outside the cpio range", in.Mtime)
	}
	var mods []Module
	var res Result
	if len(in.Names) > 0 {
		if in.Modules == nil {
			return Result{}, errors.New("initramfs: modules requested but no kernel modules directory given")
		}
		var err error
		mods, res.Builtin, err = Resolve(in.Modules, in.Names)
		if err != nil {
			return Result{}, err
		}
	}
	mt := in.Mtime.Unix()
	dir := func(name string) cpio.Entry { return cpio.Entry{Name: name, Mode: cpio.TypeDir | 0o755, Mtime: mt} }
	file := func(name string, mode uint32, data []byte) cpio.Entry {
		return cpio.Entry{Name: name, Mode: cpio.TypeFile | mode, Mtime: mt, Data: data}
	}
	var list bytes.Buffer
	entries := []cpio.Entry{
		dir("dev"),
		// The kernel opens /dev/console for init before anything is
		// mounted: without this node the init has no stdout.
		{Name: "dev/console", Mode: cpio.TypeChar | 0o600, Major: 5, Minor: 1, Mtime: mt},
		dir("etc"),
		dir("etc/hardenvm"),
	}
	if in.AdminCert != nil {
		entries = append(entries, file(bootparams.AdminCertPath, 0o644, in.AdminCert))
	}
	entries = append(entries, file(bootparams.ReleasePath, 0o644, []byte(in.Release+"\n")))
	for _, m := range mods {
		list.WriteString(m.Name + ".ko\n")
		res.Modules = append(res.Modules, m.Name)
	}
	entries = append(entries, file(bootparams.ModulesList, 0o644, list.Bytes()),
		file(bootparams.InitPath, 0o755, in.Init),
		dir("lib"), dir(bootparams.ModulesDir))
	for _, m := range mods {
		entries = append(entries, file(path.Join(bootparams.ModulesDir, m.Name+".ko"), 0o644, m.Data))
	}
	for _, d := range []string{"proc", "run", "sys", "sysroot"} {
		entries = append(entries, dir(d))
	}
	cw := cpio.NewGzipWriter(w)
	for _, e := range entries {
		if err := cw.Add(e); err != nil {
			return Result{}, fmt.Errorf("initramfs: %w", err)
		}
	}
	if err := cw.Close(); err != nil {
		return Result{}, fmt.Errorf("initramfs: %w", err)
	}
	return res, nil
}

// Module is one decompressed kernel module.
type Module struct {
	Name    string   // module name, with underscores
	Path    string   // where it was found in the modules directory
	Depends []string // its .modinfo depends=, normalized
	Data    []byte   // the .ko, signature included
}

// Normalize turns a module or file name into the module name the kernel
// uses: no directory, no .ko suffix, "-" written as "_".
func Normalize(name string) string {
	name = path.Base(name)
	for _, s := range []string{".xz", ".zst", ".gz"} {
		name = strings.TrimSuffix(name, s)
	}
	return strings.ReplaceAll(strings.TrimSuffix(name, ".ko"), "-", "_")
}

// Resolve finds the named modules and their dependency closure in modDir,
// in load order: each module after everything it depends on, otherwise in
// the order asked for. Built-in names are returned separately.
func Resolve(modDir fs.FS, names []string) (mods []Module, builtin []string, err error) {
	files, err := index(modDir)
	if err != nil {
		return nil, nil, err
	}
	built, err := builtins(modDir)
	if err != nil {
		return nil, nil, err
	}
	state := map[string]int{} // 1: visiting, 2: done
	var visit func(name, from string) error
	visit = func(name, from string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("initramfs: kernel module %s: dependency cycle through %s", name, from)
		case 2:
			return nil
		}
		p, ok := files[name]
		if !ok {
			if built[name] {
				state[name] = 2
				builtin = append(builtin, name)
				return nil
			}
			what := "requested"
			if from != "" {
				what = "needed by " + from
			}
			return fmt.Errorf("initramfs: %w %q (%s): not under kernel/ and not in modules.builtin of this kernel",
				ErrUnknownModule, name, what)
		}
		state[name] = 1
		m, err := load(modDir, p)
		if err != nil {
			return err
		}
		if m.Name != name {
			return fmt.Errorf("initramfs: %s: .modinfo says name=%s, want %s", p, m.Name, name)
		}
		for _, d := range m.Depends {
			if err := visit(d, name); err != nil {
				return err
			}
		}
		state[name] = 2
		mods = append(mods, m)
		return nil
	}
	for _, n := range names {
		n := Normalize(n)
		if n == "" || n == "." {
			return nil, nil, fmt.Errorf("initramfs: empty kernel module name")
		}
		if err := visit(n, ""); err != nil {
			return nil, nil, err
		}
	}
	return mods, builtin, nil
}

// index maps module names to their files under kernel/.
func index(modDir fs.FS) (map[string]string, error) {
	files := map[string]string{}
	err := fs.WalkDir(modDir, "kernel", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !isModuleFile(p) {
			return nil
		}
		n := Normalize(p)
		if prev, ok := files[n]; ok {
			return fmt.Errorf("module %s is both %s and %s", n, prev, p)
		}
		files[n] = p
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("initramfs: kernel modules directory: %w", err)
	}
	return files, nil
}

func isModuleFile(p string) bool {
	for _, s := range []string{".ko", ".ko.xz", ".ko.zst"} {
		if strings.HasSuffix(p, s) {
			return true
		}
	}
	return false
}

// builtins reads modules.builtin (paths of modules built into the kernel).
func builtins(modDir fs.FS) (map[string]bool, error) {
	b, err := fs.ReadFile(modDir, "modules.builtin")
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	out := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out[Normalize(l)] = true
		}
	}
	return out, nil
}

// maxModule bounds a decompressed module (the largest Debian modules are a
// few MiB), so that a damaged archive cannot fill memory.
const maxModule = 256 << 20

func load(modDir fs.FS, p string) (Module, error) {
	f, err := modDir.Open(p)
	if err != nil {
		return Module{}, fmt.Errorf("initramfs: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	switch {
	case strings.HasSuffix(p, ".xz"):
		zr, err := xz.NewReader(f)
		if err != nil {
			return Module{}, fmt.Errorf("initramfs: %s: %w", p, err)
		}
		r = zr
	case strings.HasSuffix(p, ".zst"):
		zr, err := zstd.NewReader(f)
		if err != nil {
			return Module{}, fmt.Errorf("initramfs: %s: %w", p, err)
		}
		defer zr.Close()
		r = zr
	}
	data, err := io.ReadAll(io.LimitReader(r, maxModule+1))
	if err != nil {
		return Module{}, fmt.Errorf("initramfs: decompressing %s: %w", p, err)
	}
	if len(data) > maxModule {
		return Module{}, fmt.Errorf("initramfs: %s: larger than %d bytes decompressed", p, maxModule)
	}
	info, err := ModInfo(data)
	if err != nil {
		return Module{}, fmt.Errorf("initramfs: %s: %w", p, err)
	}
	m := Module{Name: Normalize(info["name"]), Path: p, Data: data}
	if info["name"] == "" {
		m.Name = Normalize(p) // old kernels wrote no name=
	}
	for _, d := range strings.Split(info["depends"], ",") {
		if d = strings.TrimSpace(d); d != "" {
			m.Depends = append(m.Depends, Normalize(d))
		}
	}
	return m, nil
}

// ModInfo returns the key=value pairs of a module's .modinfo section. A
// key given more than once (alias=, parm=) keeps its values joined by
// newlines.
func ModInfo(ko []byte) (map[string]string, error) {
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return nil, fmt.Errorf("not an ELF kernel module: %w", err)
	}
	s := f.Section(".modinfo")
	if s == nil {
		return nil, errors.New("no .modinfo section: not a kernel module")
	}
	b, err := s.Data()
	if err != nil {
		return nil, fmt.Errorf(".modinfo: %w", err)
	}
	out := map[string]string{}
	for _, kv := range bytes.Split(b, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok {
			continue
		}
		if prev, seen := out[k]; seen {
			v = prev + "\n" + v
		}
		out[k] = v
	}
	return out, nil
}

// Signed reports whether a module carries an appended signature (the
// marker scripts/sign-file writes after it).
func Signed(ko []byte) bool { return bytes.HasSuffix(ko, []byte("~Module signature appended~\n")) }
