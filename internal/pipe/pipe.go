// Package pipe joins two connections: bytes flow both ways and a
// half-close on one side reaches the other.
package pipe

import (
	"io"
	"sync"
)

// Join copies a to b and b to a, passing each half-close on; it returns
// when both directions are done, and closes both ends.
func Join(a, b io.ReadWriteCloser) {
	var wg sync.WaitGroup
	one := func(dst, src io.ReadWriteCloser) {
		defer wg.Done()
		io.Copy(dst, src)
		closeWrite(dst)
	}
	wg.Add(2)
	go one(a, b)
	go one(b, a)
	wg.Wait()
	a.Close()
	b.Close()
}

// closeWrite ends the write side: a TCP or unix socket's CloseWrite, a
// yamux stream's Close (a FIN: the other side may still send).
func closeWrite(c io.WriteCloser) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}
