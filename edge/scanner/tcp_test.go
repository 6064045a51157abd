package scanner

import (
	"net"
	"slices"
	"testing"
	"time"
)

// scannerServer is a fixed-mount scanner's TCP server: it accepts one
// client at a time and writes what it is given.
type scannerServer struct {
	ln    net.Listener
	conns chan net.Conn
}

func listenScanner(t *testing.T, addr string) *scannerServer {
	t.Helper()
	var ln net.Listener
	eventually(t, "listen on "+addr, func() bool {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	s := &scannerServer{ln: ln, conns: make(chan net.Conn, 4)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns <- c
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *scannerServer) client(t *testing.T) net.Conn {
	t.Helper()
	select {
	case c := <-s.conns:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("the reader did not connect")
		return nil
	}
}

func TestTCPReconnects(t *testing.T) {
	// Take a free port, and leave it closed: the scanner is not up yet.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	opt := quiet("dock-1")
	r := NewTCP(addr, opt)
	scans := runReader(t, r)
	eventually(t, "a refused connection counted", func() bool { return r.Stats().Errors >= 1 })

	srv := listenScanner(t, addr)
	conn := srv.client(t)
	conn.Write([]byte("SF1234567890123\r\n" + string(make([]byte, 3)) + "\r\nJT5012345678901\r\n"))
	if got := receive(t, scans, 2); !slices.Equal(got, []string{"SF1234567890123", "JT5012345678901"}) {
		t.Errorf("before restart: %q", got)
	}

	// The scanner restarts: its connection and listener go away, then it
	// listens again on the same port.
	errorsBefore := r.Stats().Errors
	conn.Write([]byte("YT70123")) // cut off by the restart: noise
	conn.Close()
	srv.ln.Close()
	eventually(t, "the disconnect counted", func() bool { return r.Stats().Errors > errorsBefore })
	srv = listenScanner(t, addr)
	conn = srv.client(t)
	conn.Write([]byte("YT7012345678901\n"))
	if got := receive(t, scans, 1); got[0] != "YT7012345678901" {
		t.Errorf("after restart: %q", got)
	}
	if st := r.Stats(); st.Scans != 3 || st.Noise != 2 || st.Errors < 2 {
		t.Errorf("stats %+v, want 3 scans, 2 noise, 2 or more errors", st)
	}
	if st := opt.Counters.Stats(); len(st) != 1 || st["dock-1"] != r.Stats() {
		t.Errorf("shared counters %+v", st)
	}
}

func TestTCPStopsWhileConnected(t *testing.T) {
	srv := listenScanner(t, "127.0.0.1:0")
	r := NewTCP(srv.ln.Addr().String(), quiet("dock-2"))
	runReader(t, r) // its cleanup cancels and checks that Run returns
	srv.client(t)
}
