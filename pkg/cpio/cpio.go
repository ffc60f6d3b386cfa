// Package cpio writes the "newc" (SVR4, no CRC) cpio format that the Linux
// kernel unpacks as an initramfs.
//
// It implements writing, and only what an initramfs needs: regular
// files, directories, symlinks, and character/block device nodes. Inode
// numbers are assigned in write order and every timestamp comes from the
// caller, so the same entries always give the same bytes. Reading is one
// function, Find, for verification to take one file out of an initramfs.
package cpio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// Mode bits of the newc header's c_mode (the classic stat values).
const (
	TypeDir     = 0o040000
	TypeFile    = 0o100000
	TypeSymlink = 0o120000
	TypeChar    = 0o020000
	TypeBlock   = 0o060000
	typeMask    = 0o170000
)

const magic = "070701"
const trailer = "TRAILER!!!"

// Entry is one archive member. Name has no leading slash ("init",
// "usr/lib/modules"). For symlinks Data is the target.
type Entry struct {
	Name         string
	Mode         uint32 // type bits | permission bits
	UID, GID     uint32
	Mtime        int64
	Data         []byte
	Major, Minor uint32 // device numbers of char/block nodes
}

// Writer writes a newc archive to an io.Writer.
type Writer struct {
	w      *bufio.Writer
	off    int64
	ino    uint32
	closed bool
}

func NewWriter(w io.Writer) *Writer { return &Writer{w: bufio.NewWriter(w), ino: 1} }

// Add appends one entry. Directories must be added before their contents
// for the kernel to create them with the right mode.
func (w *Writer) Add(e Entry) error {
	if w.closed {
		return errors.New("cpio: add after close")
	}
	if err := checkName(e.Name); err != nil {
		return err
	}
	t := e.Mode & typeMask
	switch t {
	case TypeFile, TypeSymlink:
	case TypeDir, TypeChar, TypeBlock:
		if len(e.Data) != 0 {
			return fmt.Errorf("cpio: %s: only files and symlinks have data", e.Name)
		}
	default:
		return fmt.Errorf("cpio: %s: unsupported file type %#o", e.Name, t)
	}
	nlink := uint32(1)
	if t == TypeDir {
		nlink = 2
	}
	var rmaj, rmin uint32
	if t == TypeChar || t == TypeBlock {
		rmaj, rmin = e.Major, e.Minor
	}
	if e.Mtime < 0 || e.Mtime > 0xffffffff {
		return fmt.Errorf("cpio: %s: mtime %d out of range", e.Name, e.Mtime)
	}
	ino := w.ino
	w.ino++
	return w.record(e.Name, ino, e.Mode, e.UID, e.GID, nlink, uint32(e.Mtime), e.Data, rmaj, rmin)
}

func (w *Writer) record(name string, ino, mode, uid, gid, nlink, mtime uint32, data []byte, rmaj, rmin uint32) error {
	if uint64(len(data)) > 0xffffffff {
		return fmt.Errorf("cpio: %s: file larger than 4 GiB", name)
	}
	hdr := fmt.Sprintf("%s%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		magic, ino, mode, uid, gid, nlink, mtime, len(data), 0, 0, rmaj, rmin, len(name)+1, 0)
	if err := w.write([]byte(hdr)); err != nil {
		return err
	}
	if err := w.write(append([]byte(name), 0)); err != nil {
		return err
	}
	if err := w.pad(); err != nil {
		return err
	}
	if err := w.write(data); err != nil {
		return err
	}
	return w.pad()
}

func (w *Writer) write(b []byte) error {
	n, err := w.w.Write(b)
	w.off += int64(n)
	return err
}

// pad aligns the stream to 4 bytes, as newc requires after names and data.
func (w *Writer) pad() error {
	if r := w.off % 4; r != 0 {
		return w.write(make([]byte, 4-r))
	}
	return nil
}

// Close writes the trailer and flushes. It does not close the underlying
// writer.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.record(trailer, 0, 0, 0, 0, 1, 0, nil, 0, 0); err != nil {
		return err
	}
	return w.w.Flush()
}

func checkName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || !fs.ValidPath(name) || name == trailer {
		return fmt.Errorf("cpio: invalid entry name %q (want a relative, clean path)", name)
	}
	return nil
}
