package qemu

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/configimage"
	"github.com/hardenvm/hardenvm/pkg/efivars"
	"github.com/hardenvm/hardenvm/pkg/imagebuild"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/vm"
)

// buildDesktop builds images/desktop.yml (copied with its lock beside the
// runtime binaries it includes, built here) signed with keysDir.
func buildDesktop(t testing.TB, keysDir string) string {
	t.Helper()
	testenv.File(t, efivars.DefaultTemplate, "ovmf")
	return buildDesktopSpec(t, keysDir, "desktop", "amd64", guestInit(t), guestAgent(t))
}

// buildDesktopSpec builds images/NAME.yml, whose runtime binaries are
// built here for goarch into bin/ (amd64) or bin/GOARCH/ beside the copied
// spec, with the guest init and agent given.
func buildDesktopSpec(t testing.TB, keysDir, name, goarch, init, agent string) string {
	t.Helper()
	return buildDesktopVariant(t, keysDir, name, goarch, init, agent, desktopVariant{})
}

// desktopVariant changes a spec before it is built: edits to its text
// (old → new, each old found once), guest programs of this module copied
// into the spec's bin/ (file name → package), and the build options.
type desktopVariant struct {
	edits      [][2]string
	programs   map[string]string
	unhardened bool // hardenvm build --unhardened-for-benchmarks
}

