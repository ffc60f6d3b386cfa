package imagebuild

import (
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/qemuimgtest"
	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/checklist"
	"github.com/hardenvm/hardenvm/pkg/efivars"
	"github.com/hardenvm/hardenvm/pkg/fstree"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/sign"
)

// The build does not look inside the init binary, so these tests use
// busybox; the boot tests in test/qemu use the real hardenvm-init.
const anyStaticBinary = "/bin/busybox"

func minimalSpec(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../../images/minimal.yml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func keySet(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keys")
	set, err := keys.Generate(keys.Options{Now: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Write(dir, set, false); err != nil {
		t.Fatal(err)
	}
	return dir
}

func options(t *testing.T, keysDir, out string) Options {
	testenv.File(t, anyStaticBinary, "busybox-static")
	testenv.File(t, efivars.DefaultTemplate, "ovmf")
	// The stage cache is off: these tests check what the stages make
	// (TestStageCacheIdentical checks the cache).
	return Options{Spec: minimalSpec(t), Out: out, Keys: keysDir, Init: anyStaticBinary, Agent: anyStaticBinary, Epoch: time.Unix(1700000000, 0),
		NoStageCache: true}
}

// TestReproducible builds images/minimal.yml twice into different
// directories: every artifact must be identical, and the peers agree with
// what the build says it made.
func TestReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("fetches the minimal image's packages; skipped with -short")
	}
	keysDir := keySet(t)
	dir := t.TempDir()
	var ms [2]*manifest.Manifest
	for i := range ms {
		o := options(t, keysDir, filepath.Join(dir, "not", "yet", "out"+string(rune('a'+i))))
		o.Formats = []string{imagedir.FormatVHDX, imagedir.FormatRaw, imagedir.FormatQCOW2}
		m, err := Build(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		ms[i] = m
	}
	a, b := ms[0], ms[1]
	for _, name := range []string{imagedir.Disk, imagedir.DiskQCOW2, imagedir.DiskVHDX, imagedir.UKI, imagedir.Vars, imagedir.SBOM} {
		if _, ok := a.Artifacts[name]; !ok {
			t.Errorf("the manifest does not list %s", name)
		}
		if a.Artifacts[name] != b.Artifacts[name] {
			t.Errorf("%s differs between two builds: %v vs %v", name, a.Artifacts[name], b.Artifacts[name])
		}
	}
	t.Logf("disk.raw sha256 %s (%d bytes), root hash %s", a.Artifacts[imagedir.Disk].SHA256, a.Artifacts[imagedir.Disk].Size, a.Root.RootHash)
	if !strings.Contains(a.Cmdline, "hardenvm.roothash="+a.Root.RootHash) {
		t.Errorf("cmdline %q lacks the root hash %s", a.Cmdline, a.Root.RootHash)
	}
	got, err := imagedir.Load(filepath.Join(dir, "not", "yet", "outa"))
	if err != nil || got.Root.RootHash != a.Root.RootHash {
		t.Fatalf("manifest.json: %v, %v", got, err)
	}
	// The PCR prediction is in the manifest, reproducible, and what
	// `hardenvm measure` computes from the artifacts.
	if a.PCRs == nil || !reflect.DeepEqual(a.PCRs, b.PCRs) {
		t.Errorf("PCR predictions differ or are missing: %+v vs %+v", a.PCRs, b.PCRs)
	}
	again, err := imagedir.Predict(filepath.Join(dir, "not", "yet", "outa"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, got.PCRs) {
		t.Errorf("manifest.json predicts %v, the artifacts give %v", got.PCRs.Values, again.Values)
	}
	if a.Agent == nil || a.Agent.SHA256 != hashOf(t, anyStaticBinary) {
		t.Errorf("manifest.json records agent %+v, want %s", a.Agent, anyStaticBinary)
	}

	out := filepath.Join(dir, "not", "yet", "outa")
	checkSBOM(t, out)
	// The other formats hold the same disk, as qemu-img reads them.
	qemuimgtest.Check(t, filepath.Join(out, imagedir.DiskQCOW2), "qcow2", filepath.Join(out, imagedir.Disk))
	qemuimgtest.Check(t, filepath.Join(out, imagedir.DiskVHDX), "vhdx", filepath.Join(out, imagedir.Disk))
	// The signed image verifies as a whole: bundle, digests, the real
	// verity tree and the real UKI's signature.
	rep := verifyImage(t, keysDir, out)
	if err := rep.Err(); err != nil {
		t.Errorf("verify: %v", err)
	}
	checkProvenance(t, out, keysDir, rep)
	sbverify := testenv.Tool(t, "sbverify", "sbsigntool")
	if o, err := exec.Command(sbverify, "--cert", filepath.Join(keysDir, "db.crt"), filepath.Join(out, imagedir.UKI)).CombinedOutput(); err != nil {
		t.Errorf("sbverify: %v\n%s", err, o)
	}
	sgdisk := testenv.Tool(t, "sgdisk", "gdisk")
	o, err := exec.Command(sgdisk, "-p", filepath.Join(out, imagedir.Disk)).CombinedOutput()
	if err != nil {
		t.Fatalf("sgdisk -p: %v\n%s", err, o)
	}
	for _, code := range []string{"EF00  esp", "8304  root-x86-64", "830C  root-x86-64-verity"} {
		if !strings.Contains(strings.Join(strings.Fields(string(o)), " "), strings.Join(strings.Fields(code), " ")) {
			t.Errorf("sgdisk -p does not list %q:\n%s", code, o)
		}
	}
}

// verifyImage runs imagedir.Verify on out with the key set's signing key.
func verifyImage(t *testing.T, keysDir, out string) *checklist.Report {
	t.Helper()
	pub, err := sign.LoadPublicKey(filepath.Join(keysDir, "signing.pub"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := imagedir.Verify(context.Background(), out, imagedir.Trust{PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestBadInputs: each failure is one clear error and leaves no output
// directory behind.
func TestBadInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("fetches the minimal image's packages; skipped with -short")
	}
	keysDir := keySet(t)
	tests := []struct {
		name string
		mod  func(t *testing.T, o *Options)
		want string
	}{
		{"missing key", func(t *testing.T, o *Options) {
			k := filepath.Join(t.TempDir(), "keys")
			os.CopyFS(k, os.DirFS(keysDir))
			keyFiles, _ := filepath.Glob(filepath.Join(k, "*.key"))
			for _, f := range keyFiles {
				os.Chmod(f, 0o600) // CopyFS does not keep modes
			}
			os.Remove(filepath.Join(k, "db.key"))
			o.Keys = k
		}, "db.key is missing"},
		{"missing init", func(t *testing.T, o *Options) { o.Init = "/nonexistent/hardenvm-init" }, "guest init /nonexistent/hardenvm-init"},
		{"unknown module", func(t *testing.T, o *Options) {
			o.Spec = editSpec(t, o.Spec, "    - erofs\n", "    - erofs\n    - no_such_module\n")
		}, "no_such_module"},
		{"agent not given", func(t *testing.T, o *Options) { o.Agent = "" }, "runs /usr/lib/hardenvm/hardenvm-agent as a service: attestation agent"},
		{"init not a program", func(t *testing.T, o *Options) { o.Init = o.Spec }, "is not an ELF program"},
		{"init of another architecture", func(t *testing.T, o *Options) {
			b, err := os.ReadFile(anyStaticBinary)
			if err != nil {
				t.Fatal(err)
			}
			binary.LittleEndian.PutUint16(b[18:], uint16(elf.EM_AARCH64)) // e_machine
			o.Init = filepath.Join(t.TempDir(), "hardenvm-init")
			os.WriteFile(o.Init, b, 0o755)
		}, "is for EM_AARCH64, the image is amd64: pass one built for amd64 (make build puts it in bin)"},
		{"missing agent", func(t *testing.T, o *Options) { o.Agent = "/nonexistent/hardenvm-agent" }, "attestation agent"},
		{"misspelt setting", func(t *testing.T, o *Options) {
			o.Spec = editSpec(t, o.Spec, "services:\n", "settings:\n  conifg: {adminSettings: a.json}\nservices:\n")
		}, "settings.conifg: unknown setting (want one of: config)"},
		{"service not in the image", func(t *testing.T, o *Options) {
			o.Spec = editSpec(t, o.Spec, "    command: /usr/bin/busybox\n", "    command: /usr/bin/no-such-program\n")
		}, "service ready: command /usr/bin/no-such-program is not in the image"},
		{"missing firmware template", func(t *testing.T, o *Options) {
			o.VarsTemplate = "/nonexistent/OVMF_VARS.fd"
		}, "firmware variable template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			o := options(t, keysDir, filepath.Join(parent, "out"))
			tt.mod(t, &o)
			_, err := Build(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build error = %v, want it to mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			if ents, _ := os.ReadDir(parent); len(ents) != 0 {
				t.Errorf("failed build left %v in the output's parent directory", ents)
			}
		})
	}
}

// editSpec copies the spec and its lock into a temp dir with one change.
func editSpec(t *testing.T, specPath, old, new string) string {
	t.Helper()
	b, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", specPath, old)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, filepath.Base(specPath))
	os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644)
	lock := strings.TrimSuffix(specPath, ".yml") + ".lock.json"
	lb, _ := os.ReadFile(lock)
	os.WriteFile(filepath.Join(dir, filepath.Base(lock)), lb, 0o644)
	return p
}

// TestStubMissing: a stub package that does not hold the EFI stub (or a
// damaged one) is refused by name.
func TestStubMissing(t *testing.T) {
	_, err := readTree(fstree.New(), StubPath)
	if err == nil || !strings.Contains(err.Error(), StubPath) {
		t.Errorf("readTree(empty tree, stub) = %v, want an error naming %s", err, StubPath)
	}
}

func hashOf(t *testing.T, path string) string {
	t.Helper()
	f, err := manifest.HashFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return f.SHA256
}

// TestRefusesNonImageOutput: -o naming a directory that is not a previous
// build output (a project's sources, the parent of several images, a file)
// is refused before any work, and nothing in it changes.
func TestRefusesNonImageOutput(t *testing.T) {
	keysDir := keySet(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, out string)
	}{
		{"project sources", func(t *testing.T, out string) {
			os.MkdirAll(filepath.Join(out, "cmd"), 0o755)
			os.WriteFile(filepath.Join(out, "go.mod"), []byte("module mine\n"), 0o644)
			os.WriteFile(filepath.Join(out, "cmd", "main.go"), []byte("package main\n"), 0o644)
		}},
		{"parent of images", func(t *testing.T, out string) {
			for _, n := range []string{"minimal", "desktop"} {
				os.MkdirAll(filepath.Join(out, n), 0o755)
				os.WriteFile(filepath.Join(out, n, imagedir.Manifest), []byte("{}"), 0o644)
			}
		}},
		{"a file", func(t *testing.T, out string) { os.WriteFile(out, []byte("notes\n"), 0o644) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			tt.setup(t, out)
			before := snapshot(t, filepath.Dir(out))
			_, err := Build(context.Background(), options(t, keysDir, out))
			if err == nil || !strings.Contains(err.Error(), "not an image directory") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Build(-o %s) = %v, want a one-line refusal", out, err)
			}
			if after := snapshot(t, filepath.Dir(out)); !reflect.DeepEqual(before, after) {
				t.Errorf("a refused build changed the output's parent:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// snapshot maps every path below dir to its contents ("/" for directories).
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			m[p] = "/"
			return nil
		}
		b, _ := os.ReadFile(p)
		m[p] = string(b)
		return nil
	})
	return m
}

// cancelAt is a progress terminal that cancels the build when it starts
// the step whose name contains at.
type cancelAt struct {
	at     string
	cancel context.CancelFunc
}

func (c *cancelAt) Write(p []byte) (int, error) {
	if strings.Contains(string(p), c.at) {
		c.cancel()
	}
	return len(p), nil
}

// TestInterrupted: a build cancelled (Ctrl-C, SIGTERM) at any step fails,
// leaves the previous output byte-identical, and leaves nothing beside it.
func TestInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("fetches the minimal image's packages; skipped with -short")
	}
	keysDir := keySet(t)
	out := filepath.Join(t.TempDir(), "out")
	if _, err := Build(context.Background(), options(t, keysDir, out)); err != nil {
		t.Fatal(err)
	}
	was := snapshot(t, filepath.Dir(out))
	for _, step := range []string{"fetching", "unpacking the root", "dm-verity", "initramfs", "GPT disk", "signing the manifest"} {
		t.Run(step, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			o := options(t, keysDir, out)
			o.Terminal = &cancelAt{at: step, cancel: cancel}
			o.Epoch = o.Epoch.Add(time.Second) // a different image, were it written
			_, err := Build(ctx, o)
			if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted") {
				t.Fatalf("Build cancelled at %q = %v, want an interruption", step, err)
			}
			if now := snapshot(t, filepath.Dir(out)); !reflect.DeepEqual(was, now) {
				t.Errorf("the interrupted build changed the output's parent directory")
			}
		})
	}
}
