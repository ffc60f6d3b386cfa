package attempts

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestMainInterface(t *testing.T) {
	var out bytes.Buffer
	if code := Main(&out, []string{"no-such-attempt"}); code != 2 {
		t.Errorf("unknown attempt: exit %d, want 2", code)
	}
	out.Reset()
	if code := Main(&out, []string{"list"}); code != 0 || !strings.Contains(out.String(), "core-pattern") {
		t.Errorf("list: exit %d, output %q", code, out.String())
	}
	// Work that needs no privilege gives one JSON line and exit 0.
	out.Reset()
	if code := Main(&out, []string{"uid-map"}); code != 0 {
		t.Errorf("uid-map: exit %d (%s)", code, out.String())
	}
	var r Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil || r.Name != "uid-map" || !r.OK {
		t.Errorf("uid-map result %q: %v", out.String(), err)
	}
	// An attempt's wrong arguments are a failed attempt, not a crash.
	out.Reset()
	if code := Main(&out, []string{"owner-is"}); code != 1 {
		t.Errorf("owner-is without args: exit %d, want 1", code)
	}
	for _, a := range List() {
		if a.Doc == "" || a.Run == nil {
			t.Errorf("attempt %s lacks a doc or a body", a.Name)
		}
	}
}