// buildDesktopVariant is buildDesktopSpec with the variant applied.
func buildDesktopVariant(t testing.TB, keysDir, name, goarch, init, agent string, v desktopVariant) string {
	t.Helper()
	specDir := t.TempDir()
	for _, f := range []string{name + ".yml", name + ".lock.json"} {
		b, err := os.ReadFile(filepath.Join("../../images", f))
		if err != nil {
			t.Fatal(err)
		}
		if f == name+".yml" {
			for _, e := range v.edits {
				if strings.Count(string(b), e[0]) != 1 {
					t.Fatalf("images/%s: %q is not there exactly once", f, e[0])
				}
				b = []byte(strings.Replace(string(b), e[0], e[1], 1))
			}
		}
		os.WriteFile(filepath.Join(specDir, f), b, 0o644)
	}
	bin := filepath.Join(specDir, "bin")
	if goarch != "amd64" {
		bin = filepath.Join(bin, goarch)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", bin+"/",
		"../../cmd/hardenvm-runc", "../../cmd/hardenvm-authz", "../../cmd/hardenvm-bridge", "../../cmd/hardenvm-egress")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the runtime binaries: %v\n%s", err, out)
	}
	for file, pkg := range v.programs {
		b, err := os.ReadFile(crossGuest(t, pkg, goarch))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, file), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), name)
	if _, err := imagebuild.Build(context.Background(), imagebuild.Options{
		Spec: filepath.Join(specDir, name+".yml"), Out: out, Keys: keysDir, Init: init, Agent: agent, Epoch: time.Unix(1700000000, 0),
		UnhardenedForBenchmarks: v.unhardened,
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// installSettings builds a config from settings with the TLS material,
// signs it with the admin key and installs it into the image directory.
func installSettings(t testing.TB, img, keysDir, settings string, tl *configimage.TLS) {
	t.Helper()
	im, err := configimage.Build(context.Background(), configimage.Options{Settings: []byte(settings), TLS: tl, Epoch: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := keys.LoadRole(keysDir, keys.Admin)
	signing, _ := keys.LoadRole(keysDir, keys.Signing)
	if err := im.Sign(context.Background(), admin); err != nil {
		t.Fatal(err)
	}
	if _, err := imagedir.Install(context.Background(), img, im, imagedir.InstallOptions{Admin: admin, Signing: signing}); err != nil {
		t.Fatal(err)
	}
}

// bootDesktop boots the image with the guest's 2376 and 2375 forwarded
// to free ports of the host's loopback, until the init is READY.
func bootDesktop(t testing.TB, img string) (m *vm.Machine, tlsPort, plainPort int) {
	t.Helper()
	tlsPort, plainPort = freePort(t), freePort(t)
	testenv.File(t, vm.OVMFCodeSecureBoot, "ovmf")
	state := t.TempDir()
	b, _ := os.ReadFile(filepath.Join(img, imagedir.Vars))
	varsCopy := filepath.Join(state, "OVMF_VARS.fd")
	atomicfile.WriteFile(varsCopy, b, 0o600)
	m = boot(t, vm.Config{
		StateDir: state, FirmwareCode: vm.OVMFCodeSecureBoot, FirmwareVars: varsCopy,
		Disks: []vm.Disk{{Path: filepath.Join(img, imagedir.Disk), Snapshot: true}}, TPM: true, MemoryMiB: 2048,
		Net: &vm.Net{HostForwards: []vm.HostForward{{HostPort: tlsPort, GuestPort: 2376}, {HostPort: plainPort, GuestPort: 2375}}},
	})
	expect(t, m, 6*time.Minute, `hardenvm-init: config mounted read-only at /run/hardenvm/config`)
	expect(t, m, 3*time.Minute, `hardenvm-init: READY`)
	return m, tlsPort, plainPort
}

// pull asks the engine to pull ref and returns the status and body.
func pull(t *testing.T, c *http.Client, port int, ref string) (int, string) {
	t.Helper()
	name, tag := ref, "latest"
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		name, tag = ref[:i], ref[i+1:]
	}
	resp, err := c.Post(fmt.Sprintf("https://127.0.0.1:%d/images/create?fromImage=%s&tag=%s", port, name, tag), "", nil)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b)
}

const policyRefusal = "is not allowed by the admin policy (registryAllowList)"

// TestDesktopEngineTLS builds the desktop image, installs a config that
// serves the engine on TCP 2376 with TLS client verification and allows
// one registry, boots it, and checks that the host reaches the engine API
// only with a client certificate of the config's CA: with the Go client
// and the real docker CLI; without a certificate, in plain text, or on
// 2375, it gets no API. The engine runs the hardened runtime and the
// authorization plugin, which refuses a pull from another registry. Then
// a config with another allow-list is installed (OS partitions
// untouched) and, after a reboot, the engine's behaviour follows it.
func TestDesktopEngineTLS(t *testing.T) {
	requireQEMU(t)
	keysDir := newKeys(t)
	img := buildDesktop(t, keysDir)

	tlsDir := filepath.Join(t.TempDir(), "tls")
	tl, _, err := configimage.LoadOrCreateTLS(tlsDir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	const engineOpts = `"linuxVM":{"dockerDaemonOptions":{"locked":true,"value":{"hosts":["tcp://0.0.0.0:2376"],"tlsverify":true}}}`
	installSettings(t, img, keysDir, `{"configurationFileVersion":2,"registryAllowList":{"value":["registry.internal:5000"],"locked":true},`+engineOpts+`}`, tl)
	m0, _ := imagedir.Load(img)
	m, tlsPort, plainPort := bootDesktop(t, img)

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(tl.CA)
	cert, err := tls.LoadX509KeyPair(filepath.Join(tlsDir, configimage.TLSClientCert), filepath.Join(tlsDir, configimage.TLSClientKey))
	if err != nil {
		t.Fatal(err)
	}
	client := func(certs []tls.Certificate) *http.Client {
		return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs, ServerName: "127.0.0.1"}}}
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/version", tlsPort)
	version := waitEngine(t, client([]tls.Certificate{cert}), tlsPort)
	t.Logf("engine over TLS: %.200s", version)

	// The read-only root console runs as an unprivileged user outside the
	// docker group: it cannot reach the engine socket (connect(2) on a
	// unix socket needs write permission on it, which access(2) checks).
	if err := m.Console().Send(`echo "CONSOLE-ENGINE uid=$(id -u) groups=$(id -G | tr ' ' ,) sock=$(stat -c %U:%G:%a /run/docker.sock) $([ -w /run/docker.sock ] && echo reachable || echo denied)"`); err != nil {
		t.Fatal(err)
	}
	sock := expect(t, m, time.Minute, `CONSOLE-ENGINE uid=(\d+) groups=(\S+) sock=(\S+) (reachable|denied)\r?\n`)
	t.Logf("console: %s", strings.TrimSpace(sock[0]))
	if sock[1] == "0" || sock[4] != "denied" {
		t.Errorf("the console can reach the engine socket: %s", strings.TrimSpace(sock[0]))
	}

	// The engine runs as the config says: the hardened shim as its
	// default runtime, the authorization plugin in front of the API.
	resp, err := client([]tls.Certificate{cert}).Get(fmt.Sprintf("https://127.0.0.1:%d/info", tlsPort))
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		DefaultRuntime string
		Runtimes       map[string]struct{ Path string }
		Plugins        struct{ Authorization []string }
	}
	err = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if info.DefaultRuntime != "hardenvm" || info.Runtimes["hardenvm"].Path != "/usr/local/sbin/runc" || !slices.Contains(info.Plugins.Authorization, "hardenvm") {
		t.Errorf("engine info: default runtime %q, runtimes %v, authorization plugins %v", info.DefaultRuntime, info.Runtimes, info.Plugins.Authorization)
	}

	// Without a client certificate: the handshake or the request fails.
	if resp, err := client(nil).Get(url); err == nil {
		resp.Body.Close()
		t.Errorf("the engine answered a TLS client without a certificate: %s", resp.Status)
	}
	// Plain HTTP on the TLS port: no API.
	if resp, err := (&http.Client{Timeout: 20 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/version", tlsPort)); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "ApiVersion") {
			t.Errorf("plain HTTP on the TLS port got the engine API: %s", body)
		}
	}
	// 2375: nothing listens.
	if resp, err := (&http.Client{Timeout: 20 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/version", plainPort)); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Errorf("port 2375 answered: %s %s", resp.Status, body)
	}

	// The real docker CLI, with DOCKER_CERT_PATH.
	docker := testenv.Tool(t, "docker", "docker.io")
	cli := func(env ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, docker, "--host", fmt.Sprintf("tcp://127.0.0.1:%d", tlsPort), "version", "--format", "{{.Server.Version}}")
		c.Env = append(append(os.Environ(), "DOCKER_CONFIG="+t.TempDir()), env...)
		out, err := c.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := cli("DOCKER_CERT_PATH="+tlsDir, "DOCKER_TLS_VERIFY=1"); err != nil || out == "" {
		t.Errorf("docker --tlsverify version: %v: %s", err, out)
	} else {
		t.Logf("docker CLI over TLS: server %s", out)
	}
	if out, err := cli(); err == nil {
		t.Errorf("docker without TLS reached the engine: %s", out)
	}

	// The registry allow-list, enforced by the authorization plugin.
	c0 := client([]tls.Certificate{cert})
	if code, body := pull(t, client([]tls.Certificate{cert}), tlsPort, "other.example/app:1"); code != http.StatusForbidden || !strings.Contains(body, policyRefusal) {
		t.Errorf("pull from a registry off the allow-list: %d %s", code, body)
	}
	if _, body := pull(t, client([]tls.Certificate{cert}), tlsPort, "registry.internal:5000/app:1"); strings.Contains(body, policyRefusal) {
		t.Errorf("pull from the allowed registry was refused by the policy: %s", body)
	}
	// Containers run through the hardened shim: in a user namespace, and
	// the config mount cannot be bind-mounted, read-only or not,
	// privileged or not.
	code, out := engineAPI(t, c0, tlsPort, "POST", "/images/load?quiet=1", "application/x-tar", busyboxImage(t, "hvtest:1"))
	if code != http.StatusOK {
		t.Fatalf("loading the test image: %d %s", code, out)
	}
	if serr, logs := runContainer(t, c0, tlsPort, "hvtest:1", []string{"cat", "/proc/self/uid_map"}, map[string]any{}); serr != "" || !strings.Contains(logs, "100000") {
		t.Errorf("a plain container: start %q, uid_map %q (want the hardened runtime's user namespace)", serr, logs)
	}
	for _, hc := range []map[string]any{
		{"Binds": []string{"/run/hardenvm/config:/c"}},
		{"Binds": []string{"/run/hardenvm/config:/c:ro"}},
		{"Binds": []string{"/run/hardenvm:/c"}},
		{"Binds": []string{"/run/hardenvm/config:/c"}, "Privileged": true},
	} {
		serr, logs := runContainer(t, c0, tlsPort, "hvtest:1", []string{"sh", "-c", "echo x >> /c/admin-settings.json; cat /c/admin-settings.json"}, hc)
		if serr == "" || !strings.Contains(serr, "not allowed by the admin policy") {
			t.Errorf("container with %v: start error %q, output %q; want a policy refusal", hc, serr, logs)
		} else {
			t.Logf("container with %v refused: %.200s", hc, serr)
		}
	}
	m.Stop()

	// Another allow-list, installed into the same disk: the OS is the
	// same, the engine's behaviour after a reboot is the new config's.
	installSettings(t, img, keysDir, `{"configurationFileVersion":2,"registryAllowList":{"value":["other.example"],"locked":true},"blockDockerLoad":{"value":true,"locked":true},`+engineOpts+`}`, tl)
	m1, _ := imagedir.Load(img)
	if m1.Root != m0.Root || m1.UKI.Authenticode != m0.UKI.Authenticode || m1.Cmdline != m0.Cmdline || m1.Config.RootHash == m0.Config.RootHash {
		t.Errorf("install changed the OS or not the config: root %v/%v, config %s/%s", m0.Root, m1.Root, m0.Config.RootHash, m1.Config.RootHash)
	}
	_, tlsPort, _ = bootDesktop(t, img)
	c := client([]tls.Certificate{cert})
	waitEngine(t, c, tlsPort)
	if code, body := pull(t, c, tlsPort, "other.example/app:1"); strings.Contains(body, policyRefusal) {
		t.Errorf("after installing the new allow-list, pulling from other.example is still refused: %s", body)
	} else {
		t.Logf("after the new allow-list, other.example/app:1 is pulled (and fails offline): %d %.200s", code, body)
	}
	if code, body := pull(t, c, tlsPort, "registry.internal:5000/app:1"); code != http.StatusForbidden || !strings.Contains(body, policyRefusal) {
		t.Errorf("after installing the new allow-list, pull from registry.internal:5000: %d %s", code, body)
	}
	// blockDockerLoad (set in this config): docker load is refused.
	if code, body := engineAPI(t, c, tlsPort, "POST", "/images/load?quiet=1", "application/x-tar", busyboxImage(t, "hvtest:2")); code != http.StatusForbidden || !strings.Contains(body, "is not allowed by the admin policy (blockDockerLoad)") {
		t.Errorf("docker load with blockDockerLoad set: %d %s; want a refusal naming blockDockerLoad", code, body)
	}
}

// waitEngine polls /version over TLS until the engine answers (bounded).
func waitEngine(t *testing.T, c *http.Client, port int) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		resp, err := c.Get(fmt.Sprintf("https://127.0.0.1:%d/version", port))
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.Contains(string(body), `"ApiVersion"`) {
				return string(body)
			}
			err = fmt.Errorf("status %s: %s", resp.Status, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the engine never answered over TLS with the client certificate: %v", err)
		}
		time.Sleep(3 * time.Second)
	}
}

