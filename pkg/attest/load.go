package attest

import (
	"encoding/hex"
	"fmt"
	"path/filepath"

	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/pcr"
)

// Load reads an image directory's inputs (its manifest gives the root
// hash; manifest.Load does not check the signature: callers that must
// trust the directory verify it first).
func Load(dir string) (pcr.Input, *manifest.Manifest, error) {
	m, err := manifest.Load(dir)
	if err != nil {
		return pcr.Input{}, nil, err
	}
	var in pcr.Input
	if in.UKI, err = manifest.ReadArtifact(dir, "uki.efi", manifest.MaxUKI); err != nil {
		return pcr.Input{}, nil, fmt.Errorf("attest: %w", err)
	}
	if in.Vars, err = manifest.ReadArtifact(dir, "OVMF_VARS.fd", manifest.MaxVars); err != nil {
		return pcr.Input{}, nil, fmt.Errorf("attest: %w", err)
	}
	disk, err := manifest.OpenArtifact(dir, "disk.raw")
	if err != nil {
		return pcr.Input{}, nil, fmt.Errorf("attest: %w", err)
	}
	defer disk.Close()
	if in.GPT, err = pcr.GPTEventData(disk); err != nil {
		return pcr.Input{}, nil, fmt.Errorf("attest: %s: %w", filepath.Join(dir, "disk.raw"), err)
	}
	if in.RootHash, err = hex.DecodeString(m.Root.RootHash); err != nil || len(in.RootHash) == 0 {
		return pcr.Input{}, nil, fmt.Errorf("attest: %s: root hash %q is not hex", filepath.Join(dir, manifest.FileName), m.Root.RootHash)
	}
	if m.Config != nil {
		if in.ConfigRootHash, err = hex.DecodeString(m.Config.RootHash); err != nil || len(in.ConfigRootHash) == 0 {
			return pcr.Input{}, nil, fmt.Errorf("attest: %s: config root hash %q is not hex", filepath.Join(dir, manifest.FileName), m.Config.RootHash)
		}
	}
	return in, m, nil
}

// PredictDir predicts the PCRs of the image in dir.
func PredictDir(dir string) (*manifest.PCRs, error) {
	in, _, err := Load(dir)
	if err != nil {
		return nil, err
	}
	return pcr.Predict(in)
}
