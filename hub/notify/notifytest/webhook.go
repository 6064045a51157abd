package notifytest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/countylink/countylink/hub/notify"
)

// Delivery is one webhook request a WebhookReceiver accepted or refused.
type Delivery struct {
	Received time.Time
	Header   http.Header
	Body     []byte
	Alarm    notify.Alarm // decoded from Body
	Text     string       // the body's text field
	Status   int          // what the receiver answered
	Err      error        // why the signature was refused; nil when it was good
}

// WebhookReceiver is a receiver of notify.Webhook on localhost: it checks
// the signature with notify.VerifyWebhook, decodes the alarm, answers the
// statuses given to FailNext and then 204, and sends every request on
// Deliveries.
type WebhookReceiver struct {
	Server     *httptest.Server
	Secret     string
	Deliveries chan Delivery

	mu   sync.Mutex
	fail []int
}

// NewWebhookReceiver starts a receiver checking signatures with secret.
func NewWebhookReceiver(secret string) *WebhookReceiver {
	r := &WebhookReceiver{Secret: secret, Deliveries: make(chan Delivery, 100)}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

// URL is where the receiver listens.
func (r *WebhookReceiver) URL() string { return r.Server.URL + "/hook" }

// Close stops the receiver.
func (r *WebhookReceiver) Close() { r.Server.Close() }

// FailNext makes the next requests answer these HTTP statuses, one each.
func (r *WebhookReceiver) FailNext(statuses ...int) {
	r.mu.Lock()
	r.fail = append(r.fail, statuses...)
	r.mu.Unlock()
}

func (r *WebhookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	d := Delivery{Received: time.Now(), Header: req.Header.Clone(), Body: body}
	d.Err = notify.VerifyWebhook(r.Secret, req.Header.Get(notify.HeaderTimestamp), req.Header.Get(notify.HeaderSignature),
		body, time.Now(), 0)
	var payload struct {
		notify.Alarm
		Text string `json:"text"`
	}
	switch {
	case d.Err != nil:
		d.Status = http.StatusUnauthorized
	case json.Unmarshal(body, &payload) != nil:
		d.Status = http.StatusBadRequest
	default:
		d.Alarm, d.Text, d.Status = payload.Alarm, payload.Text, http.StatusNoContent
		r.mu.Lock()
		if len(r.fail) > 0 {
			d.Status, r.fail = r.fail[0], r.fail[1:]
		}
		r.mu.Unlock()
	}
	r.Deliveries <- d
	w.WriteHeader(d.Status)
}