// busyboxImage is a docker-archive (docker save) tarball of a one-layer
// image holding the host's static busybox: test images are made here,
// the VM reaches no registry.
func busyboxImage(t testing.TB, tag string) []byte {
	t.Helper()
	bb := testenv.Tool(t, "busybox", "busybox-static")
	bin, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	lw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	lw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin))})
	lw.Write(bin)
	for _, l := range []string{"sh", "cat", "touch", "mount", "echo", "id"} {
		lw.WriteHeader(&tar.Header{Name: "bin/" + l, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777})
	}
	for _, d := range []string{"proc/", "sys/", "dev/", "etc/", "tmp/", "mnt/"} {
		lw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755})
	}
	lw.Close()
	diffID := sha256.Sum256(layer.Bytes())
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Cmd": []string{"/bin/sh"}, "Env": []string{"PATH=/bin"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffID[:])}},
	})
	man, _ := json.Marshal([]map[string]any{{"Config": "config.json", "RepoTags": []string{tag}, "Layers": []string{"layer.tar"}}})
	var out bytes.Buffer
	w := tar.NewWriter(&out)
	for _, f := range []struct {
		name string
		b    []byte
	}{{"layer.tar", layer.Bytes()}, {"config.json", cfg}, {"manifest.json", man}} {
		w.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.b))})
		w.Write(f.b)
	}
	w.Close()
	return out.Bytes()
}

