package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"slices"
	"strings"
	"time"
)

// TLS modes of an Email channel.
const (
	TLSAuto     = "auto"     // STARTTLS when the server offers it (the default)
	TLSStartTLS = "starttls" // STARTTLS, required
	TLSImplicit = "tls"      // TLS from the first byte, as on port 465 (smtp.qq.com, smtp.163.com)
	TLSNone     = "none"     // plain text; only for a relay on the local network
)

// Email sends each notification as a mail over SMTP: the subject is the
// Chinese title encoded per RFC 2047, the body UTF-8 plain text with a
// simple HTML alternative.
//
// The password is only sent over TLS (or to a server on localhost): with
// TLS "auto" and a server that offers no STARTTLS, a channel with a
// username fails rather than send it in the clear. AUTH PLAIN is used, or
// AUTH LOGIN for servers that offer only that.
type Email struct {
	ID        string   // the channel's name in logs and metrics
	Addr      string   // host:port of the SMTP server
	From      string   // sender address, optionally with a name: "冷链告警 <alarm@example.cn>"
	To        []string // recipient addresses
	Username  string   // empty for no authentication
	Password  string
	TLS       string      // TLSAuto, TLSStartTLS, TLSImplicit or TLSNone; empty means TLSAuto
	TLSConfig *tls.Config // nil to verify the server against the system's roots
	Hello     string      // name given in EHLO; empty for "localhost"
}

var _ Channel = (*Email)(nil)

// Name is the channel's ID.
func (e *Email) Name() string { return e.ID }

// Send delivers a to every recipient in one SMTP transaction. A 5xx reply
// is ErrRejected; 4xx replies and network errors are worth a retry.
func (e *Email) Send(ctx context.Context, a Alarm) error {
	from, err := mail.ParseAddress(e.From)
	if err != nil {
		return fmt.Errorf("%w: from %q: %v", ErrRejected, e.From, err)
	}
	var to []*mail.Address
	for _, s := range e.To {
		addr, err := mail.ParseAddress(s)
		if err != nil {
			return fmt.Errorf("%w: to %q: %v", ErrRejected, s, err)
		}
		to = append(to, addr)
	}
	if len(to) == 0 {
		return fmt.Errorf("%w: no recipients", ErrRejected)
	}
	msg, err := mailMessage(a, from, to, time.Now())
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRejected, err)
	}
	return e.deliver(ctx, from.Address, to, msg)
}

