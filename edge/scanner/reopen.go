package scanner

import (
	"context"
	"io"
	"time"
)

// opener opens a device or connection.
type opener func(ctx context.Context) (io.ReadCloser, error)

// runReopening opens, reads lines until the stream fails, and reopens after
// a backoff, until ctx ends. decode, if not nil, turns the raw stream into
// text (the evdev decoder). Every failure is counted in Errors; it is
// logged when it differs from the previous one, so an unplugged scanner
// logs once, not every backoff.
func runReopening(ctx context.Context, opt Options, open opener, decode func(io.Reader) io.Reader, out chan<- Scan) error {
	backoff := opt.MinBackoff
	lastErr := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rc, err := open(ctx)
		if err == nil {
			opt.Logger.Info("scanner open")
			backoff, lastErr = opt.MinBackoff, ""
			stop := context.AfterFunc(ctx, func() { rc.Close() }) // unblocks a pending Read
			var src io.Reader = rc
			if decode != nil {
				src = decode(rc)
			}
			err = readLines(ctx, src, opt, out)
			stop()
			rc.Close()
			if err == nil {
				err = io.EOF // the peer closed the stream
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		opt.Counters.add(opt.Source, func(s *Stats) { s.Errors++ })
		if msg := err.Error(); msg != lastErr {
			opt.Logger.Warn("scanner failed", "err", err, "retry_in", backoff)
			lastErr = msg
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, opt.MaxBackoff)
	}
}
