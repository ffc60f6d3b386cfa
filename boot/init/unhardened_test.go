package main

import (
	"errors"
	"strings"
	"testing"
)

func bootParamsWith(mode byte) []byte {
	b := make([]byte, 4096)
	b[secureBootOffset] = mode
	return b
}

// TestCheckUnhardened: the unhardened path is taken only when the
// firmware said Secure Boot is off; on, unknown, unset and unreadable
// refuse.
func TestCheckUnhardened(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		readErr error
		wantErr string // "" for allowed
	}{
		{"secure boot off", bootParamsWith(secureBootDisabled), nil, ""},
		{"secure boot on", bootParamsWith(secureBootEnabled), nil, "under Secure Boot: refusing"},
		{"unknown", bootParamsWith(secureBootUnknown), nil, "unknown (boot_params.secure_boot=1)"},
		{"unset", bootParamsWith(secureBootUnset), nil, "unknown (boot_params.secure_boot=0)"},
		{"short", make([]byte, secureBootOffset), nil, "too few"},
		{"unreadable", nil, errors.New("no boot_params on arm64"), "cannot be told"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkUnhardened(tt.data, tt.readErr)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("checkUnhardened = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("checkUnhardened = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