// engineAPI calls the engine over TLS and returns the status and body.
func engineAPI(t *testing.T, c *http.Client, port int, method, path, ctype string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, fmt.Sprintf("https://127.0.0.1:%d%s", port, path), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	cc := *c
	cc.Timeout = 3 * time.Minute
	resp, err := cc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// runContainer creates and starts a container (no network) and returns
// the start error (if any) and its output.
func runContainer(t *testing.T, c *http.Client, port int, image string, cmd []string, hostConfig map[string]any) (startErr, output string) {
	t.Helper()
	hostConfig["NetworkMode"] = "none"
	body, _ := json.Marshal(map[string]any{"Image": image, "Cmd": cmd, "HostConfig": hostConfig})
	code, out := engineAPI(t, c, port, "POST", "/containers/create", "application/json", body)
	if code != http.StatusCreated {
		return out, ""
	}
	var created struct{ Id string }
	json.Unmarshal([]byte(out), &created)
	code, out = engineAPI(t, c, port, "POST", "/containers/"+created.Id+"/start", "", nil)
	if code != http.StatusNoContent {
		return out, ""
	}
	engineAPI(t, c, port, "POST", "/containers/"+created.Id+"/wait", "", nil)
	_, logs := engineAPI(t, c, port, "GET", "/containers/"+created.Id+"/logs?stdout=1&stderr=1", "", nil)
	return "", logs
}
