package notifytest

import (
	"bytes"
	"cmp"
	"crypto/tls"
	"encoding/base64"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"time"
)

// Mail is one message an SMTPServer accepted.
type Mail struct {
	Received time.Time
	From     string   // MAIL FROM address
	To       []string // RCPT TO addresses
	Data     []byte   // the message, dot-unstuffed, CRLF line ends
	User     string   // the authenticated user; empty without AUTH
	TLS      bool     // whether the session was encrypted
}

// SMTPServer is enough of an SMTP server on localhost for notify's Email
// channel: EHLO/HELO, STARTTLS (when TLS is set), AUTH PLAIN and LOGIN
// (required when Username is set), MAIL, RCPT, DATA, RSET, NOOP, QUIT.
// Set the fields, then Start.
type SMTPServer struct {
	Username, Password string
	Mechanisms         string      // AUTH mechanisms offered; empty for "PLAIN LOGIN"
	TLS                *tls.Config // offers STARTTLS; with Implicit, TLS from the first byte
	Implicit           bool
	// Reply, when set, is asked before each command (the verb in upper
	// case: "MAIL", "DATA", ...); a non-zero code is answered instead of
	// running the command.
	Reply func(verb string) (code int, text string)

	Listen string    // where to listen; empty for 127.0.0.1 on a free port
	Addr   string    // host:port, once started
	Mails  chan Mail // every accepted message

	ln net.Listener
	wg sync.WaitGroup
}

// Start listens and serves until Close.
func (s *SMTPServer) Start() error {
	ln, err := net.Listen("tcp", cmp.Or(s.Listen, "127.0.0.1:0"))
	if err != nil {
		return err
	}
	if s.Implicit {
		ln = tls.NewListener(ln, s.TLS)
	}
	s.ln, s.Addr = ln, ln.Addr().String()
	if s.Mails == nil {
		s.Mails = make(chan Mail, 100)
	}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.session(c) })
		}
	})
	return nil
}

// Close stops listening and waits for the sessions to end.
func (s *SMTPServer) Close() {
	s.ln.Close()
	s.wg.Wait()
}

func (s *SMTPServer) session(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	tp := textproto.NewConn(c)
	_, secure := c.(*tls.Conn)
	var (
		user, from string
		to         []string
		greeted    bool
	)
	reply := func(code int, text string) { tp.PrintfLine("%d %s", code, text) }
	tp.PrintfLine("220 notifytest ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		if s.Reply != nil {
			if code, text := s.Reply(verb); code != 0 {
				reply(code, text)
				if verb == "QUIT" {
					return
				}
				continue
			}
		}
		switch verb {
		case "EHLO", "HELO":
			greeted = true
			from, to = "", nil
			ext := []string{"notifytest", "8BITMIME", "SMTPUTF8"}
			if s.TLS != nil && !secure {
				ext = append(ext, "STARTTLS")
			}
			if s.Username != "" {
				ext = append(ext, "AUTH "+cmp.Or(s.Mechanisms, "PLAIN LOGIN"))
			}
			for i, e := range ext {
				sep := "-"
				if i == len(ext)-1 {
					sep = " "
				}
				tp.PrintfLine("250%s%s", sep, e)
			}
		case "STARTTLS":
			if s.TLS == nil || secure {
				reply(502, "no STARTTLS")
				continue
			}
			reply(220, "go ahead")
			tc := tls.Server(c, s.TLS)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, secure, greeted, user = tc, true, false, ""
			tp = textproto.NewConn(tc)
		case "AUTH":
			mech, initial, _ := strings.Cut(arg, " ")
			if !strings.Contains(" "+cmp.Or(s.Mechanisms, "PLAIN LOGIN")+" ", " "+strings.ToUpper(mech)+" ") {
				reply(504, "mechanism not offered")
				continue
			}
			u, p, ok := s.auth(tp, strings.ToUpper(mech), initial)
			if !ok || u != s.Username || p != s.Password {
				reply(535, "authentication failed")
				continue
			}
			user = u
			reply(235, "authenticated")
		case "MAIL":
			switch {
			case !greeted:
				reply(503, "EHLO first")
			case s.Username != "" && user == "":
				reply(530, "authentication required")
			default:
				from, to = addrOf(arg), nil
				reply(250, "ok")
			}
		case "RCPT":
			if from == "" {
				reply(503, "MAIL first")
				continue
			}
			to = append(to, addrOf(arg))
			reply(250, "ok")
		case "DATA":
			if len(to) == 0 {
				reply(503, "RCPT first")
				continue
			}
			reply(354, "end with .")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			s.Mails <- Mail{Received: time.Now(), From: from, To: to, Data: bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n")),
				User: user, TLS: secure}
			from, to = "", nil
			reply(250, "queued")
		case "RSET":
			from, to = "", nil
			reply(250, "ok")
		case "NOOP":
			reply(250, "ok")
		case "QUIT":
			reply(221, "bye")
			return
		default:
			reply(502, "not implemented")
		}
	}
}

// auth runs AUTH PLAIN or LOGIN and returns the credentials given.
func (s *SMTPServer) auth(tp *textproto.Conn, mech, initial string) (user, pass string, ok bool) {
	read := func(prompt string) (string, bool) {
		tp.PrintfLine("334 %s", prompt)
		l, err := tp.ReadLine()
		if err != nil {
			return "", false
		}
		b, err := base64.StdEncoding.DecodeString(l)
		return string(b), err == nil
	}
	switch mech {
	case "PLAIN":
		var resp string
		if initial != "" {
			b, err := base64.StdEncoding.DecodeString(initial)
			if err != nil {
				return "", "", false
			}
			resp = string(b)
		} else if resp, ok = read(""); !ok {
			return "", "", false
		}
		parts := strings.Split(resp, "\x00")
		if len(parts) != 3 {
			return "", "", false
		}
		return parts[1], parts[2], true
	case "LOGIN":
		u, ok1 := read(base64.StdEncoding.EncodeToString([]byte("Username:")))
		p, ok2 := read(base64.StdEncoding.EncodeToString([]byte("Password:")))
		return u, p, ok1 && ok2
	}
	return "", "", false
}

// addrOf takes the address out of "FROM:<a@b> SIZE=1" or "TO:<a@b>".
func addrOf(arg string) string {
	i, j := strings.IndexByte(arg, '<'), strings.IndexByte(arg, '>')
	if i < 0 || j < i {
		return ""
	}
	return arg[i+1 : j]
}
