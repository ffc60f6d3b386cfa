package imagespec

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse: any input either parses into a spec that parses the same way
// again, or fails with an *Error naming the file; it never panics.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("../../images/minimal.yml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(base))
	f.Add([]byte(base + "services:\n  - {name: a, command: /a, depends: [b]}\n  - {name: b, command: /b}\n"))
	f.Add([]byte(base + "settings:\n  x: {y: [1, 2]}\n"))
	f.Add([]byte(base + "capabilities: [{path: /x, caps: 'cap_net_raw=ep'}]\nfiles: [{path: /a, contents: b, mode: '4755'}]\n"))
	f.Add([]byte("a: &x [1]\nb: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("f.yml", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.File != "f.yml" {
				t.Fatalf("Parse error %v is not an *Error naming the file", err)
			}
			return
		}
		if _, err := Parse("f.yml", data); err != nil {
			t.Fatalf("second Parse failed: %v", err)
		}
		for _, k := range s.SettingKeys() {
			var v any
			_, _ = s.Setting(k, &v)
		}
		_ = s.PasswdFile()
		_ = s.GroupFile()
	})
}

// FuzzParseLock: a lock that parses marshals to bytes that parse to the
// same canonical bytes.
func FuzzParseLock(f *testing.F) {
	b, _ := testLock().Marshal()
	f.Add(b)
	f.Add([]byte(`{"lockVersion": 1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseLock("f.lock.json", data)
		if err != nil {
			return
		}
		b1, err := l.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		l2, err := ParseLock("f.lock.json", b1)
		if err != nil {
			t.Fatalf("canonical lock does not parse: %v\n%s", err, b1)
		}
		b2, _ := l2.Marshal()
		if string(b1) != string(b2) {
			t.Fatalf("lock round trip differs:\n%s\n%s", b1, b2)
		}
	})
}
