package notify_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/countylink/countylink/hub/notify"
	"github.com/countylink/countylink/hub/notify/notifytest"
)

func TestDingTalkSign(t *testing.T) {
	// Computed with Python's hmac, base64 and urllib.parse.quote_plus, the
	// code DingTalk's documentation shows. This one has +, / and = to encode.
	const secret, ts = "SECtest0123456789", "1782885900123"
	if got := notify.DingTalkSign(secret, ts); got != "QoBSaAAa8zDLjP+fMDEMNRFCzC/oeriJ4rvSR0RzkGI=" {
		t.Errorf("DingTalkSign = %s", got)
	}
	u, err := notify.SignDingTalk("https://oapi.dingtalk.com/robot/send?access_token=abc", secret, time.UnixMilli(1782885900123))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u, "sign=QoBSaAAa8zDLjP%2BfMDEMNRFCzC%2FoeriJ4rvSR0RzkGI%3D") || !strings.Contains(u, "timestamp=1782885900123") ||
		!strings.Contains(u, "access_token=abc") {
		t.Errorf("signed URL %s", u)
	}
}

func TestDingTalkSendsSignedMarkdown(t *testing.T) {
	robot := notifytest.NewDingTalk("SECabc")
	defer robot.Close()
	d := &notify.DingTalk{ID: "tw01", URL: robot.URL(), Secret: "SECabc", AtMobiles: []string{"13800000001"}}
	if err := d.Send(context.Background(), notifytest.HighRaised); err != nil {
		t.Fatal(err)
	}
	m := receive(t, robot.Messages)
	if m.Title != notify.Title(notifytest.HighRaised) {
		t.Errorf("title %q", m.Title)
	}
	for _, want := range []string{"6.8 °C (上限 4.0 °C)", "CRITICAL: Chengguan cold room 1", "@13800000001", notify.Footer, notifytest.HighRaised.URL} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	if len(m.AtMobiles) != 1 || m.AtMobiles[0] != "13800000001" || m.IsAtAll {
		t.Errorf("at %v %v", m.AtMobiles, m.IsAtAll)
	}

	// Without the secret the robot refuses the message: not worth a retry.
	err := (&notify.DingTalk{ID: "tw01", URL: robot.URL()}).Send(context.Background(), notifytest.HighRaised)
	var ae *notify.APIError
	if !errors.As(err, &ae) || ae.Code != 310000 || !errors.Is(err, notify.ErrRejected) {
		t.Errorf("unsigned: %v", err)
	}
}

func TestRobotErrcodes(t *testing.T) {
	ding := notifytest.NewDingTalk("")
	defer ding.Close()
	wecom := notifytest.NewWeCom()
	defer wecom.Close()
	for _, c := range []struct {
		name        string
		robot       *notifytest.Robot
		ch          notify.Channel
		code        int
		rateLimited bool
		rejected    bool
	}{
		{"dingtalk too fast", ding, &notify.DingTalk{ID: "d", URL: ding.URL()}, 130101, true, false},
		{"dingtalk busy", ding, &notify.DingTalk{ID: "d", URL: ding.URL()}, -1, false, false},
		{"dingtalk keyword", ding, &notify.DingTalk{ID: "d", URL: ding.URL()}, 310000, false, true},
		{"wecom too fast", wecom, &notify.WeCom{ID: "w", URL: wecom.URL()}, 45009, true, false},
		{"wecom busy", wecom, &notify.WeCom{ID: "w", URL: wecom.URL()}, -1, false, false},
		{"wecom bad key", wecom, &notify.WeCom{ID: "w", URL: wecom.URL()}, 93000, false, true},
	} {
		c.robot.FailNext(c.code)
		err := c.ch.Send(context.Background(), notifytest.HighRaised)
		var ae *notify.APIError
		if !errors.As(err, &ae) || ae.Code != c.code {
			t.Errorf("%s: %v", c.name, err)
		}
		if errors.Is(err, notify.ErrRateLimited) != c.rateLimited || errors.Is(err, notify.ErrRejected) != c.rejected {
			t.Errorf("%s: rate limited %v, rejected %v", c.name, errors.Is(err, notify.ErrRateLimited), errors.Is(err, notify.ErrRejected))
		}
		receive(t, c.robot.Messages)
	}
}

func TestWeComSendsMarkdown(t *testing.T) {
	robot := notifytest.NewWeCom()
	defer robot.Close()
	w := &notify.WeCom{ID: "county", URL: robot.URL(), Mention: []string{"zhangsan"}}
	if err := w.Send(context.Background(), notifytest.HighRaised); err != nil {
		t.Fatal(err)
	}
	m := receive(t, robot.Messages)
	for _, want := range []string{"### 【严重】城关镇 1号冷库 温度超上限", "CRITICAL:", "<@zhangsan>", notify.Footer} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("content lacks %q:\n%s", want, m.Text)
		}
	}

	// Content beyond 4096 bytes is cut on a character boundary.
	long := notifytest.HighRaised
	long.AckComment, long.Event = strings.Repeat("压缩机", 2000), notify.EventAcknowledged
	if err := w.Send(context.Background(), long); err != nil {
		t.Fatal(err)
	}
	m = receive(t, robot.Messages)
	if len(m.Text) > notify.WeComMaxContent || !strings.HasSuffix(m.Text, "…") || !strings.Contains(m.Text, "压缩机") {
		t.Errorf("long content: %d bytes, ends %q", len(m.Text), m.Text[len(m.Text)-10:])
	}
}

func TestRobotNotJSON(t *testing.T) {
	// A captive portal or proxy answering 200 with a page is an error,
	// worth a retry.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>please log in</html>"))
	}))
	defer srv.Close()
	err := (&notify.WeCom{ID: "w", URL: srv.URL + "/cgi-bin/webhook/send?key=k"}).Send(context.Background(), notifytest.HighRaised)
	if err == nil || errors.Is(err, notify.ErrRejected) || !strings.Contains(err.Error(), "please log in") {
		t.Errorf("error %v", err)
	}
}
