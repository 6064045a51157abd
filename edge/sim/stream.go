package sim

import (
	"context"
	"io"
	"net"
	"sync"
)

// StreamServer serves a byte stream over TCP the way a serial-to-Ethernet
// converter serves the serial device behind it: every client that connects
// gets the stream from then on. A streaming scale behind a converter is
// served with NewStreamServer(addr, scale.Run).
type StreamServer struct {
	ln     net.Listener
	run    func(ctx context.Context, w io.Writer) error
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewStreamServer listens on addr and, for each client, calls run with the
// connection until the client goes or the server closes.
func NewStreamServer(addr string, run func(ctx context.Context, w io.Writer) error) (*StreamServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &StreamServer{ln: ln, run: run, ctx: ctx, cancel: cancel}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the address clients connect to.
func (s *StreamServer) Addr() string { return s.ln.Addr().String() }

// Close stops serving and disconnects every client.
func (s *StreamServer) Close() error {
	s.cancel()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *StreamServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			ctx, cancel := context.WithCancel(s.ctx)
			defer cancel()
			stop := context.AfterFunc(ctx, func() { c.Close() })
			defer stop()
			go func() { // a client that hangs up ends its stream
				io.Copy(io.Discard, c)
				cancel()
			}()
			s.run(ctx, c)
		}()
	}
}
