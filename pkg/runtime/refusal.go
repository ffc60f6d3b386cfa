package runtime

import (
	"errors"
	"fmt"
)

// Refusal is a config the admin policy does not allow. Its message is the
// one line that reaches `docker run`.
type Refusal struct {
	What string // what was asked for, e.g. "sharing the host's pid namespace"
	Key  string // the admin settings key that forbids it
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("hardenvm: %s is not allowed by the admin policy (%s)", r.What, r.Key)
}

// IsRefusal reports whether err is (or wraps) a policy refusal.
func IsRefusal(err error) bool {
	var r *Refusal
	return errors.As(err, &r)
}

func refuse(key, format string, args ...any) error {
	return &Refusal{What: fmt.Sprintf(format, args...), Key: key}
}

// Settings keys named in refusals. They follow admin-settings.json.
const (
	KeyECI         = "enhancedContainerIsolation"
	KeySocketMount = "enhancedContainerIsolation.dockerSocketMount.imageList"
	KeyCommandList = "enhancedContainerIsolation.dockerSocketMount.commandList"
	KeyRegistries  = "registryAllowList"
	KeyBlockLoad   = "blockDockerLoad"
	KeyFileSharing = "filesharingAllowedDirectories"
)
