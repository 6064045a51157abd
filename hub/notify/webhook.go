package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Webhook signature headers.
const (
	HeaderTimestamp = "X-CountyLink-Timestamp" // unix seconds when the request was signed
	HeaderSignature = "X-CountyLink-Signature" // "sha256=" and the hex HMAC
	HeaderEvent     = "X-CountyLink-Event"     // the alarm's event, for routing without parsing
)

// ErrBadSignature is returned by VerifyWebhook for a request that is not
// signed with the secret, or not recently.
var ErrBadSignature = errors.New("bad webhook signature")

// DefaultTolerance is how far a webhook timestamp may be from the
// receiver's clock when VerifyWebhook is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// Webhook posts each notification as JSON to a URL of the county's own
// systems (an SMS gateway, a duty roster, a ticket system), signed with a
// shared secret. The body and the signature are described in the package
// documentation.
type Webhook struct {
	ID     string            // the channel's name in logs and metrics
	URL    string            // http(s) URL
	Secret string            // HMAC key shared with the receiver; empty sends unsigned (the configuration requires one)
	Header map[string]string // extra request headers, such as a gateway's API key
	Client *http.Client      // nil for http.DefaultClient; the dispatcher bounds each attempt with a timeout
}

var _ Channel = (*Webhook)(nil)

// Name is the channel's ID.
func (w *Webhook) Name() string { return w.ID }

// webhookBody is the posted JSON: the alarm's fields and its text.
type webhookBody struct {
	Alarm
	Text string `json:"text"`
}

// WebhookBody is the JSON a Webhook posts for a.
func WebhookBody(a Alarm) ([]byte, error) {
	return json.Marshal(webhookBody{Alarm: a, Text: Text(a)})
}

// Send posts a. A 2xx answer is success; see StatusError for how other
// answers are classed.
func (w *Webhook) Send(ctx context.Context, a Alarm) error {
	body, err := WebhookBody(a)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRejected, err)
	}
	h := http.Header{}
	for k, v := range w.Header {
		h.Set(k, v)
	}
	h.Set(HeaderEvent, string(a.Event))
	if w.Secret != "" {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, SignWebhook(w.Secret, ts, body))
	}
	status, answer, err := post(ctx, w.Client, w.URL, body, h)
	if err != nil {
		return err
	}
	if status < 200 || status > 299 {
		return &StatusError{Code: status, Body: snippet(answer)}
	}
	return nil
}

// SignWebhook is the X-CountyLink-Signature value for a body sent at
// timestamp (unix seconds, as in X-CountyLink-Timestamp):
// "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
func SignWebhook(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifyWebhook checks a received webhook: that signature (the
// X-CountyLink-Signature header) is the HMAC of timestamp (the
// X-CountyLink-Timestamp header) and the raw body under secret, and that
// timestamp is within tolerance of now (DefaultTolerance when tolerance is
// not positive), which stops a captured request from being replayed
// later. Receivers should also ignore a repeated (id, event, updated): a
// notification retried after a lost answer arrives twice.
func VerifyWebhook(secret, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not unix seconds", ErrBadSignature, timestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp is %v away from now, beyond %v", ErrBadSignature, d.Round(time.Second), tolerance)
	}
	if !strings.HasPrefix(signature, "sha256=") {
		return fmt.Errorf("%w: signature must start with sha256=", ErrBadSignature)
	}
	if !hmac.Equal([]byte(signature), []byte(SignWebhook(secret, timestamp, body))) {
		return fmt.Errorf("%w: HMAC does not match", ErrBadSignature)
	}
	return nil
}

// maxAnswer bounds how much of an answer is read.
const maxAnswer = 64 << 10

// post sends a JSON body and returns the status and the start of the
// answer. Transport errors have the URL's query removed.
func post(ctx context.Context, c *http.Client, url string, body []byte, h http.Header) (int, []byte, error) {
	if c == nil {
		c = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", ErrRejected, redact(err))
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "countylink-hub")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, redact(err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return resp.StatusCode, answer, fmt.Errorf("reading the answer: %w", redact(err))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer)) // let the connection be reused
	return resp.StatusCode, answer, nil
}
