package attest

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/hardenvm/hardenvm/pkg/pcr"
)

// RecordGolden stores the firmware PCRs of a report that passed every
// other check into path (merged with what it holds), under firmware: see
// pcr.ReadGolden for the file.
func RecordGolden(path, firmware string, r *Result) error {
	for _, c := range r.Failed() {
		if !isFirmwareCheck(c.Name) {
			return fmt.Errorf("attest: not recording golden values from a boot that fails %s", c.Name)
		}
	}
	if len(r.Golden) == 0 {
		return fmt.Errorf("attest: no verified firmware PCRs to record")
	}
	return pcr.AddGolden(path, firmware, r.Golden)
}

// isFirmwareCheck reports whether the check named name is one of a
// firmware PCR (pcr.FirmwarePCRs).
func isFirmwareCheck(name string) bool {
	return slices.ContainsFunc(pcr.FirmwarePCRs, func(i int) bool { return name == "PCR "+strconv.Itoa(i) })
}
