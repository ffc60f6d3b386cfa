package qemu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/attest"
	"github.com/hardenvm/hardenvm/pkg/attest/agentproto"
	"github.com/hardenvm/hardenvm/pkg/checklist"
	"github.com/hardenvm/hardenvm/pkg/configimage"
	"github.com/hardenvm/hardenvm/pkg/efivars"
	"github.com/hardenvm/hardenvm/pkg/imagebuild"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/pcr"
	"github.com/hardenvm/hardenvm/pkg/uki"
	"github.com/hardenvm/hardenvm/pkg/vm"
)

// readPCRs reads the SHA-256 bank in the guest through the read-only
// console (sysfs PCR files are world-readable).
func readPCRs(t *testing.T, m *vm.Machine, pcrs []int) map[int]string {
	t.Helper()
	got := map[int]string{}
	for _, i := range pcrs {
		m.Console().Send(fmt.Sprintf("echo PCR%d=$(cat /sys/class/tpm/tpm0/pcr-sha256/%d)", i, i))
		sub := expect(t, m, 30*time.Second, fmt.Sprintf(`PCR%d=([0-9A-Fa-f]{64})`, i))
		got[i] = strings.ToLower(sub[1])
	}
	return got
}

// agentSession connects to the agent's channel and runs identity, AK
// binding and a quote; the agent may still be starting (bounded wait).
func agentSession(t *testing.T, m *vm.Machine) (*attest.Client, *attest.Session) {
	t.Helper()
	cfg := m.Config()
	sock := cfg.ChannelPath(agentproto.ChannelName)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		c, err := attest.Dial(context.Background(), sock)
		if err == nil {
			c.Timeout = time.Minute
			s, err := c.Collect()
			if err == nil {
				return c, s
			}
			c.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not answer within 3m: %v", err)
		}
		time.Sleep(2 * time.Second)
	}
}

func loadManifest(t *testing.T, dir string) *manifest.Manifest {
	t.Helper()
	m, err := imagedir.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.PCRs == nil {
		t.Fatalf("%s: the build wrote no PCR prediction", dir)
	}
	return m
}

func reportCheck(t *testing.T, r *attest.Result, name string) checklist.Check {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %q check in %+v", name, r.Checks)
	return checklist.Check{}
}

// wantFail asserts the named check failed and its detail says what.
func wantFail(t *testing.T, r *attest.Result, name string, says ...string) {
	t.Helper()
	c := reportCheck(t, r, name)
	if c.Status != checklist.Fail {
		t.Errorf("%s passed: %s", name, c.Detail)
		return
	}
	for _, s := range says {
		if !strings.Contains(c.Detail, s) {
			t.Errorf("%s: %q does not say %q", name, c.Detail, s)
		}
	}
	if r.Err() == nil {
		t.Errorf("the report passes although %s failed", name)
	}
	t.Logf("%s: %s", name, c.Detail)
}

