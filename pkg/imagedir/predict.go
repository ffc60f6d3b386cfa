package imagedir

import (
	"fmt"

	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/pcr"
)

// PredictionInput is what a prediction of the image's measured boot needs,
// read from its own artifacts (the manifest gives the root hashes).
func (d *Dir) PredictionInput() (pcr.Input, error) {
	var in pcr.Input
	var err error
	if in.UKI, err = d.ReadUKI(); err != nil {
		return pcr.Input{}, fmt.Errorf("attest: %w", err)
	}
	if in.Vars, err = d.ReadVars(); err != nil {
		return pcr.Input{}, fmt.Errorf("attest: %w", err)
	}
	disk, err := d.OpenDisk()
	if err != nil {
		return pcr.Input{}, fmt.Errorf("attest: %w", err)
	}
	defer disk.Close()
	if in.GPT, err = pcr.GPTEventData(disk); err != nil {
		return pcr.Input{}, fmt.Errorf("attest: %s: %w", d.File(Disk), err)
	}
	if in.RootHash, err = d.RootHash(); err != nil {
		return pcr.Input{}, fmt.Errorf("attest: %w", err)
	}
	if in.ConfigRootHash, err = d.ConfigRootHash(); err != nil {
		return pcr.Input{}, fmt.Errorf("attest: %w", err)
	}
	return in, nil
}

// Predict predicts the PCRs of the image in dir from its artifacts (Open
// does not check the signature: callers that must trust the prediction
// verify the directory first).
func Predict(dir string) (*manifest.PCRs, error) {
	d, err := Open(dir)
	if err != nil {
		return nil, err
	}
	in, err := d.PredictionInput()
	if err != nil {
		return nil, err
	}
	return pcr.Predict(in)
}
