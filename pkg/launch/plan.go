package launch

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/vm"
)

// plan is Options understood: what Run needs from the flag values.
type plan struct {
	accel    vm.Accel
	dataSize int64
	network  *vm.Net // nil: no network
	expect   *regexp.Regexp
}

// Check finds every mistake in how o asks for a boot, without touching
// anything: a caller that calls it first knows that what Run reports
// afterwards is not a mistake in the options, and that no bad option
// leaves a state directory or data disk behind.
func (o Options) Check() error {
	_, err := o.plan()
	return err
}

func (o Options) plan() (plan, error) {
	var p plan
	var err error
	if p.accel, err = vm.ParseAccel(o.Accel); err != nil {
		return p, err
	}
	if (o.Dir == "") == (o.Kernel == "") {
		return p, errors.New("run: give an image directory or --kernel (not both); see 'hardenvm run --help'")
	}
	if o.Dir == "" && len(o.Shares) > 0 {
		return p, errors.New("run: --share needs an image directory (its guest mounts the shares)")
	}
	if o.DiskFormat != "" {
		if o.Dir == "" && o.DiskFormat != imagedir.FormatRaw {
			return p, errors.New("run: --disk-format needs an image directory")
		}
		if _, err := imagedir.DiskFile(o.DiskFormat); err != nil {
			return p, fmt.Errorf("run: --disk-format: %v", err)
		}
	}
	if p.dataSize, err = parseSize(o.DataSize); err != nil {
		return p, fmt.Errorf("run: --data-size %q: %v", o.DataSize, err)
	}
	network := o.Network
	if network == "" {
		switch {
		case o.Dir != "":
			network = "nat"
		case len(o.Forwards) > 0:
			network = "restricted"
		default:
			network = "none"
		}
	}
	switch network {
	case "nat":
		p.network = &vm.Net{NAT: true}
	case "restricted":
		p.network = &vm.Net{}
	case "none":
		if len(o.Forwards) > 0 {
			return p, errors.New("run: --forward needs a network; drop --network none")
		}
	default:
		return p, fmt.Errorf("run: --network %q: want nat, restricted or none", network)
	}
	for _, s := range o.Forwards {
		h, g, ok := strings.Cut(s, ":")
		hp, err1 := strconv.Atoi(h)
		gp, err2 := strconv.Atoi(g)
		if !ok || err1 != nil || err2 != nil {
			return p, fmt.Errorf("run: --forward %q: want HOST:GUEST port numbers", s)
		}
		p.network.HostForwards = append(p.network.HostForwards, vm.HostForward{HostPort: hp, GuestPort: gp})
	}
	if o.Expect != "" {
		if p.expect, err = regexp.Compile(o.Expect); err != nil {
			return p, fmt.Errorf("run: --expect: %v", err)
		}
	}
	return p, nil
}

// parseSize reads "64G", "512M", "1T" or a byte count.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	if i := len(s) - 1; i > 0 {
		if m := strings.IndexByte("KMGT", s[i]); m >= 0 {
			mult, s = int64(1)<<(10*(m+1)), s[:i]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("want a positive size like 64G")
	}
	return n * mult, nil
}
