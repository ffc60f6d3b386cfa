package oci

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// registryError turns a go-containerregistry error into one line that says
// what went wrong and what to do.
func registryError(op, ref string, err error) error {
	where := op
	if ref != "" {
		where += ": " + ref
	}
	var te *transport.Error
	var oe *net.OpError
	var de *net.DNSError
	switch {
	case errors.Is(err, ErrNotVerified):
		return fmt.Errorf("%s: %w", where, err)
	case errors.Is(err, ErrPlainHTTP):
		var pe plainHTTPErr
		if errors.As(err, &pe) {
			return fmt.Errorf("%s: %w", where, pe.error)
		}
		return fmt.Errorf("%s: %w", where, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", where, err)
	case errors.As(err, &te):
		code := ""
		if len(te.Errors) > 0 {
			code = string(te.Errors[0].Code)
		}
		status := fmt.Sprintf("HTTP %d", te.StatusCode)
		if code != "" {
			status += " " + code
		}
		switch {
		case te.StatusCode == http.StatusUnauthorized || code == string(transport.UnauthorizedErrorCode):
			return fmt.Errorf("%s: the registry refused our credentials (%s): log in with 'docker login HOST' (hardenvm uses the docker config.json and its credential helpers)", where, status)
		case te.StatusCode == http.StatusForbidden || code == string(transport.DeniedErrorCode):
			return fmt.Errorf("%s: access denied by the registry (%s): the account lacks permission for this repository", where, status)
		case te.StatusCode == http.StatusNotFound || code == string(transport.ManifestUnknownErrorCode) || code == string(transport.NameUnknownErrorCode):
			return fmt.Errorf("%s: not found in the registry (%s): check the repository and tag", where, status)
		}
		return fmt.Errorf("%s: registry error: %s", where, oneLine(te.Error()))
	case errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &oe), errors.As(err, &de):
		return fmt.Errorf("%s: cannot reach the registry: %s", where, oneLine(err.Error()))
	}
	return fmt.Errorf("%s: %s", where, oneLine(err.Error()))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
