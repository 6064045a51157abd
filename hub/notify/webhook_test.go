package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/countylink/countylink/hub/notify"
	"github.com/countylink/countylink/hub/notify/notifytest"
)

// receive waits for the next value on ch, failing the test after a few
// seconds.
func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received within 5 s")
		panic("unreachable")
	}
}

func TestWebhookSendsSignedJSON(t *testing.T) {
	r := notifytest.NewWebhookReceiver("s3cret")
	defer r.Close()
	w := &notify.Webhook{ID: "duty", URL: r.URL(), Secret: "s3cret", Header: map[string]string{"X-Api-Key": "k1"}}
	if err := w.Send(context.Background(), notifytest.HighRaised); err != nil {
		t.Fatal(err)
	}
	d := receive(t, r.Deliveries)
	if d.Err != nil || d.Status != 204 {
		t.Fatalf("receiver: status %d, %v", d.Status, d.Err)
	}
	// The signature, computed here independently of SignWebhook.
	ts := d.Header.Get("X-CountyLink-Timestamp")
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write([]byte(ts + "." + string(d.Body)))
	if got, want := d.Header.Get("X-CountyLink-Signature"), "sha256="+hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("signature %s, want %s", got, want)
	}
	if got := d.Header.Get("X-CountyLink-Event"); got != "raised" {
		t.Errorf("event header %q", got)
	}
	if got := d.Header.Get("X-Api-Key"); got != "k1" {
		t.Errorf("extra header %q", got)
	}
	if ct := d.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}
	a := d.Alarm
	if a.ID != notifytest.HighRaised.ID || a.Site != "tw01" || a.Severity != notify.Critical || a.Event != notify.EventRaised ||
		a.Value == nil || *a.Value != 6.8 || a.Limit == nil || *a.Limit != 4 || !a.Raised.Equal(notifytest.HighRaised.Raised) {
		t.Errorf("decoded alarm %+v", a)
	}
	if d.Text != notify.Text(notifytest.HighRaised) {
		t.Errorf("text %q", d.Text)
	}
}

func TestWebhookAnswers(t *testing.T) {
	r := notifytest.NewWebhookReceiver("s3cret")
	defer r.Close()
	for _, c := range []struct {
		status               int
		rejected, rateLimted bool
	}{
		{500, false, false},
		{503, false, false},
		{408, false, false},
		{429, false, true},
		{400, true, false},
		{404, true, false},
	} {
		r.FailNext(c.status)
		err := (&notify.Webhook{ID: "w", URL: r.URL(), Secret: "s3cret"}).Send(context.Background(), notifytest.HighRaised)
		var se *notify.StatusError
		if !errors.As(err, &se) || se.Code != c.status {
			t.Errorf("HTTP %d: error %v", c.status, err)
		}
		if errors.Is(err, notify.ErrRejected) != c.rejected || errors.Is(err, notify.ErrRateLimited) != c.rateLimted {
			t.Errorf("HTTP %d: rejected %v, rate limited %v", c.status, errors.Is(err, notify.ErrRejected), errors.Is(err, notify.ErrRateLimited))
		}
		receive(t, r.Deliveries)
	}
	// A receiver with another secret refuses the signature: 401, not retried.
	err := (&notify.Webhook{ID: "w", URL: r.URL(), Secret: "other"}).Send(context.Background(), notifytest.HighRaised)
	if !errors.Is(err, notify.ErrRejected) {
		t.Errorf("wrong secret: %v", err)
	}
	if d := receive(t, r.Deliveries); !errors.Is(d.Err, notify.ErrBadSignature) {
		t.Errorf("receiver saw %v", d.Err)
	}
}

func TestVerifyWebhook(t *testing.T) {
	body := []byte(`{"id":"a"}`)
	now := time.Unix(1782885900, 0)
	// Computed with Python's hmac module.
	const sig = "sha256=25a1e91edc02215471b54c413b7c5eca66ae8128cc5e5be1f8967a2e57a338a0"
	if got := notify.SignWebhook("whsec", "1782885900", body); got != sig {
		t.Fatalf("SignWebhook = %s, want %s", got, sig)
	}
	for _, c := range []struct {
		name, secret, ts, sig string
		body                  []byte
		now                   time.Time
		ok                    bool
	}{
		{"good", "whsec", "1782885900", sig, body, now, true},
		{"4 min late", "whsec", "1782885900", sig, body, now.Add(4 * time.Minute), true},
		{"6 min late", "whsec", "1782885900", sig, body, now.Add(6 * time.Minute), false},
		{"6 min early", "whsec", "1782885900", sig, body, now.Add(-6 * time.Minute), false},
		{"wrong secret", "other", "1782885900", sig, body, now, false},
		{"body changed", "whsec", "1782885900", sig, []byte(`{"id":"b"}`), now, false},
		{"timestamp changed", "whsec", "1782885901", sig, body, now, false},
		{"no prefix", "whsec", "1782885900", strings.TrimPrefix(sig, "sha256="), body, now, false},
		{"empty signature", "whsec", "1782885900", "", body, now, false},
		{"bad timestamp", "whsec", "soon", sig, body, now, false},
	} {
		err := notify.VerifyWebhook(c.secret, c.ts, c.sig, c.body, c.now, 0)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, notify.ErrBadSignature)) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if err := notify.VerifyWebhook("whsec", "1782885900", sig, body, now.Add(time.Hour), 2*time.Hour); err != nil {
		t.Errorf("tolerance 2h: %v", err)
	}
}

// TestTransportErrorHidesToken: the robots' URLs carry their credentials,
// and errors are logged.
func TestTransportErrorHidesToken(t *testing.T) {
	for _, ch := range []notify.Channel{
		&notify.DingTalk{ID: "d", URL: "http://127.0.0.1:1/robot/send?access_token=SECRET-TOKEN", Secret: "SECx"},
		&notify.WeCom{ID: "w", URL: "http://127.0.0.1:1/cgi-bin/webhook/send?key=SECRET-TOKEN"},
		&notify.Webhook{ID: "h", URL: "http://user:SECRET-TOKEN@127.0.0.1:1/hook?token=SECRET-TOKEN", Secret: "x"},
	} {
		err := ch.Send(context.Background(), notifytest.HighRaised)
		if err == nil || strings.Contains(err.Error(), "SECRET-TOKEN") {
			t.Errorf("%s: error %v", ch.Name(), err)
		}
	}
}