func (e *Email) deliver(ctx context.Context, from string, to []*mail.Address, msg []byte) error {
	host, _, err := net.SplitHostPort(e.Addr)
	if err != nil {
		return fmt.Errorf("%w: addr %q: %v", ErrRejected, e.Addr, err)
	}
	cfg := e.TLSConfig
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", e.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	// net/smtp knows no context: a deadline bounds the whole exchange and
	// a cancelled ctx ends it at once.
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	mode := e.TLS
	if mode == "" {
		mode = TLSAuto
	}
	secure := false
	if mode == TLSImplicit {
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		conn, secure = tc, true
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return smtpError("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(first(e.Hello, "localhost")); err != nil {
		return smtpError("EHLO", err)
	}
	if !secure && mode != TLSNone {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(cfg); err != nil {
				return smtpError("STARTTLS", err)
			}
			secure = true
		} else if mode == TLSStartTLS {
			return fmt.Errorf("%w: %s offers no STARTTLS", ErrRejected, e.Addr)
		}
	}
	if e.Username != "" {
		if !secure && !isLocalhost(host) {
			return fmt.Errorf("%w: refusing to send the SMTP password to %s without TLS", ErrRejected, host)
		}
		_, mechs := c.Extension("AUTH")
		var auth smtp.Auth = smtp.PlainAuth("", e.Username, e.Password, host)
		if m := strings.Fields(strings.ToUpper(mechs)); !slices.Contains(m, "PLAIN") && slices.Contains(m, "LOGIN") {
			auth = &loginAuth{e.Username, e.Password}
		}
		if err := c.Auth(auth); err != nil {
			return smtpError("AUTH", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return smtpError("MAIL FROM", err)
	}
	for _, r := range to {
		if err := c.Rcpt(r.Address); err != nil {
			return smtpError("RCPT TO "+r.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpError("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return smtpError("DATA", err)
	}
	if err := w.Close(); err != nil {
		return smtpError("DATA", err)
	}
	// The message is accepted once DATA ends with 250: a failed QUIT must
	// not make it sent again.
	c.Quit()
	return nil
}

// smtpError names the step; a permanent (5xx) reply is ErrRejected.
func smtpError(step string, err error) error {
	var tp *textproto.Error
	if errors.As(err, &tp) && tp.Code >= 500 {
		return fmt.Errorf("%s: %w: %w", step, ErrRejected, err)
	}
	return fmt.Errorf("%s: %w", step, err)
}

func isLocalhost(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// loginAuth is AUTH LOGIN, which some servers offer instead of PLAIN. Like
// smtp.PlainAuth it is only used over TLS or to localhost (checked by the
// caller).
type loginAuth struct{ user, pass string }

func (l *loginAuth) Start(*smtp.ServerInfo) (string, []byte, error) { return "LOGIN", nil, nil }

func (l *loginAuth) Next(challenge []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	switch strings.ToLower(strings.TrimSpace(string(challenge))) {
	case "username:":
		return []byte(l.user), nil
	case "password:":
		return []byte(l.pass), nil
	}
	return nil, fmt.Errorf("unexpected AUTH LOGIN challenge %q", challenge)
}

var mailHTML = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family:sans-serif">
<p style="font-size:16px"><b>{{.ZH}}</b></p>
<p>{{.EN}}</p>
<table style="border-collapse:collapse">
{{range .Details}}<tr><td style="padding:2px 12px 2px 0;color:#666">{{index . 0}}</td><td>{{index . 1}}</td></tr>
{{end}}</table>
{{if .URL}}<p><a href="{{.URL}}">查看告警 View alarm</a></p>{{end}}
<p style="color:#999">{{.Footer}}</p>
</body></html>
`))

// mailMessage is the whole RFC 5322 message for a.
func mailMessage(a Alarm, from *mail.Address, to []*mail.Address, now time.Time) ([]byte, error) {
	var plain strings.Builder
	plain.WriteString(Text(a) + "\n\n")
	for _, d := range details(a) {
		plain.WriteString(d[0] + ": " + d[1] + "\n")
	}
	if a.URL != "" {
		plain.WriteString("\n" + a.URL + "\n")
	}
	plain.WriteString("\n-- \n" + Footer + "\n")

	var html bytes.Buffer
	err := mailHTML.Execute(&html, map[string]any{
		"Title": Title(a), "ZH": lineZH(a), "EN": lineEN(a), "Details": details(a),
		"URL": template.URL(safeURL(a.URL)), "Footer": Footer,
	})
	if err != nil {
		return nil, err
	}

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, part := range []struct{ typ, text string }{{"text/plain", plain.String()}, {"text/html", html.String()}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=UTF-8"},
			"Content-Transfer-Encoding": {"base64"},
		})
		if err != nil {
			return nil, err
		}
		writeBase64(w, []byte(strings.ReplaceAll(part.text, "\n", "\r\n")))
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}

	var names []string
	for _, t := range to {
		names = append(names, t.String())
	}
	domain := "countylink"
	if i := strings.LastIndexByte(from.Address, '@'); i >= 0 {
		domain = from.Address[i+1:]
	}
	var m bytes.Buffer
	header := func(k, v string) { m.WriteString(k + ": " + v + "\r\n") }
	header("From", from.String()) // encodes a Chinese name per RFC 2047
	header("To", strings.Join(names, ", "))
	header("Subject", mime.BEncoding.Encode("UTF-8", Title(a)))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", "<"+rand.Text()+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", `multipart/alternative; boundary="`+mw.Boundary()+`"`)
	header("X-CountyLink-Alarm", mime.QEncoding.Encode("UTF-8", a.ID))
	header("X-CountyLink-Event", mime.QEncoding.Encode("UTF-8", string(a.Event)))
	m.WriteString("\r\n")
	m.Write(body.Bytes())
	return m.Bytes(), nil
}

// safeURL keeps only http(s) links in the HTML part.
func safeURL(s string) string {
	if strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://") {
		return s
	}
	return ""
}

// writeBase64 writes b in base64 lines of 76 characters.
func writeBase64(w interface{ Write([]byte) (int, error) }, b []byte) {
	s := base64.StdEncoding.EncodeToString(b)
	for len(s) > 76 {
		w.Write([]byte(s[:76] + "\r\n"))
		s = s[76:]
	}
	w.Write([]byte(s + "\r\n"))
}
