package configimage

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/adminsettings"
	"github.com/hardenvm/hardenvm/pkg/configpart"
	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/runtime"
)

var epoch = time.Unix(1700000000, 0).UTC()

func newKeys(t testing.TB) *keys.Set {
	t.Helper()
	s, err := keys.Generate(keys.Options{Now: epoch})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const tcpSettings = `{"configurationFileVersion":2,
 "enhancedContainerIsolation":{"value":true,"locked":true,"dockerSocketMount":{"imageList":{"images":["docker.io/library/docker:*"]},"commandList":{"type":"deny","commands":["push"]}}},
 "registryAllowList":{"value":["registry.internal:5000"],"locked":true},
 "linuxVM":{"dockerDaemonOptions":{"locked":true,"value":{"hosts":["tcp://0.0.0.0:2376"],"tlsverify":true}}}}
`

func TestBuildSignVerify(t *testing.T) {
	ctx := context.Background()
	set := newKeys(t)
	tlsDir := filepath.Join(t.TempDir(), "tls")
	tl, created, err := LoadOrCreateTLS(tlsDir, epoch)
	if err != nil || !created {
		t.Fatalf("LoadOrCreateTLS = %v, created %v", err, created)
	}
	im, err := Build(ctx, Options{Settings: []byte(tcpSettings), TLS: tl, Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	// Reproducible: the same inputs give the same bytes.
	im2, err := Build(ctx, Options{Settings: []byte(tcpSettings), TLS: tl, Epoch: epoch})
	if err != nil || !bytes.Equal(im.Bytes, im2.Bytes) {
		t.Fatalf("Build is not reproducible (%v)", err)
	}
	if _, err := Verify(ctx, im.Bytes, set.Get(keys.Admin).Cert); !errors.Is(err, configpart.ErrUnsigned) {
		t.Errorf("Verify(unsigned) = %v, want ErrUnsigned", err)
	}
	if err := im.Sign(ctx, set.Get(keys.Admin)); err != nil {
		t.Fatal(err)
	}
	l, err := Verify(ctx, im.Bytes, set.Get(keys.Admin).Cert)
	if err != nil {
		t.Fatalf("Verify(signed) = %v", err)
	}
	if got, want := hex.EncodeToString(l.Verity.RootHash), im.Layout.Signature.RootHash; got != want {
		t.Errorf("verified root hash %s, signed %s", got, want)
	}
	if l.Verity.HashStartBlock != uint64(l.DataSize/4096)+1 {
		t.Errorf("HashStartBlock = %d, want %d", l.Verity.HashStartBlock, l.DataSize/4096+1)
	}

	// Another admin key: refused, naming the certificate.
	other := newKeys(t).Get(keys.Admin)
	if _, err := Verify(ctx, im.Bytes, other.Cert); !errors.Is(err, configpart.ErrNotOurs) {
		t.Errorf("Verify with another admin cert = %v, want ErrNotOurs", err)
	}
	forged := &Image{Bytes: bytes.Clone(im.Bytes)}
	if err := forged.Sign(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(ctx, forged.Bytes, set.Get(keys.Admin).Cert); !errors.Is(err, configpart.ErrNotOurs) {
		t.Errorf("Verify(signed by another key) = %v, want ErrNotOurs", err)
	}
	// A signature block that names our certificate but was made by another key.
	sig := im.Layout.Signature
	osig, _ := configpart.Sign(other.Signer, other.Cert, l.Verity.RootHash, l.Verity.DataBlocks)
	sig.Signature = osig.Signature
	blk, _ := sig.MarshalBlock()
	swapped := bytes.Clone(im.Bytes)
	copy(swapped[l.SigOffset:], blk)
	if _, err := Verify(ctx, swapped, set.Get(keys.Admin).Cert); !errors.Is(err, configpart.ErrNotOurs) {
		t.Errorf("Verify(foreign signature, our fingerprint) = %v, want ErrNotOurs", err)
	}

	// One byte changed anywhere in the data or the tree: refused.
	for _, off := range []int64{0, 1100, l.DataSize - 1, l.DataSize + 4096 + 7, l.SigOffset - 1} {
		b := bytes.Clone(im.Bytes)
		b[off] ^= 0x01
		if _, err := Verify(ctx, b, set.Get(keys.Admin).Cert); err == nil {
			t.Errorf("Verify with byte %d flipped succeeded", off)
		}
	}

	// The files, as a peer (fsck.erofs) extracts them.
	fsck := testenv.Tool(t, "fsck.erofs", "erofs-utils")
	dir := t.TempDir()
	img := filepath.Join(dir, "config.img")
	if err := im.Write(img); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data.img")
	os.WriteFile(data, im.Bytes[:l.DataSize], 0o644)
	out := filepath.Join(dir, "x")
	if b, err := exec.Command(fsck, "--extract="+out, data).CombinedOutput(); err != nil {
		t.Fatalf("fsck.erofs: %v\n%s", err, b)
	}
	gotSettings, _ := os.ReadFile(filepath.Join(out, adminsettings.SettingsFile))
	if string(gotSettings) != tcpSettings {
		t.Errorf("admin-settings.json in the image differs from the input")
	}
	var rt runtime.Settings
	b, _ := os.ReadFile(filepath.Join(out, adminsettings.RuntimeFile))
	if err := json.Unmarshal(b, &rt); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"registry.internal:5000"}, rt.RegistryAllowList); diff != "" {
		t.Errorf("runtime.json registryAllowList (-want +got):\n%s", diff)
	}
	var dj map[string]any
	b, _ = os.ReadFile(filepath.Join(out, adminsettings.DaemonFile))
	json.Unmarshal(b, &dj)
	if dj["tlsverify"] != true || dj["tlscacert"] != "/run/hardenvm/config/tls/ca.pem" {
		t.Errorf("daemon.json without TLS verification: %s", b)
	}
	for _, f := range []struct{ name, want string }{{adminsettings.CAFile, TLSCA}, {adminsettings.ServerCertFile, TLSServerCert}, {adminsettings.ServerKeyFile, TLSServerKey}} {
		got, _ := os.ReadFile(filepath.Join(out, f.name))
		want, _ := os.ReadFile(filepath.Join(tlsDir, f.want))
		if !bytes.Equal(got, want) || len(got) == 0 {
			t.Errorf("%s in the image differs from %s", f.name, f.want)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "tls", TLSCAKey)); err == nil {
		t.Error("the CA key is in the image")
	}

	// The tree, as veritysetup checks it with the hash on the same file.
	vs := testenv.Tool(t, "veritysetup", "cryptsetup-bin")
	if b, err := exec.Command(vs, "verify", img, img, "--hash-offset="+strconv.FormatInt(l.DataSize, 10),
		hex.EncodeToString(l.Verity.RootHash)).CombinedOutput(); err != nil {
		t.Errorf("veritysetup verify: %v\n%s", err, b)
	}
}

func TestBuildRefuses(t *testing.T) {
	ctx := context.Background()
	tl, _, err := LoadOrCreateTLS(filepath.Join(t.TempDir(), "tls"), epoch)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		o    Options
		want string
	}{
		{"plain tcp", Options{Settings: []byte(`{"configurationFileVersion":2,"exposeDockerAPIOnTCP2375":{"value":true,"locked":true}}`), Epoch: epoch}, "exposeDockerAPIOnTCP2375.value"},
		{"tcp without tls material", Options{Settings: []byte(tcpSettings), Epoch: epoch}, "no TLS material"},
		{"tls without tcp", Options{TLS: tl, Epoch: epoch}, "no tcp:// host"},
		{"unknown key", Options{Settings: []byte(`{"configurationFileVersion":2,"x":1}`), Epoch: epoch}, "x: unknown key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(ctx, tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Build = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestRuntimeSettings(t *testing.T) {
	s, err := adminsettings.Parse([]byte(tcpSettings))
	if err != nil {
		t.Fatal(err)
	}
	r := RuntimeSettings(s)
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	want := runtime.Default()
	want.SocketImages = []string{"docker.io/library/docker:*"}
	want.CommandList = runtime.CommandList{Type: "deny", Commands: []string{"push"}}
	want.RegistryAllowList = []string{"registry.internal:5000"}
	want.ProtectedPaths = append(want.ProtectedPaths, "/run/hardenvm/config")
	want.HostPaths = true
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("RuntimeSettings (-want +got):\n%s", diff)
	}
	s, err = adminsettings.Parse([]byte(`{"configurationFileVersion":2,"blockDockerLoad":{"value":true,"locked":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !RuntimeSettings(s).BlockLoad {
		t.Error("blockDockerLoad true does not reach the runtime settings")
	}
	s, err = adminsettings.Parse([]byte(`{"configurationFileVersion":2,"proxy":{"locked":true,"mode":"manual","http":"http://p.example:3128","exclude":["localhost",".internal"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := RuntimeSettings(s).Proxy, (&runtime.Proxy{HTTP: "http://p.example:3128", NoProxy: "localhost,.internal"}); !cmp.Equal(got, want) {
		t.Errorf("the admin's proxy in the runtime settings: %+v, want %+v", got, want)
	}
	// Nesting and the benchmarks' plain runtime: off unless set (want
	// above has neither), each reaching the runtime when set.
	s, err = adminsettings.Parse([]byte(`{"configurationFileVersion":2,"nestingWithoutPrivileged":{"value":true,"locked":true},"benchmarkPlainRuntime":{"value":true,"locked":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	if r := RuntimeSettings(s); !r.Nesting || r.BenchmarkRuntime != adminsettings.BenchmarkRuntimeName {
		t.Errorf("RuntimeSettings: nesting %v, benchmark runtime %q; want true, %q", r.Nesting, r.BenchmarkRuntime, adminsettings.BenchmarkRuntimeName)
	}
	if r := RuntimeSettings(adminsettings.Default()); r.Nesting || r.BenchmarkRuntime != "" {
		t.Errorf("default RuntimeSettings: nesting %v, benchmark runtime %q; want both off", r.Nesting, r.BenchmarkRuntime)
	}
}

func TestTLSReload(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	a, _, err := LoadOrCreateTLS(dir, epoch)
	if err != nil {
		t.Fatal(err)
	}
	b, created, err := LoadOrCreateTLS(dir, epoch)
	if err != nil || created || !bytes.Equal(a.ServerKey, b.ServerKey) {
		t.Fatalf("second LoadOrCreateTLS: err %v, created %v, same key %v", err, created, bytes.Equal(a.ServerKey, b.ServerKey))
	}
	if st, _ := os.Stat(filepath.Join(dir, TLSCAKey)); st.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %v, want 0600", TLSCAKey, st.Mode().Perm())
	}
	// A server certificate from another CA is refused.
	other := filepath.Join(t.TempDir(), "tls")
	if err := CreateTLS(other, epoch); err != nil {
		t.Fatal(err)
	}
	c, _ := os.ReadFile(filepath.Join(other, TLSCA))
	os.WriteFile(filepath.Join(dir, TLSCA), c, 0o644)
	if _, err := LoadTLS(dir); err == nil || !strings.Contains(err.Error(), "not valid under") {
		t.Errorf("LoadTLS with a foreign CA = %v", err)
	}
}

// BenchmarkConfigBuildSignVerify: a config with TLS material, from
// settings to a verified signed image.
func BenchmarkConfigBuildSignVerify(b *testing.B) {
	ctx := context.Background()
	set := newKeys(b)
	tl, _, err := LoadOrCreateTLS(filepath.Join(b.TempDir(), "tls"), epoch)
	if err != nil {
		b.Fatal(err)
	}
	var size int
	for b.Loop() {
		im, err := Build(ctx, Options{Settings: []byte(tcpSettings), TLS: tl, Epoch: epoch})
		if err != nil {
			b.Fatal(err)
		}
		if err := im.Sign(ctx, set.Get(keys.Admin)); err != nil {
			b.Fatal(err)
		}
		if _, err := Verify(ctx, im.Bytes, set.Get(keys.Admin).Cert); err != nil {
			b.Fatal(err)
		}
		size = len(im.Bytes)
	}
	b.ReportMetric(float64(size), "image-bytes")
}

func TestCheckShares(t *testing.T) {
	root := t.TempDir()
	allowed, other := filepath.Join(root, "allowed"), filepath.Join(root, "other")
	for _, d := range []string{allowed + "/src", other} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink(other, filepath.Join(allowed, "escape"))
	s, err := adminsettings.Parse([]byte(`{"configurationFileVersion":2,"filesharingAllowedDirectories":[{"path":"$HOME"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	h := adminsettings.HostDirs{Home: allowed}
	got, err := CheckShares(s, []string{allowed + "/src/", allowed}, h)
	if err != nil || len(got) != 2 || got[0] != allowed+"/src" {
		t.Errorf("CheckShares(allowed) = %v, %v", got, err)
	}
	for _, d := range []string{other, filepath.Join(allowed, "escape")} {
		_, err := CheckShares(s, []string{d}, h)
		var r *ShareRefusal
		if !errors.As(err, &r) || !strings.Contains(err.Error(), "filesharingAllowedDirectories") {
			t.Errorf("CheckShares(%s) = %v, want a refusal naming filesharingAllowedDirectories", d, err)
		}
	}
	if _, err := CheckShares(s, []string{filepath.Join(allowed, "missing")}, h); err == nil {
		t.Error("CheckShares(missing) succeeded")
	}
	if _, err := CheckShares(adminsettings.Default(), []string{other}, h); err != nil {
		t.Errorf("CheckShares without a limit: %v", err)
	}
	if uid, gid := ShareOwner(adminsettings.Default()); uid != 100000 || gid != 100000 {
		t.Errorf("ShareOwner = %d:%d, want the runtime's container root 100000:100000", uid, gid)
	}
}
