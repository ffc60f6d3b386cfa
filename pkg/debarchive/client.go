package debarchive

import (
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ulikunitz/xz"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/internal/tty"
)

// Client reads a Debian archive: the suite's signed InRelease, the Packages
// indexes it vouches for, and .deb files, every byte checked against a
// digest that the keyring's signature covers.
type Client struct {
	Mirrors Mirrors // base URLs, e.g. from FindMirrors
	Keyring openpgp.KeyRing
	Cache   *Cache
	HTTP    *http.Client     // nil: http.DefaultClient
	Log     *slog.Logger     // nil: discard
	Now     func() time.Time // nil: time.Now; key and Valid-Until expiry
	// IdleTimeout bounds every wait on a mirror: connecting, the response
	// headers, and each read of a body. Zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Steps, when not nil, shows a person at a terminal what a long
	// operation (lock) is doing.
	Steps *tty.Steps
}

// DefaultIdleTimeout is how long a mirror may stay silent before a
// request fails: long enough for a slow mirror, short enough that a
// server that accepts and never answers does not hang a build.
const DefaultIdleTimeout = 60 * time.Second

func (c *Client) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// DigestError is a download whose content is not what a signed index
// promised. Nothing is kept of it.
type DigestError struct {
	File           string // path in the archive
	Want, Got      string // sha256
	WantSize, Size int64
}

func (e *DigestError) Error() string {
	return fmt.Sprintf("%s: sha256 mismatch: expected %s (%d bytes), got %s (%d bytes): the mirror served different content",
		e.File, e.Want, e.WantSize, e.Got, e.Size)
}

// statusError is an HTTP answer other than 200 OK.
type statusError struct {
	name, status string
	code         int
}

func (e *statusError) Error() string { return fmt.Sprintf("fetching %s: HTTP %s", e.name, e.status) }

// temporary: worth asking again (server trouble or rate limiting).
func (e *statusError) temporary() bool { return e.code >= 500 || e.code == http.StatusTooManyRequests }

// url joins an archive's mirror and a path in it.
func (c *Client) url(archive, p string) (string, error) {
	root, err := c.Mirrors.Root(archive)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(strings.TrimSuffix(root, "/") + "/")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("mirror %q: want an http:// or https:// URL", root)
	}
	return u.JoinPath(p).String(), nil
}

// get fetches a path of an archive, reading at most limit bytes.
func (c *Client) get(ctx context.Context, archive, p string, limit int64) ([]byte, error) {
	u, err := c.url(archive, p)
	if err != nil {
		return nil, err
	}
	body, err := c.open(ctx, u, p)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", p, limit)
	}
	return data, nil
}

// open GETs u. Every wait is bounded by the idle timeout: a timer cancels
// the request when the mirror stays silent that long, and each read of the
// body that brings data sets it again.
func (c *Client) open(ctx context.Context, u, name string) (io.ReadCloser, error) {
	idle := cmp.Or(c.IdleTimeout, DefaultIdleTimeout)
	host := u
	if pu, err := url.Parse(u); err == nil {
		host = pu.Host
	}
	stalled := fmt.Errorf("the mirror %s sent nothing for %v", host, idle)
	ctx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(idle, func() { cancel(stalled) })
	fail := func(err error) error {
		timer.Stop()
		if context.Cause(ctx) == stalled {
			err = stalled
		}
		cancel(nil)
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, fail(err))
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", name, fail(err))
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		fail(nil)
		return nil, &statusError{name: name, code: resp.StatusCode, status: resp.Status}
	}
	return &idleBody{body: resp.Body, timer: timer, idle: idle, fail: fail}, nil
}

