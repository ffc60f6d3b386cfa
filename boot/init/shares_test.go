package main

import (
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/pkg/adminsettings"
)

func TestCheckShare(t *testing.T) {
	limited, err := adminsettings.Parse([]byte(`{"configurationFileVersion":2,"filesharingAllowedDirectories":[{"path":"$HOME"},{"path":"/srv"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	h := adminsettings.HostDirs{Home: "/home/a", Temp: "/tmp"}
	tests := []struct {
		path string
		s    adminsettings.Settings
		want string // "" allowed, else part of the error
	}{
		{"/home/a/src", limited, ""},
		{"/srv/x", limited, ""},
		{"/tmp/x", limited, "filesharingAllowedDirectories"},
		{"/tmp/x", adminsettings.Default(), ""},
		{"/etc/docker", adminsettings.Default(), "/etc is the VM's own"},
		{"/usr/local/sbin", adminsettings.Default(), "/usr is the VM's own"},
		{"/run/hardenvm/config", adminsettings.Default(), "/run is the VM's own"},
		{"/var", adminsettings.Default(), "/var is the VM's own"},
		{"/variable", adminsettings.Default(), ""},
	}
	for _, tt := range tests {
		err := checkShare(tt.path, tt.s, h)
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("checkShare(%s) = %v, want %q", tt.path, err, tt.want)
		}
	}
}