// buildVariant builds images/minimal.yml with one text substitution (its
// lock file copied beside it).
func buildVariant(t *testing.T, keysDir, old, new string) string {
	t.Helper()
	dir := t.TempDir()
	src, err := os.ReadFile("../../images/minimal.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(src, []byte(old)) {
		t.Fatalf("minimal.yml has no %q", old)
	}
	lock, err := os.ReadFile("../../images/minimal.lock.json")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "minimal.yml"), bytes.Replace(src, []byte(old), []byte(new), 1), 0o644)
	os.WriteFile(filepath.Join(dir, "minimal.lock.json"), lock, 0o644)
	out := filepath.Join(t.TempDir(), "variant")
	_, err = imagebuild.Build(context.Background(), imagebuild.Options{Spec: filepath.Join(dir, "minimal.yml"), Out: out, Keys: keysDir,
		Init: guestInit(t), Agent: guestAgent(t), Epoch: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// varsWithExtraDB enrolls the key set with a second certificate in db: the
// UKI still boots (its signer is still in db) but the policy changed.
func varsWithExtraDB(t *testing.T, keysDir string) string {
	t.Helper()
	set, err := keys.Load(keysDir)
	if err != nil {
		t.Fatal(err)
	}
	other, err := keys.Load(newKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	e, err := efivars.KeySetEnrollment(set, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	e.DB = append(e.DB, other.Get(keys.DB).Cert)
	p := filepath.Join(t.TempDir(), "OVMF_VARS.fd")
	if err := efivars.EnrollFile(efivars.DefaultTemplate, p, e); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAttest boots images/minimal.yml once under OVMF Secure Boot with
// swtpm and runs every check on that boot: the build's prediction equals
// the TPM (PCRs 4, 7, 9, 11, 15, read on the console and quoted by the
// agent), hardenvm attest passes, and fails on a replayed quote, on the
// manifest of an image with another command line, and on truncated or
// garbled evidence. A second boot, with the config partition swapped and a
// changed db, fails PCR 15 and PCR 7, each named; a third boot of that
// (now grown) disk passes against the swapped image's manifest.
func TestAttest(t *testing.T) {
	requireQEMU(t)
	keysDir := newKeys(t)
	img := buildMinimal(t, keysDir)
	man := loadManifest(t, img)
	// The same image with another command line (panic instead of restart
	// on verity corruption), signed by the same keys.
	otherCmdline := buildVariant(t, keysDir, "corruption: restart_on_corruption", "corruption: panic_on_corruption")
	manOther := loadManifest(t, otherCmdline)
	if manOther.Cmdline == man.Cmdline {
		t.Fatal("the variant has the same command line")
	}
	cli := hardenvmBinary(t)

	m := bootImage(t, filepath.Join(img, imagedir.Disk), filepath.Join(img, imagedir.Vars))
	expect(t, m, 5*time.Minute, `hardenvm-init: READY`)
	c, s := agentSession(t, m)
	ev := s.Evidence

	t.Run("prediction equals the TPM", func(t *testing.T) {
		again, err := imagedir.Predict(img)
		if err != nil {
			t.Fatal(err)
		}
		console := readPCRs(t, m, pcr.Predicted)
		for _, i := range pcr.Predicted {
			k := strconv.Itoa(i)
			want := man.PCRs.Values[k]
			if again.Values[k] != want {
				t.Errorf("PCR %d: hardenvm measure gives %s, the manifest %s", i, again.Values[k], want)
			}
			if console[i] != want {
				t.Errorf("PCR %d: the guest reads %s, predicted %s", i, console[i], want)
			}
			if q := hex.EncodeToString(ev.PCRs[i]); q != want {
				t.Errorf("PCR %d: quoted %s, predicted %s", i, q, want)
			} else {
				t.Logf("PCR %2d = %s: TPM, quote and prediction agree", i, q)
			}
		}
	})

	t.Run("clean boot passes", func(t *testing.T) {
		r := attest.Verify(ev, attest.Expect{Nonce: s.Nonce, PCRs: man.PCRs, AKBound: true})
		for _, ch := range r.Checks {
			t.Logf("%-5v %-20s %s", ch.Status, ch.Name, ch.Detail)
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		if len(ev.EKCert) == 0 {
			t.Error("the agent sent no EK certificate (swtpm_setup --create-ek-cert made one)")
		}
	})

	s2, err := c.Collect()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("replayed quote", func(t *testing.T) {
		r := attest.Verify(ev, attest.Expect{Nonce: s2.Nonce, PCRs: man.PCRs, AKBound: true})
		wantFail(t, r, "quote", "replayed")
	})
	t.Run("image with another cmdline", func(t *testing.T) {
		r := attest.Verify(s2.Evidence, attest.Expect{Nonce: s2.Nonce, PCRs: manOther.PCRs, AKBound: true})
		wantFail(t, r, "PCR 11", ".cmdline", "cmdline differs")
		wantFail(t, r, "PCR 9", "LoadOptions", "cmdline differs")
		if ch := reportCheck(t, r, "PCR 7"); ch.Status != checklist.OK {
			t.Errorf("PCR 7 failed though the keys are the same: %s", ch.Detail)
		}
	})
	t.Run("truncated or garbled evidence", func(t *testing.T) {
		cp := func(mut func(e *agentproto.Evidence)) *agentproto.Evidence {
			e := *s2.Evidence
			mut(&e)
			return &e
		}
		tests := []struct {
			name, check, says string
			ev                *agentproto.Evidence
		}{
			{"event log truncated", "firmware event log", "truncated", cp(func(e *agentproto.Evidence) { e.EventLog = e.EventLog[:len(e.EventLog)*2/3] })},
			{"event log garbled", "firmware event log", "", cp(func(e *agentproto.Evidence) {
				e.EventLog = append([]byte(nil), e.EventLog...)
				for i := 100; i < 160; i++ {
					e.EventLog[i] ^= 0x5a
				}
			})},
			{"no event log", "firmware event log", "empty", cp(func(e *agentproto.Evidence) { e.EventLog = nil })},
			{"PCR 15 log truncated", "PCR 15 log", "", cp(func(e *agentproto.Evidence) { e.PCR15Log = e.PCR15Log[:len(e.PCR15Log)/2] })},
			{"quote truncated", "quote", "", cp(func(e *agentproto.Evidence) { e.Quote = e.Quote[:len(e.Quote)-5] })},
			{"quote garbled", "quote", "does not verify", cp(func(e *agentproto.Evidence) {
				e.Quote = append([]byte(nil), e.Quote...)
				e.Quote[12] ^= 0xff
			})},
			{"signature garbled", "quote", "", cp(func(e *agentproto.Evidence) { e.Signature = []byte{0, 0x18, 0} })},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := attest.Verify(tt.ev, attest.Expect{Nonce: s2.Nonce, PCRs: man.PCRs, AKBound: true})
				wantFail(t, r, tt.check, tt.says)
			})
		}
	})
	t.Run("PCR 11 equals systemd-measure for its sections", func(t *testing.T) {
		systemdMeasure252(t, img)
	})
	c.Close()

	t.Run("hardenvm attest", func(t *testing.T) {
		dir := t.TempDir()
		saved, golden := filepath.Join(dir, "evidence.json"), filepath.Join(dir, "golden.json")
		cfg := m.Config()
		sock := cfg.ChannelPath(agentproto.ChannelName)
		out, err := exec.Command(cli, "attest", img, "--vm", sock, "--save", saved, "--record-golden", golden).CombinedOutput()
		t.Logf("hardenvm attest --vm:\n%s", out)
		if err != nil {
			t.Fatalf("hardenvm attest --vm failed on a clean boot: %v", err)
		}
		var sv struct {
			Nonce []byte `json:"nonce"`
		}
		b, _ := os.ReadFile(saved)
		if err := json.Unmarshal(b, &sv); err != nil || len(sv.Nonce) == 0 {
			t.Fatalf("saved evidence: %v", err)
		}
		out, err = exec.Command(cli, "attest", img, "--quote", saved, "--nonce", hex.EncodeToString(sv.Nonce), "--golden", golden).CombinedOutput()
		if err != nil {
			t.Errorf("the saved evidence with its nonce and golden values fails: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "as recorded for this firmware") {
			t.Errorf("the golden values were not checked:\n%s", out)
		}
		// The same image rebuilt (reproducibly) with the golden values in
		// its manifest: they are checked without --golden.
		spec, _ := filepath.Abs("../../images/minimal.yml")
		rebuilt := filepath.Join(t.TempDir(), "minimal")
		if _, err := imagebuild.Build(context.Background(), imagebuild.Options{Spec: spec, Out: rebuilt, Keys: keysDir,
			Init: guestInit(t), Agent: guestAgent(t), Golden: golden, Epoch: time.Unix(1700000000, 0)}); err != nil {
			t.Fatal(err)
		}
		out, err = exec.Command(cli, "attest", rebuilt, "--quote", saved, "--nonce", hex.EncodeToString(sv.Nonce)).CombinedOutput()
		if err != nil || strings.Count(string(out), "as recorded for this firmware") != len(pcr.FirmwarePCRs) {
			t.Errorf("the rebuilt image with golden values in its manifest: %v\n%s", err, out)
		}
		out, err = exec.Command(cli, "attest", img, "--quote", saved, "--nonce", hex.EncodeToString(attest.NewNonce())).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "replayed") {
			t.Errorf("a replayed quote: %v, want exit 1 naming the replay:\n%s", err, out)
		}
		out, err = exec.Command(cli, "attest", otherCmdline, "--quote", saved, "--nonce", hex.EncodeToString(sv.Nonce)).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "cmdline differs") {
			t.Errorf("another image's manifest: %v, want a failure naming the cmdline:\n%s", err, out)
		}
	})
	m.Stop()

	// A second boot: the image with its config partition swapped for
	// another validly signed one (hardenvm config install on a copy), on a
	// writable disk, with a db holding one more certificate. The firmware
	// and the init accept all of it; attestation against the original
	// manifest must name both changes.
	swapped := swapConfig(t, img, keysDir)
	manSwapped := loadManifest(t, swapped)
	if manSwapped.Config.RootHash == man.Config.RootHash {
		t.Fatal("the swapped config has the same root hash")
	}
	rw := filepath.Join(t.TempDir(), "disk.raw")
	if out, err := exec.Command("cp", "--sparse=always", filepath.Join(swapped, imagedir.Disk), rw).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	t.Run("config swapped and vars with another db", func(t *testing.T) {
		m := bootWritable(t, rw, varsWithExtraDB(t, keysDir))
		expect(t, m, 5*time.Minute, `hardenvm-init: created data partition`)
		expect(t, m, 2*time.Minute, `hardenvm-init: READY`)
		c, s := agentSession(t, m)
		r := attest.Verify(s.Evidence, attest.Expect{Nonce: s.Nonce, PCRs: man.PCRs, AKBound: true})
		wantFail(t, r, "PCR 7", "db changed")
		wantFail(t, r, "PCR 15", "config partition differs")
		for _, name := range []string{"quote", "firmware event log", "PCR 15 log", "PCR 4", "PCR 5", "PCR 9", "PCR 11"} {
			if ch := reportCheck(t, r, name); ch.Status != checklist.OK {
				t.Errorf("%s failed: %s", name, ch.Detail)
			}
		}
		c.Close()
		if err := m.Powerdown(); err != nil {
			t.Fatal(err)
		}
		expect(t, m, time.Minute, `hardenvm-init: powering off`)
		if err := m.WaitTimeout(time.Minute); err != nil {
			t.Fatalf("after the power button: %v", err)
		}
	})
	// A third boot of that disk, now with the data partition, with the
	// image's own vars: everything passes against the swapped image's
	// manifest (config install re-predicted PCR 15), and PCR 5 shows the
	// GPT grown by exactly the data partition.
	t.Run("second boot of a disk with its data partition", func(t *testing.T) {
		m := bootWritable(t, rw, filepath.Join(swapped, imagedir.Vars))
		expect(t, m, 5*time.Minute, `hardenvm-init: data partition \S+ mounted`)
		expect(t, m, 2*time.Minute, `hardenvm-init: READY`)
		c, s := agentSession(t, m)
		defer c.Close()
		r := attest.Verify(s.Evidence, attest.Expect{Nonce: s.Nonce, PCRs: manSwapped.PCRs, AKBound: true})
		if err := r.Err(); err != nil {
			for _, ch := range r.Checks {
				t.Logf("%-5v %-20s %s", ch.Status, ch.Name, ch.Detail)
			}
			t.Fatal(err)
		}
		if ch := reportCheck(t, r, "PCR 5"); !strings.Contains(ch.Detail, "data partition") {
			t.Errorf("PCR 5: %q, want the data partition named", ch.Detail)
		}
		t.Logf("PCR 5: %s", reportCheck(t, r, "PCR 5").Detail)
	})
}

// swapConfig copies an image directory and installs another validly
// signed config (default settings, another epoch) with config install,
// read from a file as the CLI does.
func swapConfig(t *testing.T, img, keysDir string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "swapped")
	if out, err := exec.Command("cp", "-r", "--sparse=always", img, dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	set, err := keys.Load(keysDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	im, err := configimage.Build(ctx, configimage.Options{Epoch: time.Unix(1700000001, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Sign(ctx, set.Get(keys.Admin)); err != nil {
		t.Fatal(err)
	}
	// Through a file, as `hardenvm config install` reads it: the layout
	// read back has no verified root hash yet.
	p := filepath.Join(t.TempDir(), "config.img")
	if err := im.Write(p); err != nil {
		t.Fatal(err)
	}
	if im, err = configimage.ReadImage(p); err != nil {
		t.Fatal(err)
	}
	if _, err := imagedir.Install(ctx, dir, im, imagedir.InstallOptions{Admin: set.Get(keys.Admin), Signing: set.Get(keys.Signing)}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// bootWritable is bootImage with the disk written in place.
func bootWritable(t *testing.T, disk, vars string) *vm.Machine {
	t.Helper()
	state := t.TempDir()
	varsCopy := filepath.Join(state, "OVMF_VARS.fd")
	copyFile(t, vars, varsCopy)
	return boot(t, vm.Config{
		StateDir: state, FirmwareCode: vm.OVMFCodeSecureBoot, FirmwareVars: varsCopy,
		Disks: []vm.Disk{{Path: disk}}, TPM: true, Channels: []string{agentproto.ChannelName},
	})
}

// systemdMeasure252 compares PCR 11 with the host's systemd-measure. The
// host's is systemd 252, which measures .linux .osrel .cmdline .initrd
// (.splash .dtb .pcrpkey when present) but not .uname and .sbat, which the
// image's systemd-stub 257 also measures: so the comparison is of our
// algorithm over 252's sections, not of the image's full PCR 11 (that one
// is checked against the TPM). Each section is given as its bytes
// [0:VirtualSize], as the stub measures them in memory.
func systemdMeasure252(t *testing.T, img string) {
	bin := testenv.File(t, "/usr/lib/systemd/systemd-measure", "systemd")
	b, err := os.ReadFile(filepath.Join(img, imagedir.UKI))
	if err != nil {
		t.Fatal(err)
	}
	secs, err := uki.Sections(b)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	args := []string{"calculate", "--bank=sha256", "--phase=", "--json=short"}
	var ev []manifest.PCREvent
	for _, s := range secs {
		if !slicesContains([]string{".linux", ".osrel", ".cmdline", ".initrd"}, s.Name) {
			continue
		}
		data, err := uki.Section(b, s.Name)
		if err != nil {
			t.Fatal(err)
		}
		data = append(append([]byte(nil), data...), make([]byte, int(s.VirtualSize)-len(data))...)
		p := filepath.Join(dir, s.Name[1:])
		os.WriteFile(p, data, 0o644)
		args = append(args, "--"+s.Name[1:]+"="+p)
	}
	// Our events, in the stub's order, for the same sections.
	for _, name := range pcr.StubSections {
		for _, s := range secs {
			if s.Name == name && slicesContains([]string{".linux", ".osrel", ".cmdline", ".initrd"}, name) {
				n := sha256Hex(append([]byte(name), 0))
				ev = append(ev, manifest.PCREvent{PCR: 11, SHA256: n}, manifest.PCREvent{PCR: 11, SHA256: s.SHA256})
			}
		}
	}
	want := pcr.Replay(ev, 11)
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatalf("systemd-measure: %v", err)
	}
	if !strings.Contains(string(out), hex.EncodeToString(want[:])) {
		t.Errorf("systemd-measure 252 says %s, we compute %x for .linux .osrel .cmdline .initrd", out, want)
	} else {
		t.Logf("systemd-measure 252 agrees: %x", want)
	}
}

func slicesContains(s []string, v string) bool { return slices.Contains(s, v) }

func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
