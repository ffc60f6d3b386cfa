package imagedir

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/pcr"
)

// Measurement is an image's measured boot as predicted from its own
// artifacts, beside the prediction its manifest carries.
type Measurement struct {
	Dir    string
	PCRs   *manifest.PCRs // from the artifacts
	Signed *manifest.PCRs // the manifest's; nil for an image built before predictions
}

// Measure predicts the measured boot of the image in dir from its
// artifacts. A prediction from damaged or unsigned artifacts would
// mislead: it refuses what Verify would refuse for its files, before
// reading them.
func Measure(ctx context.Context, dir string) (*Measurement, error) {
	d, err := Open(dir)
	if err != nil {
		return nil, err
	}
	if err := CheckArtifacts(ctx, dir, d.Manifest); err != nil {
		return nil, fmt.Errorf("measure: %w; see 'hardenvm verify %s'", err, dir)
	}
	in, err := d.PredictionInput()
	if err != nil {
		return nil, err
	}
	p, err := pcr.Predict(in)
	if err != nil {
		return nil, err
	}
	return &Measurement{Dir: dir, PCRs: p, Signed: d.Manifest.PCRs}, nil
}

// Err says where the manifest's prediction differs from the artifacts'.
func (m *Measurement) Err() error {
	if m.Signed == nil {
		return nil
	}
	for _, i := range pcr.Predicted {
		k := strconv.Itoa(i)
		if m.Signed.Values[k] != m.PCRs.Values[k] {
			return fmt.Errorf("measure: %s: %s predicts PCR %d = %s but the artifacts give %s: the directory was changed after the build",
				m.Dir, Manifest, i, m.Signed.Values[k], m.PCRs.Values[k])
		}
	}
	return nil
}

// Print writes each predicted PCR (with events, every event behind it and
// what it stands for), then whether the manifest agrees.
func (m *Measurement) Print(w io.Writer, events bool) error {
	for _, i := range pcr.Predicted {
		fmt.Fprintf(w, "PCR %2d  %s\n", i, m.PCRs.Values[strconv.Itoa(i)])
		for _, e := range m.PCRs.Events {
			if events && e.PCR == i {
				fmt.Fprintf(w, "        %-32s %s  %s\n", e.Type, e.SHA256, e.What)
			}
		}
	}
	var err error
	switch {
	case m.Signed == nil:
		_, err = fmt.Fprintf(w, "%s has no prediction (built before hardenvm measured images)\n", Manifest)
	case m.Err() == nil:
		_, err = fmt.Fprintf(w, "%s agrees\n", Manifest)
	}
	return err
}
