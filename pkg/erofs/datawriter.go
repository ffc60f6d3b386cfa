package erofs

import (
	"hash"
	"io"
)

// dataWriter writes the data area sequentially. File contents are read
// straight into large buffers that flow through a pipeline: one goroutine
// writes them out, another hashes them (for a content-derived UUID), while
// the caller fills the next. Reading the tree, writing the image and
// hashing it overlap instead of taking turns.
type dataWriter struct {
	w      io.WriterAt
	h      hash.Hash32 // nil: no hashing
	cur    []byte      // buffer being filled
	off    int64       // image offset of cur[0]
	free   chan []byte
	full   chan chunk
	hashed chan chunk
	done   chan error
	err    error // first write error, once seen
	closed bool
}

type chunk struct {
	b   []byte
	off int64
}

const (
	chunkSize = 1 << 20
	chunks    = 8
)

func newDataWriter(w io.WriterAt, off int64, h hash.Hash32) *dataWriter {
	d := &dataWriter{w: w, h: h, off: off, free: make(chan []byte, chunks), full: make(chan chunk, chunks),
		hashed: make(chan chunk, chunks), done: make(chan error, 1)}
	for range chunks - 1 {
		d.free <- make([]byte, 0, chunkSize)
	}
	d.cur = make([]byte, 0, chunkSize)
	go d.writeOut()
	go d.hashOut()
	return d
}

// writeOut writes full buffers in order and passes them on to hash; after an
// error it only passes them on, so the producer never blocks.
func (d *dataWriter) writeOut() {
	var err error
	for c := range d.full {
		if err == nil {
			_, err = d.w.WriteAt(c.b, c.off)
		}
		d.hashed <- c
	}
	close(d.hashed)
	d.done <- err
}

func (d *dataWriter) hashOut() {
	for c := range d.hashed {
		if d.h != nil {
			d.h.Write(c.b)
		}
		d.free <- c.b[:0]
	}
	close(d.free)
}

// pos is the image offset of the next byte written.
func (d *dataWriter) pos() int64 { return d.off + int64(len(d.cur)) }

func (d *dataWriter) flush() {
	if len(d.cur) == 0 {
		return
	}
	d.full <- chunk{d.cur, d.off}
	d.off += int64(len(d.cur))
	d.cur = <-d.free
}

func (d *dataWriter) write(p []byte) error {
	for len(p) > 0 {
		n := copy(d.cur[len(d.cur):cap(d.cur)], p)
		d.cur = d.cur[:len(d.cur)+n]
		p = p[n:]
		if len(d.cur) == cap(d.cur) {
			d.flush()
		}
	}
	return nil
}

// readFrom reads exactly n bytes from r into the stream.
func (d *dataWriter) readFrom(r io.Reader, n int64) (int64, error) {
	var done int64
	for done < n {
		room := d.cur[len(d.cur):cap(d.cur)]
		if int64(len(room)) > n-done {
			room = room[:n-done]
		}
		m, err := io.ReadFull(r, room)
		d.cur = d.cur[:len(d.cur)+m]
		done += int64(m)
		if len(d.cur) == cap(d.cur) {
			d.flush()
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

var zeros [BlockSize]byte

// pad zero-fills to the next block boundary.
func (d *dataWriter) pad() error {
	if r := d.pos() % BlockSize; r != 0 {
		return d.write(zeros[:BlockSize-r])
	}
	return nil
}

// close flushes and waits for the writer goroutine; it returns the first
// write error. Calling it again returns the same result.
func (d *dataWriter) close() error {
	if d.closed {
		return d.err
	}
	d.closed = true
	d.flush()
	close(d.full)
	d.err = <-d.done
	for range d.free { // wait until every buffer is hashed
	}
	return d.err
}