// idleBody is a response body whose reads keep the idle timer from firing.
type idleBody struct {
	body  io.ReadCloser
	timer *time.Timer
	idle  time.Duration
	fail  func(error) error
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	if err != nil && err != io.EOF {
		err = b.fail(err)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.fail(nil)
	return b.body.Close()
}

// Release fetches and verifies dists/<suite>/InRelease from the suite's
// archive (see ArchiveOf).
func (c *Client) Release(ctx context.Context, suite string) (*Release, error) {
	name := "dists/" + suite + "/InRelease"
	data, err := c.get(ctx, ArchiveOf(suite), name, 64<<20)
	if err != nil {
		return nil, fmt.Errorf("suite %s (%s archive): %w", suite, ArchiveOf(suite), err)
	}
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	rel, err := VerifyInRelease(ArchiveOf(suite)+"/"+name, data, c.Keyring, now)
	if err != nil {
		return nil, err
	}
	if rel.Codename != suite && rel.Suite != suite {
		return nil, fmt.Errorf("%s: signed for suite %q (codename %q), not %q: the mirror serves another suite", name, rel.Suite, rel.Codename, suite)
	}
	rel.Name = suite
	c.log().Info("verified InRelease", "suite", suite, "sha256", rel.SHA256, "signed_by", rel.SignedBy, "date", rel.Date)
	return rel, nil
}

// Index reads into x the Packages indexes of the components of a verified
// suite, each checked by the sha256 the InRelease gives for it. Where
// suites offer one package in several versions, the highest wins.
func (c *Client) Index(ctx context.Context, x *Index, rel *Release, components []string) error {
	suite, archive := rel.Name, ArchiveOf(rel.Name)
	for _, comp := range components {
		dir := comp + "/binary-" + x.Arch + "/"
		var file string
		for _, ext := range []string{".gz", ".xz", ""} {
			if _, ok := rel.Files[dir+"Packages"+ext]; ok {
				file = dir + "Packages" + ext
				break
			}
		}
		if file == "" {
			return fmt.Errorf("dists/%s/InRelease lists no %sPackages index: is %s/%s in this suite?", suite, dir, comp, x.Arch)
		}
		fh := rel.Files[file]
		name := "dists/" + suite + "/" + file
		fetchPath := name
		if rel.AcquireByHash {
			fetchPath = "dists/" + suite + "/" + dir + "by-hash/SHA256/" + fh.SHA256
		}
		p, err := c.fetch(ctx, KindIndex, archive, name, fetchPath, fh.SHA256, fh.Size)
		if err != nil {
			return err
		}
		if err := addIndexFile(x, p, name, suite); err != nil {
			return err
		}
		c.log().Info("read index", "file", name, "packages", x.Len())
	}
	return nil
}

func addIndexFile(x *Index, p, name, suite string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	switch {
	case strings.HasSuffix(name, ".gz"):
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		r = zr
	case strings.HasSuffix(name, ".xz"):
		zr, err := xz.NewReader(f)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		r = zr
	}
	return x.AddSuite(r, name, suite)
}

// fetch returns the cache path of the file with that digest, downloading
// archive path fetchPath when it is missing or damaged. name is the path
// errors and logs use. Content that does not match is never stored.
func (c *Client) fetch(ctx context.Context, kind, archive, name, fetchPath, sum string, size int64) (string, error) {
	if p, ok := c.Cache.Get(kind, sum, size); ok {
		return p, nil
	}
	u, err := c.url(archive, fetchPath)
	if err != nil {
		return "", err
	}
	var last error
	for attempt := range 3 {
		if attempt > 0 {
			c.log().Warn("retrying download", "file", name, "err", last)
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(time.Duration(attempt) * time.Second):
			}
		}
		p, err := c.download(ctx, u, kind, name, sum, size)
		if err == nil {
			return p, nil
		}
		var de *DigestError
		var se *statusError
		if errors.As(err, &de) || ctx.Err() != nil || (errors.As(err, &se) && !se.temporary()) {
			return "", err // a wrong answer is not retried: it is an attack or a broken mirror
		}
		last = err
	}
	return "", last
}

func (c *Client) download(ctx context.Context, u, kind, name, sum string, size int64) (string, error) {
	target := c.Cache.Path(kind, sum)
	if err := os.MkdirAll(path.Dir(target), 0o755); err != nil {
		return "", fmt.Errorf("download cache: %w", err)
	}
	body, err := c.open(ctx, u, name)
	if err != nil {
		return "", err
	}
	defer body.Close()
	f, err := atomicfile.Create(target, 0o644)
	if err != nil {
		return "", fmt.Errorf("download cache: %w", err)
	}
	defer f.Abort()
	h := sha256.New()
	// Read a little past the promised size so a longer file is caught.
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(body, size+1<<20))
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", name, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if n != size || got != sum {
		return "", &DigestError{File: name, Want: sum, Got: got, WantSize: size, Size: n}
	}
	if err := f.Commit(); err != nil {
		return "", fmt.Errorf("download cache: %w", err)
	}
	return target, nil
}

// Deb returns the cache path of a .deb of an archive, downloading it when
// the cache lacks it; its bytes are checked against sha256 and size.
func (c *Client) Deb(ctx context.Context, archive, path, sha256 string, size int64) (string, error) {
	return c.fetch(ctx, KindDeb, archive, path, path, sha256, size)
}
