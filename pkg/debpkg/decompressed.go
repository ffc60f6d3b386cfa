package debpkg

import (
	"fmt"
	"io"
	"strings"
)

// WriteDecompressed writes the .deb read from r to w with its
// control.tar and data.tar members decompressed (renamed control.tar and
// data.tar); debian-binary is copied as it is and signature members
// ("_gpg…") are dropped, as Read ignores them. The result is a .deb that dpkg and Read
// accept and that unpacks to exactly the same tree, but reading it costs
// no decompression: a build that unpacks the same package again reads
// this form (xz dominates an uncached build's time).
//
// The output is a function of the input bytes alone (same member headers:
// mtime 0, uid and gid 0, mode 100644), so it is reproducible. w must
// seek: the data member's size is known only after decompressing it, and
// its header is written last.
func WriteDecompressed(w io.WriteSeeker, r io.Reader) error {
	ar, err := newArReader(r)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, arMagic); err != nil {
		return err
	}
	for {
		name, size, err := ar.next()
		if err == io.EOF {
			return fmt.Errorf("no data.tar member")
		}
		if err != nil {
			return err
		}
		if strings.HasPrefix(name, "_") { // signatures: dropped, as Read skips them
			continue
		}
		base, comp, ok := strings.Cut(name, ".tar")
		if !ok {
			// debian-binary: kept byte for byte.
			if err := writeArMember(w, name, size, ar); err != nil {
				return err
			}
			continue
		}
		z, closeZ, err := decompress(ar, comp)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		err = writeArStream(w, base+".tar", z)
		closeZ()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if base == "data" {
			return nil
		}
	}
}

// writeArMember writes one member whose size is known.
func writeArMember(w io.Writer, name string, size int64, r io.Reader) error {
	if _, err := io.WriteString(w, arHeader(name, size)); err != nil {
		return err
	}
	if _, err := io.CopyN(w, r, size); err != nil {
		return fmt.Errorf("ar member %s: %w", name, err)
	}
	if size%2 == 1 {
		_, err := w.Write([]byte{'\n'})
		return err
	}
	return nil
}

// writeArStream writes a member of unknown size: a placeholder header,
// the data, then the real header over the placeholder.
func writeArStream(w io.WriteSeeker, name string, r io.Reader) error {
	at, err := w.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, arHeader(name, 0)); err != nil {
		return err
	}
	size, err := io.Copy(w, r)
	if err != nil {
		return err
	}
	if size%2 == 1 {
		if _, err := w.Write([]byte{'\n'}); err != nil {
			return err
		}
	}
	end, err := w.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if _, err := w.Seek(at, io.SeekStart); err != nil {
		return err
	}
	if _, err := io.WriteString(w, arHeader(name, size)); err != nil {
		return err
	}
	_, err = w.Seek(end, io.SeekStart)
	return err
}

// arHeader is the 60-byte member header as dpkg-deb writes it.
func arHeader(name string, size int64) string {
	return fmt.Sprintf("%-16s%-12d%-6d%-6d%-8s%-10d`\n", name, 0, 0, 0, "100644", size)
}
