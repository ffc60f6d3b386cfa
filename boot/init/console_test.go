package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseAccount(t *testing.T) {
	passwd := []byte("root:x:0:0:root:/root:/bin/sh\nconsole:x:1000:1000:console:/home/console:/bin/sh\nsvc:x:1001:1001:svc:/nonexistent:/usr/sbin/nologin\nbad:x:x:1:b:/:/bin/sh\n")
	group := []byte("root:x:0:\nconsole:x:1000:\ndocker:x:999:svc\nadm:x:4:svc,console\n")
	got, err := parseAccount("console", passwd, group)
	if err != nil {
		t.Fatal(err)
	}
	want := &account{name: "console", home: "/home/console", shell: "/bin/sh", uid: 1000, gid: 1000, groups: []uint32{1000, 4}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(account{})); diff != "" {
		t.Errorf("console (-want +got):\n%s", diff)
	}
	if got, _ := parseAccount("svc", passwd, group); got == nil || !cmp.Equal(got.groups, []uint32{1001, 999, 4}) {
		t.Errorf("svc groups: %+v", got)
	}
	for _, n := range []string{"nobody", "bad", ""} {
		if _, err := parseAccount(n, passwd, group); err == nil {
			t.Errorf("parseAccount(%q) succeeded", n)
		}
	}
}

func TestBaseName(t *testing.T) {
	if got := baseName("/usr/bin/sh"); got != "sh" || !strings.HasPrefix("-"+got, "-s") {
		t.Errorf("baseName = %q", got)
	}
}
