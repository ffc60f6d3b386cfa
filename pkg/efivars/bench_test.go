package efivars

import "testing"

// BenchmarkEnrollTemplate parses Debian's 528 KiB OVMF_VARS_4M.fd and
// writes our three keys into a copy: the whole cost of the build step.
func BenchmarkEnrollTemplate(b *testing.B) {
	tmpl := readOVMF(b, ovmfTemplate)
	set := testKeys(b)
	e, err := KeySetEnrollment(set, enrollTime)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(tmpl)))
	for b.Loop() {
		im, err := Parse(tmpl)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := im.Enroll(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseFirmwareStore parses a store the firmware wrote (57
// records, some deleted) and resolves its live variables.
func BenchmarkParseFirmwareStore(b *testing.B) {
	ms := readOVMF(b, ovmfMS)
	b.SetBytes(int64(len(ms)))
	for b.Loop() {
		im, err := Parse(ms)
		if err != nil {
			b.Fatal(err)
		}
		_ = im.Variables()
	}
}
