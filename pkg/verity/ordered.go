package verity

import (
	"context"
	"sync"
)

// ordered runs work for chunks 0..n-1 on nw goroutines and hands each
// result to consume in chunk order, on the calling goroutine. At most about
// 3·nw results are in flight, which bounds memory. The first error (in chunk
// order, from work or consume) stops the run and is returned; so for a
// verifier, the error returned is the one of the lowest failing chunk.
//
// newWorker is called once per goroutine, so each can own its buffers.
func ordered(ctx context.Context, n int64, nw int,
	newWorker func() func(chunk int64) ([]byte, error),
	consume func(chunk int64, out []byte) error) error {
	if nw < 1 {
		nw = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type result struct {
		out []byte
		err error
	}
	type task struct {
		chunk int64
		done  chan result // buffered: a worker never blocks on it
	}
	tasks := make(chan task)
	queue := make(chan task, 2*nw)

	var wg sync.WaitGroup
	for range nw {
		wg.Add(1)
		go func() {
			defer wg.Done()
			do := newWorker()
			for t := range tasks {
				if err := ctx.Err(); err != nil {
					t.done <- result{err: err}
					continue
				}
				out, err := do(t.chunk)
				t.done <- result{out, err}
			}
		}()
	}
	// The dispatcher queues a task for the consumer only once a worker has
	// it, so the consumer never waits on a task nobody will finish.
	go func() {
		defer close(queue)
		defer close(tasks)
		for c := range n {
			t := task{c, make(chan result, 1)}
			select {
			case tasks <- t:
			case <-ctx.Done():
				return
			}
			select {
			case queue <- t:
			case <-ctx.Done():
				return
			}
		}
	}()

	var err error
	for t := range queue {
		r := <-t.done
		if err != nil {
			continue // drain
		}
		if r.err == nil {
			r.err = consume(t.chunk, r.out)
		}
		if r.err != nil {
			err = r.err
			cancel()
		}
	}
	wg.Wait()
	if err == nil && ctx.Err() != nil {
		// Only the caller's context can be done here.
		err = context.Cause(ctx)
	}
	return err
}
