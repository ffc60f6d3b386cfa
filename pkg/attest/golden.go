package attest

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
)

// Golden values are the firmware PCRs (FirmwarePCRs) of a known-good boot,
// keyed by the SHA-256 of the firmware code image, then by PCR index:
//
//	{"<sha256 of OVMF_CODE>": {"0": "<hex>", "1": …}}
//
// `hardenvm attest --record-golden FILE` writes them; `hardenvm build
// --golden FILE` copies them into the manifest; `hardenvm attest` checks
// a quote's firmware PCRs against the entry for the firmware it ran.

// ReadGolden reads and checks a golden file.
func ReadGolden(path string) (map[string]map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("attest: golden values: %w", err)
	}
	var g map[string]map[string]string
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, fmt.Errorf("attest: golden values %s: %w", path, err)
	}
	for fw, pcrs := range g {
		if d, err := hex.DecodeString(fw); err != nil || len(d) != 32 {
			return nil, fmt.Errorf("attest: golden values %s: %q is not a SHA-256 firmware digest", path, fw)
		}
		for k, v := range pcrs {
			i, err := strconv.Atoi(k)
			if d, herr := hex.DecodeString(v); err != nil || !IsFirmwarePCR(i) || herr != nil || len(d) != 32 {
				return nil, fmt.Errorf("attest: golden values %s: %q: %q is not a firmware PCR's SHA-256 value", path, k, v)
			}
		}
	}
	return g, nil
}

// RecordGolden stores the firmware PCRs of a report that passed every
// other check into path (merged with what it holds), under firmware.
func RecordGolden(path, firmware string, r *Result) error {
	for _, c := range r.Failed() {
		if !isFirmwareCheck(c.Name) {
			return fmt.Errorf("attest: not recording golden values from a boot that fails %s", c.Name)
		}
	}
	if len(r.Golden) == 0 {
		return fmt.Errorf("attest: no verified firmware PCRs to record")
	}
	g := map[string]map[string]string{}
	if _, err := os.Stat(path); err == nil {
		if g, err = ReadGolden(path); err != nil {
			return err
		}
	}
	g[firmware] = r.Golden
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'), 0o644)
}

// isFirmwareCheck reports whether the check named name is one of a
// firmware PCR (FirmwarePCRs).
func isFirmwareCheck(name string) bool {
	return slices.ContainsFunc(FirmwarePCRs, func(i int) bool { return name == "PCR "+strconv.Itoa(i) })
}
