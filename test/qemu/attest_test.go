package qemu

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/pkg/attest"
	"github.com/hardenvm/hardenvm/pkg/build"
	"github.com/hardenvm/hardenvm/pkg/manifest"
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

// TestPredictionEqualsTPM builds images/minimal.yml, boots it under OVMF
// Secure Boot with swtpm, and compares every PCR the build predicted
// (manifest.json) with the TPM's.
func TestPredictionEqualsTPM(t *testing.T) {
	requireQEMU(t)
	img := buildMinimal(t, newKeys(t))
	man, err := manifest.Load(img)
	if err != nil {
		t.Fatal(err)
	}
	if man.PCRs == nil {
		t.Fatal("the build wrote no PCR prediction into manifest.json")
	}
	again, err := attest.PredictDir(img)
	if err != nil {
		t.Fatal(err)
	}
	m := bootImage(t, filepath.Join(img, build.DiskFile), filepath.Join(img, build.VarsFile))
	expect(t, m, 5*time.Minute, `hardenvm-init: READY`)
	expect(t, m, time.Minute, `console\$`)
	got := readPCRs(t, m, attest.Predicted)
	for _, i := range attest.Predicted {
		k := strconv.Itoa(i)
		if again.Values[k] != man.PCRs.Values[k] {
			t.Errorf("PCR %d: hardenvm measure gives %s, the manifest %s", i, again.Values[k], man.PCRs.Values[k])
		}
		if got[i] != man.PCRs.Values[k] {
			t.Errorf("PCR %d: TPM %s, predicted %s", i, got[i], man.PCRs.Values[k])
		} else {
			t.Logf("PCR %2d = %s, as predicted", i, got[i])
		}
	}
}
