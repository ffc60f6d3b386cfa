package vm

import (
	"context"
	"errors"
	"io"
	"regexp"
	"testing"
	"time"
)

func TestConsoleExpect(t *testing.T) {
	pr, pw := io.Pipe()
	inR, inW := io.Pipe()
	c := newConsole(inW, "serial.log")
	go c.pump(pr, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		pw.Write([]byte("booting...\nmarker: 4"))
		time.Sleep(10 * time.Millisecond)
		pw.Write([]byte("2 done\nsecond marker: 7\n"))
		time.Sleep(10 * time.Millisecond)
		pw.Write([]byte("kernel=6"))
		time.Sleep(50 * time.Millisecond)
		pw.Write([]byte(".12.1-cloud\n"))
	}()
	subs, err := c.Expect(ctx, regexp.MustCompile(`marker: (\d+) done`))
	if err != nil || subs[1] != "42" {
		t.Fatalf("Expect = %q, %v; want 42", subs, err)
	}
	// The next Expect starts after the previous match.
	subs, err = c.Expect(ctx, regexp.MustCompile(`marker: (\d+)`))
	if err != nil || subs[1] != "7" {
		t.Fatalf("second Expect = %q, %v; want 7", subs, err)
	}

	// Half a line is not matched: the whole release comes back.
	subs, err = c.Expect(ctx, regexp.MustCompile(`kernel=(\S+)`))
	if err != nil || subs[1] != "6.12.1-cloud" {
		t.Fatalf("Expect(kernel=) = %q, %v; want the whole release", subs, err)
	}

	go func() { c.Send("echo hi") }()
	b := make([]byte, 8)
	if n, _ := io.ReadFull(inR, b); string(b[:n]) != "echo hi\n" {
		t.Errorf("Send wrote %q", b[:n])
	}

	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if _, err := c.Expect(short, regexp.MustCompile("never")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Expect past deadline = %v, want DeadlineExceeded", err)
	}

	pw.Close()
	if err := c.ExpectString(ctx, "never"); !errors.Is(err, ErrConsoleClosed) {
		t.Errorf("Expect after close = %v, want ErrConsoleClosed", err)
	}
	if tail := c.Tail(2); tail != `"second marker: 7" "kernel=6.12.1-cloud"` {
		t.Errorf("Tail(2) = %s", tail)
	}
}

// TestConsoleWait: Wait sees a line wherever it is, without taking it from
// Expect, and only once the line is complete.
func TestConsoleWait(t *testing.T) {
	pr, pw := io.Pipe()
	inR, inW := io.Pipe()
	defer inR.Close()
	c := newConsole(inW, "serial.log")
	go c.pump(pr, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	waited := make(chan error, 1)
	go func() { waited <- c.Wait(ctx, "READY") }()
	pw.Write([]byte("boot\nREA"))
	select {
	case err := <-waited:
		t.Fatalf("Wait returned on half a line: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	pw.Write([]byte("DY\nafter\n"))
	if err := <-waited; err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if err := c.ExpectString(ctx, "READY"); err != nil {
		t.Errorf("Expect after Wait = %v: Wait took the line", err)
	}
	pw.Close()
	if err := c.Wait(ctx, "never"); !errors.Is(err, ErrConsoleClosed) {
		t.Errorf("Wait on a closed console = %v", err)
	}
}
