package scanner

import (
	"context"
	"io"
	"net"
	"time"
)

// TCP reads a fixed-mount scanner that serves its codes over TCP, one per
// line, as a client: it connects to the scanner and reconnects with backoff
// whenever the connection fails or the scanner closes it.
type TCP struct {
	addr string
	opt  Options
}

var _ Reader = (*TCP)(nil)

// NewTCP returns a reader for the scanner at addr (host:port).
func NewTCP(addr string, opt Options) *TCP {
	return &TCP{addr: addr, opt: opt.withDefaults(addr)}
}

// Run connects and delivers scans until ctx is done; it returns ctx.Err().
func (t *TCP) Run(ctx context.Context, out chan<- Scan) error {
	return runReopening(ctx, t.opt, t.dial, nil, out)
}

// Stats returns this reader's counters.
func (t *TCP) Stats() Stats { return t.opt.Counters.Source(t.opt.Source) }

func (t *TCP) dial(ctx context.Context) (io.ReadCloser, error) {
	d := net.Dialer{
		Timeout: 10 * time.Second,
		// A scanner that loses power sends no FIN: keepalives notice the
		// dead connection within about 30 s of silence.
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3},
	}
	return d.DialContext(ctx, "tcp", t.addr)
}
