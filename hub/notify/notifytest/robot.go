package notifytest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// RobotMessage is one message a fake robot accepted or refused.
type RobotMessage struct {
	Received  time.Time
	Query     url.Values
	MsgType   string
	Title     string // DingTalk's markdown title
	Text      string // DingTalk's markdown text, WeCom's markdown content
	AtMobiles []string
	IsAtAll   bool
	Errcode   int // what the robot answered
}

// Robot is a fake DingTalk custom robot or WeCom group robot on
// localhost. It checks the token (and DingTalk's signature when Secret is
// set), decodes the markdown message, answers with the errcodes given to
// FailNext and then 0, and sends every message on Messages.
type Robot struct {
	Server   *httptest.Server
	Messages chan RobotMessage
	Token    string // access_token (DingTalk) or key (WeCom)
	Secret   string // DingTalk signing secret; empty for none

	wecom bool
	mu    sync.Mutex
	fail  []int
}

// NewDingTalk starts a fake DingTalk robot; secret empty for one that
// does not sign.
func NewDingTalk(secret string) *Robot { return newRobot(false, secret) }

// NewWeCom starts a fake WeCom group robot.
func NewWeCom() *Robot { return newRobot(true, "") }

func newRobot(wecom bool, secret string) *Robot {
	r := &Robot{Messages: make(chan RobotMessage, 100), Token: "t0ken-123", Secret: secret, wecom: wecom}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

// URL is the robot's webhook.
func (r *Robot) URL() string {
	if r.wecom {
		return r.Server.URL + "/cgi-bin/webhook/send?key=" + r.Token
	}
	return r.Server.URL + "/robot/send?access_token=" + r.Token
}

// Close stops the robot.
func (r *Robot) Close() { r.Server.Close() }

// FailNext makes the next requests answer these errcodes, one each.
func (r *Robot) FailNext(codes ...int) {
	r.mu.Lock()
	r.fail = append(r.fail, codes...)
	r.mu.Unlock()
}

func (r *Robot) answer(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"errcode":%d,"errmsg":%q}`, code, msg)
}

func (r *Robot) serve(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	if req.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, _ := io.ReadAll(req.Body)
	m := RobotMessage{Received: time.Now(), Query: q}
	if r.wecom {
		if req.URL.Path != "/cgi-bin/webhook/send" || q.Get("key") != r.Token {
			r.answer(w, 93000, "invalid webhook url")
			return
		}
		var msg struct {
			MsgType  string `json:"msgtype"`
			Markdown struct {
				Content string `json:"content"`
			} `json:"markdown"`
		}
		if err := json.Unmarshal(body, &msg); err != nil || msg.MsgType != "markdown" {
			r.answer(w, 40008, "invalid message type")
			return
		}
		m.MsgType, m.Text = msg.MsgType, msg.Markdown.Content
		if len(m.Text) > 4096 {
			r.answer(w, 40058, "markdown.content exceed max length 4096")
			return
		}
	} else {
		if req.URL.Path != "/robot/send" || q.Get("access_token") != r.Token {
			r.answer(w, 300001, "token is not exist")
			return
		}
		if r.Secret != "" && !r.signed(q) {
			r.answer(w, 310000, "sign not match")
			return
		}
		var msg struct {
			MsgType  string `json:"msgtype"`
			Markdown struct {
				Title string `json:"title"`
				Text  string `json:"text"`
			} `json:"markdown"`
			At struct {
				AtMobiles []string `json:"atMobiles"`
				IsAtAll   bool     `json:"isAtAll"`
			} `json:"at"`
		}
		if err := json.Unmarshal(body, &msg); err != nil || msg.MsgType != "markdown" || msg.Markdown.Title == "" {
			r.answer(w, 40035, "missing markdown title or text")
			return
		}
		m.MsgType, m.Title, m.Text, m.AtMobiles, m.IsAtAll = msg.MsgType, msg.Markdown.Title, msg.Markdown.Text, msg.At.AtMobiles, msg.At.IsAtAll
	}
	r.mu.Lock()
	if len(r.fail) > 0 {
		m.Errcode, r.fail = r.fail[0], r.fail[1:]
	}
	r.mu.Unlock()
	r.Messages <- m
	if m.Errcode != 0 {
		r.answer(w, m.Errcode, "failure asked for by the test")
		return
	}
	r.answer(w, 0, "ok")
}

// signed checks DingTalk's rule: timestamp in milliseconds within an hour,
// sign = base64(HMAC-SHA256(secret, timestamp+"\n"+secret)).
func (r *Robot) signed(q url.Values) bool {
	ts := q.Get("timestamp")
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	if d := time.Since(time.UnixMilli(ms)); d > time.Hour || d < -time.Hour {
		return false
	}
	mac := hmac.New(sha256.New, []byte(r.Secret))
	mac.Write([]byte(ts + "\n" + r.Secret))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(q.Get("sign")), []byte(want))
}
