package broker

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

func TestPubSubRetainedAndPortInUse(t *testing.T) {
	b, err := Start("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("pub"))
	if tok := pub.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(50)
	pub.Publish("countylink/tw01/e1/status", 1, true, `{"state":"online"}`).Wait()

	got := make(chan string, 16)
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("sub"))
	if tok := sub.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(50)
	sub.Subscribe("countylink/#", 1, func(_ mqtt.Client, m mqtt.Message) { got <- m.Topic() + " " + string(m.Payload()) }).Wait()
	pub.Publish("countylink/tw01/e1/telemetry/d", 1, false, `{"v":1}`).Wait()
	// QoS 1 is at least once: the retained status may come more than once.
	seen := map[string]bool{}
	deadline := time.After(5 * time.Second)
	for !seen["countylink/tw01/e1/status"] || !seen["countylink/tw01/e1/telemetry/d"] {
		select {
		case m := <-got:
			seen[strings.Fields(m)[0]] = true
		case <-deadline:
			t.Fatalf("got %v, want the retained status and the telemetry", seen)
		}
	}
	if b.Clients() < 2 {
		t.Fatalf("clients %d", b.Clients())
	}

	// A taken port fails at once with a message that says what to do.
	_, err = Start(b.Addr(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "-broker-listen") {
		t.Fatalf("second broker on %s: %v", b.Addr(), err)
	}
}
