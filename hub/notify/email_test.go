package notify_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"

	"github.com/countylink/countylink/hub/notify"
	"github.com/countylink/countylink/hub/notify/notifytest"
)

func startSMTP(t *testing.T, s *notifytest.SMTPServer) *notifytest.SMTPServer {
	t.Helper()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// parsedMail is a received message taken apart.
type parsedMail struct {
	Header      mail.Header
	Subject     string
	Plain, HTML string
}

func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var p parsedMail
	p.Header = m.Header
	if p.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatal(err)
	}
	typ, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || typ != "multipart/alternative" {
		t.Fatalf("content type %q: %v", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if enc := part.Header.Get("Content-Transfer-Encoding"); enc != "base64" {
			t.Fatalf("transfer encoding %q", enc)
		}
		b, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, part))
		if err != nil {
			t.Fatal(err)
		}
		switch part.Header.Get("Content-Type") {
		case "text/plain; charset=UTF-8":
			p.Plain = string(b)
		case "text/html; charset=UTF-8":
			p.HTML = string(b)
		default:
			t.Errorf("part type %q", part.Header.Get("Content-Type"))
		}
	}
	return p
}

func TestEmailPlainWithAuth(t *testing.T) {
	s := startSMTP(t, &notifytest.SMTPServer{Username: "alarm@county.example.cn", Password: "pw"})
	e := &notify.Email{ID: "mail", Addr: s.Addr, From: "冷链告警 <alarm@county.example.cn>",
		To: []string{"office@county.example.cn", "王五 <wangwu@county.example.cn>"}, Username: "alarm@county.example.cn", Password: "pw"}
	if err := e.Send(context.Background(), notifytest.HighRaised); err != nil {
		t.Fatal(err)
	}
	m := receive(t, s.Mails)
	if m.User != "alarm@county.example.cn" || m.From != "alarm@county.example.cn" ||
		strings.Join(m.To, ",") != "office@county.example.cn,wangwu@county.example.cn" {
		t.Errorf("envelope: user %q from %q to %q", m.User, m.From, m.To)
	}
	raw := string(m.Data)
	if !strings.Contains(raw, "Subject: =?UTF-8?b?") {
		t.Errorf("subject not RFC 2047 encoded:\n%s", raw[:400])
	}
	p := parseMail(t, m.Data)
	if p.Subject != "【严重】城关镇 1号冷库 温度超上限" {
		t.Errorf("subject %q", p.Subject)
	}
	from, err := p.Header.AddressList("From")
	if err != nil || from[0].Name != "冷链告警" || from[0].Address != "alarm@county.example.cn" {
		t.Errorf("From %v %v", from, err)
	}
	to, err := p.Header.AddressList("To")
	if err != nil || len(to) != 2 || to[1].Name != "王五" {
		t.Errorf("To %v %v", to, err)
	}
	for _, h := range []string{"Date", "Message-ID", "MIME-Version"} {
		if p.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
	if got := p.Header.Get("X-CountyLink-Event"); got != "raised" {
		t.Errorf("event header %q", got)
	}
	for _, want := range []string{notify.Text(notifytest.HighRaised), "站点 Site: 城关镇 (tw01)", notifytest.HighRaised.URL, notify.Footer} {
		if !strings.Contains(strings.ReplaceAll(p.Plain, "\r\n", "\n"), want) {
			t.Errorf("plain body lacks %q:\n%s", want, p.Plain)
		}
	}
	for _, want := range []string{"<b>【严重】城关镇 1号冷库 温度超上限: 6.8 °C", `<a href="https://hub.example.cn/#/alarms/`} {
		if !strings.Contains(p.HTML, want) {
			t.Errorf("HTML lacks %q:\n%s", want, p.HTML)
		}
	}
}

func TestEmailTLS(t *testing.T) {
	serverTLS, clientTLS := notifytest.TLS()
	for _, c := range []struct {
		name     string
		server   *notifytest.SMTPServer
		mode     string
		mechs    string
		wantTLS  bool
		rejected bool
	}{
		{"starttls", &notifytest.SMTPServer{TLS: serverTLS}, notify.TLSStartTLS, "", true, false},
		{"auto takes starttls", &notifytest.SMTPServer{TLS: serverTLS}, notify.TLSAuto, "", true, false},
		{"auto without starttls", &notifytest.SMTPServer{}, "", "", false, false},
		{"implicit tls", &notifytest.SMTPServer{TLS: serverTLS, Implicit: true}, notify.TLSImplicit, "", true, false},
		{"auth login only", &notifytest.SMTPServer{TLS: serverTLS, Mechanisms: "LOGIN"}, notify.TLSStartTLS, "LOGIN", true, false},
		{"starttls required, not offered", &notifytest.SMTPServer{}, notify.TLSStartTLS, "", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.mechs != "" {
				c.server.Username, c.server.Password = "u", "p"
			}
			s := startSMTP(t, c.server)
			e := &notify.Email{ID: "mail", Addr: s.Addr, From: "alarm@example.cn", To: []string{"a@example.cn"}, TLS: c.mode, TLSConfig: clientTLS}
			if c.mechs != "" {
				e.Username, e.Password = "u", "p"
			}
			err := e.Send(context.Background(), notifytest.HighRaised)
			if c.rejected {
				if !errors.Is(err, notify.ErrRejected) {
					t.Fatalf("error %v, want ErrRejected", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m := receive(t, s.Mails); m.TLS != c.wantTLS || (c.mechs != "" && m.User != "u") {
				t.Errorf("TLS %v user %q", m.TLS, m.User)
			}
		})
	}
}

func TestEmailRefusesPasswordInClear(t *testing.T) {
	// Over plain text, only to localhost, as net/smtp allows.
	local := startSMTP(t, &notifytest.SMTPServer{Username: "u", Password: "p"})
	e := &notify.Email{ID: "mail", Addr: local.Addr, From: "a@example.cn", To: []string{"b@example.cn"}, Username: "u", Password: "p"}
	if err := e.Send(context.Background(), notifytest.HighRaised); err != nil {
		t.Fatalf("localhost in the clear: %v", err)
	}
	receive(t, local.Mails)

	// 127.0.0.2 is this machine too, but not a name taken for localhost:
	// it stands for a server elsewhere that offers no STARTTLS.
	remote := &notifytest.SMTPServer{Listen: "127.0.0.2:0", Username: "u", Password: "p"}
	if err := remote.Start(); err != nil {
		t.Skip("cannot listen on 127.0.0.2:", err)
	}
	t.Cleanup(remote.Close)
	e.Addr = remote.Addr
	if err := e.Send(context.Background(), notifytest.HighRaised); !errors.Is(err, notify.ErrRejected) || !strings.Contains(err.Error(), "without TLS") {
		t.Errorf("error %v", err)
	}
}

func TestEmailServerReplies(t *testing.T) {
	for _, c := range []struct {
		verb     string
		code     int
		rejected bool
	}{
		{"RCPT", 550, true},
		{"MAIL", 451, false},
		{"DATA", 452, false},
		{"DATA", 554, true},
	} {
		s := startSMTP(t, &notifytest.SMTPServer{Reply: func(verb string) (int, string) {
			if verb == c.verb {
				return c.code, "scripted"
			}
			return 0, ""
		}})
		e := &notify.Email{ID: "mail", Addr: s.Addr, From: "a@example.cn", To: []string{"b@example.cn"}}
		err := e.Send(context.Background(), notifytest.HighRaised)
		if err == nil || errors.Is(err, notify.ErrRejected) != c.rejected {
			t.Errorf("%s %d: error %v, rejected %v", c.verb, c.code, err, errors.Is(err, notify.ErrRejected))
		}
	}
}
