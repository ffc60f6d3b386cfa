package attest

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"unicode/utf16"

	"github.com/hardenvm/hardenvm/boot/measure"
	"github.com/hardenvm/hardenvm/pkg/authenticode"
	"github.com/hardenvm/hardenvm/pkg/efivars"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/uki"
)

// Predicted lists the PCRs the image alone decides, in order.
var Predicted = []int{4, 5, 7, 9, 11, 15}

// FirmwarePCRs are the PCRs that depend on the firmware and the machine
// (QEMU's configuration): known only from a golden boot.
var FirmwarePCRs = []int{0, 1, 2, 3, 6}

// Input is what a prediction needs: the image's own artifacts.
type Input struct {
	UKI  []byte // the signed UKI, as on the ESP
	Vars []byte // the enrolled firmware variable store
	// GPT is the disk's UEFI_GPT_DATA (GPTEventData), measured into PCR
	// 5; nil leaves PCR 5 out.
	GPT []byte
	// RootHash and ConfigRootHash are the verity root hashes hardenvm-init
	// measures into PCR 15 (ConfigRootHash nil without a config partition).
	RootHash, ConfigRootHash []byte
}

// Predict computes every event the firmware, the stubs and hardenvm-init
// extend into PCRs 4, 7, 9, 11 and 15 when this image boots, and the
// resulting SHA-256 bank values.
func Predict(in Input) (*manifest.PCRs, error) {
	var ev []manifest.PCREvent
	add := func(pcr int, typ string, digest []byte, what string) {
		ev = append(ev, manifest.PCREvent{PCR: pcr, Type: typ, SHA256: hex.EncodeToString(digest), What: what})
	}
	sum := func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
	separator := sum([]byte{0, 0, 0, 0})

	// PCR 4: edk2's boot manager announces the boot option, closes the
	// pre-OS phase, then measures the UKI's PE image (Authenticode hash)
	// as it loads it. The stub starts the kernel inside the UKI without
	// the firmware measuring it again.
	auth, err := authenticode.Digest(in.UKI)
	if err != nil {
		return nil, fmt.Errorf("attest: PCR 4: %w", err)
	}
	add(4, "EV_EFI_ACTION", sum([]byte(actionBootOption)), "the firmware calls the boot option")
	add(4, "EV_SEPARATOR", separator, "end of the pre-OS phase")
	add(4, "EV_EFI_BOOT_SERVICES_APPLICATION", auth, "the UKI (Authenticode hash): UKI differs")

	// PCR 5: edk2's separator, the GPT of the disk it boots from, and the
	// two ExitBootServices actions. On later boots the GPT also has the
	// data partition hardenvm-init adds on the first (Verify accepts that).
	if in.GPT != nil {
		add(5, "EV_SEPARATOR", separator, "end of the pre-OS phase")
		add(5, "EV_EFI_GPT_EVENT", sum(in.GPT), "the disk's partition table: GPT differs")
		add(5, "EV_EFI_ACTION", sum([]byte("Exit Boot Services Invocation")), "the kernel leaves the firmware")
		add(5, "EV_EFI_ACTION", sum([]byte("Exit Boot Services Returned with Success")), "the kernel left the firmware")
	}

	// PCR 7: the Secure Boot policy as the store sets it, the separator,
	// and the db entry that verified the UKI.
	vars, err := efivars.Parse(in.Vars)
	if err != nil {
		return nil, fmt.Errorf("attest: PCR 7: %w", err)
	}
	for i, e := range vars.PolicyEvents() {
		n := policyNames[min(i, len(policyNames)-1)]
		add(7, "EV_EFI_VARIABLE_DRIVER_CONFIG", sum(e), "Secure Boot variable "+n+": "+n+" changed")
	}
	add(7, "EV_SEPARATOR", separator, "end of the pre-OS phase")
	owner, cert, err := authority(vars, in.UKI)
	if err != nil {
		return nil, err
	}
	add(7, "EV_EFI_VARIABLE_AUTHORITY", sum(efivars.AuthorityEvent(owner, cert.Raw)),
		"the db certificate that verified the UKI ("+cert.Subject.CommonName+"): db changed or UKI signed by another key")

	// PCR 11: systemd-stub measures each UKI section it knows, in the UKI
	// specification's order: the name (with its NUL), then the bytes as
	// loaded in memory ([0:VirtualSize], zero-filled past the file data).
	secs, err := uki.Sections(in.UKI)
	if err != nil {
		return nil, fmt.Errorf("attest: PCR 11: %w", err)
	}
	byName := map[string]uki.SectionInfo{}
	for _, s := range secs {
		if _, dup := byName[s.Name]; !dup {
			byName[s.Name] = s
		}
	}
	for _, name := range StubSections {
		s, ok := byName[name]
		if !ok {
			continue
		}
		d, _ := hex.DecodeString(s.SHA256)
		add(11, "EV_IPL", sum(append([]byte(name), 0)), "UKI section name "+name)
		add(11, "EV_IPL", d, "UKI section "+name+": "+sectionMeaning(name))
	}

	// PCR 9: the kernel's EFI stub measures the command line systemd-stub
	// hands it (LoadOptions, UTF-16 with its NUL) and the initrd it loads
	// (the .initrd section with the stub's os-release cpio appended).
	cmdline, err := uki.Section(in.UKI, ".cmdline")
	if err != nil {
		return nil, fmt.Errorf("attest: PCR 9: %w", err)
	}
	initrd, err := uki.Section(in.UKI, ".initrd")
	if err != nil {
		return nil, fmt.Errorf("attest: PCR 9: %w", err)
	}
	osrel, err := uki.Section(in.UKI, ".osrel")
	if err != nil {
		osrel = nil
	}
	add(9, "EV_EVENT_TAG", sum(LoadOptions(cmdline)), "kernel command line (LoadOptions): cmdline differs")
	add(9, "EV_EVENT_TAG", sum(StubInitrd(initrd, osrel)), "initrd (the UKI's initramfs and os-release): initramfs differs")

	// PCR 15: hardenvm-init.
	ev = append(ev, PCR15Events(in.RootHash, in.ConfigRootHash)...)

	p := &manifest.PCRs{Bank: "sha256", Values: map[string]string{}, Events: ev, GPT: hex.EncodeToString(in.GPT)}
	for _, i := range Predicted {
		if i == 5 && in.GPT == nil {
			continue
		}
		v := Replay(ev, i)
		p.Values[strconv.Itoa(i)] = hex.EncodeToString(v[:])
	}
	return p, nil
}

