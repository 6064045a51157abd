package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"unicode/utf8"
)

// WeCom sends to a WeCom (企业微信) group through a group robot (群机器人).
//
// The robot's webhook is https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…;
// it takes a POST of
//
//	{"msgtype":"markdown","markdown":{"content":"…"}}
//
// with UTF-8 content of at most 4096 bytes (longer text is cut here), and
// answers {"errcode":0,"errmsg":"ok"}; any other errcode is an error,
// 45009 ("api freq out of limit") meaning we send too fast. A robot sends
// at most 20 messages a minute. In markdown content, <@userid> mentions a
// group member.
//
// The URL and message format were checked against WeCom's group robot
// documentation (群机器人配置说明) and errcode 45009 against issue reports
// quoting it; this package's tests use a local fake of the robot. The key
// in the URL is the robot's only credential: keep the URL in a file
// (url_file) rather than in hub.yaml.
type WeCom struct {
	ID      string   // the channel's name in logs and metrics
	URL     string   // the robot's webhook, with its key
	Mention []string // WeCom user IDs to @-mention
	Client  *http.Client
}

var _ Channel = (*WeCom)(nil)

// WeCom errcodes with a meaning for retries.
const (
	WeComTooFast = 45009 // api freq out of limit
	WeComBusy    = -1    // system busy
)

// WeComMaxContent is the longest markdown content a WeCom robot takes, in
// bytes.
const WeComMaxContent = 4096

// Name is the channel's ID.
func (w *WeCom) Name() string { return w.ID }

type weComMessage struct {
	MsgType  string `json:"msgtype"`
	Markdown struct {
		Content string `json:"content"`
	} `json:"markdown"`
}

// Send posts a as a markdown message.
func (w *WeCom) Send(ctx context.Context, a Alarm) error {
	var mentions []string
	for _, id := range w.Mention {
		mentions = append(mentions, "<@"+id+">")
	}
	var m weComMessage
	m.MsgType = "markdown"
	m.Markdown.Content = truncate(markdown(a, mentions), WeComMaxContent)
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRejected, err)
	}
	return robotPost(ctx, w.Client, w.URL, body, func(code int) (rateLimited, temporary bool) {
		return code == WeComTooFast, code == WeComBusy
	})
}

// truncate cuts s to at most n bytes on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const more = "…"
	i := n - len(more)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + more
}
