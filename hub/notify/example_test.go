package notify_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/countylink/countylink/hub/notify"
	"github.com/countylink/countylink/hub/notify/notifytest"
)

// The hub builds a dispatcher from the notify: section of hub.yaml, runs
// it, and hands it every alarm event.
func ExampleNew() {
	cfg := notify.DefaultConfig()
	cfg.Channels = map[string]notify.ChannelConfig{
		"tw01-dingtalk": {Type: notify.TypeDingTalk, URLFile: "/etc/countylink/secrets/tw01-dingtalk-url"},
		"county-wecom":  {Type: notify.TypeWeCom, URLFile: "/etc/countylink/secrets/county-wecom-url"},
	}
	cfg.Groups = map[string][]string{"tw01": {"tw01-dingtalk"}, "county": {"county-wecom"}}
	cfg.Routes = []notify.Route{
		{Sites: []string{"tw01"}, Group: "tw01", EscalateTo: "county", EscalateAfter: 15 * time.Minute},
	}
	if err := cfg.ReadSecretFiles(); err != nil {
		fmt.Println(err)
		return
	}
	d, err := notify.New(cfg, slog.Default())
	if err != nil {
		fmt.Println(err)
		return
	}
	go d.Run(context.Background())
	defer d.Close()

	d.Notify(notifytest.HighRaised) // from the alarm service, at each event
}

// A receiver of the webhook checks the signature on the raw body before
// trusting the alarm.
func ExampleVerifyWebhook() {
	secret := os.Getenv("COUNTYLINK_WEBHOOK_SECRET")
	http.HandleFunc("/countylink", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read error", http.StatusBadRequest)
			return
		}
		err = notify.VerifyWebhook(secret, r.Header.Get(notify.HeaderTimestamp), r.Header.Get(notify.HeaderSignature),
			body, time.Now(), 5*time.Minute)
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		// json.Unmarshal(body, &alarm) and act on it; answer 2xx.
		w.WriteHeader(http.StatusNoContent)
	})
}

func ExampleText() {
	fmt.Println(notify.Text(notifytest.HighRaised))
	// Output:
	// 【严重】城关镇 1号冷库 温度超上限: 6.8 °C (上限 4.0 °C), 持续 5 分钟
	// CRITICAL: Chengguan cold room 1 temperature above high limit: 6.8 °C (high limit 4.0 °C), for 5 min
}