// actionBootOption is edk2's EV_EFI_ACTION before it starts a boot option.
const actionBootOption = "Calling EFI Application from Boot Option"

var policyNames = []string{"SecureBoot", "PK", "KEK", "db", "dbx", "dbt"}

// StubSections are the sections systemd-stub 257 measures into PCR 11, in
// its order (the UKI specification's; .pcrsig is never measured).
var StubSections = []string{".linux", ".osrel", ".cmdline", ".initrd", ".ucode", ".splash", ".dtb", ".uname", ".sbat", ".pcrpkey", ".profile", ".dtbauto", ".hwids"}

func sectionMeaning(name string) string {
	switch name {
	case ".linux":
		return "kernel differs"
	case ".cmdline":
		return "cmdline differs"
	case ".initrd":
		return "initramfs differs"
	}
	return name + " differs"
}

// PCR15Events are hardenvm-init's predicted events (boot/measure) for
// these verity root hashes (configRootHash nil without a config partition).
func PCR15Events(rootHash, configRootHash []byte) []manifest.PCREvent {
	var ev []manifest.PCREvent
	for _, e := range measure.Events(rootHash, configRootHash) {
		d := e.Digest()
		ev = append(ev, manifest.PCREvent{PCR: 15, Type: "hardenvm", SHA256: hex.EncodeToString(d[:]), What: pcr15Meaning(e)})
	}
	return ev
}

func pcr15Meaning(e measure.Event) string {
	switch {
	case bytes.HasPrefix([]byte(e.Data), []byte("hardenvm:"+measure.KindRootHash)):
		return "root file system verity root hash: root differs"
	case bytes.HasPrefix([]byte(e.Data), []byte("hardenvm:"+measure.KindConfigRootHash)):
		return "config partition verity root hash: config partition differs"
	}
	return "hardenvm-init entered stage 2"
}

// LoadOptions is the kernel command line as systemd-stub passes it to the
// kernel: the .cmdline section up to its first NUL, control characters
// turned into spaces, in UTF-16LE with a terminating NUL.
func LoadOptions(cmdline []byte) []byte {
	if i := bytes.IndexByte(cmdline, 0); i >= 0 {
		cmdline = cmdline[:i]
	}
	var out []byte
	for _, r := range utf16.Encode([]rune(string(cmdline))) {
		if r <= 0x1f {
			r = ' '
		}
		out = append(out, byte(r), byte(r>>8))
	}
	return append(out, 0, 0)
}

// authority finds the db entry the firmware verifies the UKI with: the
// first X.509 entry of db under which the UKI's signature verifies.
func authority(vars *efivars.Image, img []byte) (efivars.GUID, *x509.Certificate, error) {
	v, ok := vars.Lookup(efivars.ImageSecurityDatabase, efivars.NameDB)
	if !ok {
		return efivars.GUID{}, nil, fmt.Errorf("attest: PCR 7: the variable store has no db")
	}
	lists, err := efivars.ParseSignatureLists(v.Data)
	if err != nil {
		return efivars.GUID{}, nil, fmt.Errorf("attest: PCR 7: db: %w", err)
	}
	for _, l := range lists {
		if l.Type != efivars.CertX509 {
			continue
		}
		for _, s := range l.Signatures {
			c, err := x509.ParseCertificate(s.Data)
			if err != nil {
				continue
			}
			if authenticode.Verify(img, c) == nil {
				return s.Owner, c, nil
			}
		}
	}
	return efivars.GUID{}, nil, fmt.Errorf("attest: PCR 7: no db certificate verifies the UKI: the firmware would refuse to boot it")
}

// Replay folds the events of one PCR (SHA-256 bank) from zero.
func Replay(events []manifest.PCREvent, pcr int) [32]byte {
	var v [32]byte
	for _, e := range events {
		if e.PCR != pcr {
			continue
		}
		d, _ := hex.DecodeString(e.SHA256)
		v = sha256.Sum256(append(v[:], d...))
	}
	return v
}

// PredictBuild is the build's hook: the prediction for a UKI, the
// variable store and disk the build wrote, and the root hashes
// (configRootHash nil without a config partition).
func PredictBuild(ukiImg []byte, varsPath, diskPath string, rootHash, configRootHash []byte) (*manifest.PCRs, error) {
	vars, err := os.ReadFile(varsPath)
	if err != nil {
		return nil, fmt.Errorf("attest: %w", err)
	}
	disk, err := os.Open(diskPath)
	if err != nil {
		return nil, fmt.Errorf("attest: %w", err)
	}
	defer disk.Close()
	g, err := GPTEventData(disk)
	if err != nil {
		return nil, fmt.Errorf("attest: %s: %w", diskPath, err)
	}
	return Predict(Input{UKI: ukiImg, Vars: vars, GPT: g, RootHash: rootHash, ConfigRootHash: configRootHash})
}
