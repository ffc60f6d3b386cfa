package attest

import (
	"fmt"

	"github.com/hardenvm/hardenvm/pkg/pcr"
)

// RecordGolden stores the firmware PCRs of a report that passed every
// other check into path (merged with what it holds), under firmware: see
// pcr.ReadGolden for the file.
func RecordGolden(path, firmware string, r *Report) error {
	for _, c := range r.Checks {
		if !c.OK && !c.Note && !pcr.IsFirmwarePCR(c.PCR) {
			return fmt.Errorf("attest: not recording golden values from a boot that fails %s", c.Name)
		}
	}
	if len(r.Golden) == 0 {
		return fmt.Errorf("attest: no verified firmware PCRs to record")
	}
	return pcr.AddGolden(path, firmware, r.Golden)
}
