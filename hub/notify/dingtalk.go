package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// DingTalk sends to a DingTalk group through a custom robot (自定义机器人).
//
// The robot's webhook is https://oapi.dingtalk.com/robot/send?access_token=…;
// it takes a POST of
//
//	{"msgtype":"markdown","markdown":{"title":"…","text":"…"},"at":{"atMobiles":["138…"],"isAtAll":false}}
//
// and answers 200 with {"errcode":0,"errmsg":"ok"}; any other errcode is
// an error. A robot sends at most 20 messages a minute, and beyond that
// answers errcode 130101 ("send too fast, exceed 20 times per minute") and
// is throttled for about ten minutes, so its rate limit should stay below
// 20 a minute, burst included.
//
// A robot secured by signing (加签) shows a secret starting with "SEC":
// the request then carries timestamp (unix milliseconds, within an hour of
// DingTalk's clock) and sign = urlencode(base64(HMAC-SHA256(secret,
// timestamp + "\n" + secret))) as query parameters after the access token.
// A robot secured by keywords needs one in every message: Footer holds
// "冷链告警". A mobile number in AtMobiles is @-mentioned, which DingTalk
// only does when the number also appears in the text, so it is appended.
//
// These formats were checked against DingTalk's custom robot
// documentation as quoted by third-party pages (the signing rule, the
// message format, the 20 a minute limit) and against issue reports
// quoting errcode 130101; this package's tests use a local fake of the
// robot.
type DingTalk struct {
	ID        string   // the channel's name in logs and metrics
	URL       string   // the robot's webhook, with its access_token
	Secret    string   // the signing secret ("SEC…"); empty when the robot does not sign
	AtMobiles []string // mobile numbers to @-mention
	AtAll     bool     // @-mention everyone in the group
	Client    *http.Client
}

var _ Channel = (*DingTalk)(nil)

// DingTalk errcodes with a meaning for retries.
const (
	DingTalkTooFast = 130101 // send too fast
	DingTalkBusy    = -1     // system busy
)

// Name is the channel's ID.
func (d *DingTalk) Name() string { return d.ID }

type dingTalkMessage struct {
	MsgType  string `json:"msgtype"`
	Markdown struct {
		Title string `json:"title"`
		Text  string `json:"text"`
	} `json:"markdown"`
	At struct {
		AtMobiles []string `json:"atMobiles,omitempty"`
		IsAtAll   bool     `json:"isAtAll"`
	} `json:"at"`
}

// robotAnswer is the DingTalk and WeCom answer.
type robotAnswer struct {
	ErrCode *int   `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// Send posts a as a markdown message.
func (d *DingTalk) Send(ctx context.Context, a Alarm) error {
	var m dingTalkMessage
	m.MsgType = "markdown"
	m.Markdown.Title = Title(a)
	var mentions []string
	for _, mob := range d.AtMobiles {
		mentions = append(mentions, "@"+mob)
	}
	m.Markdown.Text = markdown(a, mentions)
	m.At.AtMobiles = d.AtMobiles
	m.At.IsAtAll = d.AtAll
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRejected, err)
	}
	u := d.URL
	if d.Secret != "" {
		if u, err = SignDingTalk(d.URL, d.Secret, time.Now()); err != nil {
			return err
		}
	}
	return robotPost(ctx, d.Client, u, body, func(code int) (rateLimited, temporary bool) {
		return code == DingTalkTooFast, code == DingTalkBusy
	})
}

// SignDingTalk adds DingTalk's timestamp and sign parameters to a robot
// URL for a request sent at t.
func SignDingTalk(robotURL, secret string, t time.Time) (string, error) {
	u, err := url.Parse(robotURL)
	if err != nil {
		return "", fmt.Errorf("%w: robot URL: %v", ErrRejected, redact(err))
	}
	ts := strconv.FormatInt(t.UnixMilli(), 10)
	q := u.Query()
	q.Set("timestamp", ts)
	q.Set("sign", DingTalkSign(secret, ts))
	u.RawQuery = q.Encode() // URL-encodes the base64 (+, / and =)
	return u.String(), nil
}

// DingTalkSign is base64(HMAC-SHA256(secret, timestamp + "\n" + secret)),
// before URL encoding.
func DingTalkSign(secret, timestamp string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp + "\n" + secret))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// robotPost posts to a DingTalk or WeCom robot and checks its answer;
// class says which non-zero errcodes are rate limits and which are
// temporary.
func robotPost(ctx context.Context, c *http.Client, u string, body []byte, class func(code int) (rateLimited, temporary bool)) error {
	status, answer, err := post(ctx, c, u, body, nil)
	if err != nil {
		return err
	}
	if status < 200 || status > 299 {
		return &StatusError{Code: status, Body: snippet(answer)}
	}
	var r robotAnswer
	if err := json.Unmarshal(answer, &r); err != nil || r.ErrCode == nil {
		// Not the robot's JSON: a proxy or captive portal answered.
		return fmt.Errorf("unexpected answer %q", snippet(answer))
	}
	if *r.ErrCode != 0 {
		e := &APIError{Code: *r.ErrCode, Msg: r.ErrMsg}
		e.RateLimited, e.Temporary = class(e.Code)
		return e
	}
	return nil
}
