package notify

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrRejected marks a notification the receiver refused for its content or
// for our credentials (a bad signature, an unknown robot key, a mailbox
// that does not exist): sending it again cannot succeed, so it is not
// retried.
var ErrRejected = errors.New("notification rejected")

// ErrRateLimited marks a receiver's answer that we send too fast (HTTP
// 429, DingTalk errcode 130101, WeCom errcode 45009). It is retried after
// Retry.RateLimitedBackoff at the least.
var ErrRateLimited = errors.New("rate limited by the receiver")

// APIError is a robot's answer with a non-zero errcode.
type APIError struct {
	Code        int
	Msg         string
	RateLimited bool // the code says we send too fast
	Temporary   bool // the code says the receiver is busy; worth retrying
}

func (e *APIError) Error() string { return fmt.Sprintf("errcode %d: %s", e.Code, e.Msg) }

// Is makes errors.Is(err, ErrRateLimited) and errors.Is(err, ErrRejected)
// true for the codes they stand for.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrRateLimited:
		return e.RateLimited
	case ErrRejected:
		return !e.RateLimited && !e.Temporary
	}
	return false
}

// StatusError is an HTTP answer outside 2xx.
type StatusError struct {
	Code int
	Body string // the start of the answer, for the log
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("HTTP %d", e.Code)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Code, e.Body)
}

// Is classes 429 as ErrRateLimited, and 4xx other than 408 and 429 as
// ErrRejected; 5xx and 408 are retried.
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrRateLimited:
		return e.Code == 429
	case ErrRejected:
		return e.Code >= 400 && e.Code < 500 && e.Code != 408 && e.Code != 429
	}
	return false
}

// redact removes the query from the URL in an HTTP client error: the
// DingTalk access_token and the WeCom key sit there, and errors end up in
// logs.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = redactURL(ue.URL)
	}
	return err
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(url)"
	}
	u.RawQuery, u.User, u.Fragment = "", nil, ""
	return u.String()
}

// snippet is the start of an answer body, on one line.
func snippet(b []byte) string {
	s := oneLine(strings.ToValidUTF8(string(b), "?"))
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}
