package contract

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestExamples(t *testing.T) {
	for _, ex := range Examples {
		t.Run(ex.Name, func(t *testing.T) {
			_, m, err := Decode(DefaultPrefix, ex.Topic, []byte(ex.Payload))
			if got := ReasonOf(err); got != ex.Reject {
				t.Fatalf("reason = %q (err %v), want %q", got, err, ex.Reject)
			}
			if ex.Reject == "" && m == nil {
				t.Fatal("valid example decoded to nil")
			}
			if ex.Reject != "" && !errors.Is(err, &Error{Reason: ex.Reject}) {
				t.Fatalf("errors.Is does not match reason %q: %v", ex.Reject, err)
			}
		})
	}
}

func TestTelemetryRoundTrip(t *testing.T) {
	ts := time.Date(2026, 11, 29, 7, 0, 0, 123e6, time.UTC)
	in := Telemetry{
		Header: Header{V: SchemaVersion, ID: MessageID("tw01-e1", 3, 42), Site: "tw01", Edge: "tw01-e1", TS: ts, Sent: ts.Add(time.Second)},
		Device: "cr1-th", Room: "cr1",
		Fields: map[string]float64{"temperature": -18.25, "humidity": 81.5},
		Units:  map[string]string{"temperature": "Cel"},
	}
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	topic := TelemetryTopic(DefaultPrefix, "tw01", "tw01-e1", "cr1-th")
	tp, m, err := Decode(DefaultPrefix, topic, b)
	if err != nil {
		t.Fatal(err)
	}
	out := m.(*Telemetry)
	if tp.Name != "cr1-th" || out.ID != "tw01-e1-3-42" || out.Fields["temperature"] != -18.25 ||
		!out.TS.Equal(ts) || !out.Sent.Equal(ts.Add(time.Second)) || out.Room != "cr1" {
		t.Fatalf("round trip changed the message: %+v", out)
	}
}

func TestSentDefaultsToTS(t *testing.T) {
	ex := Examples[1] // telemetry/minimal has no "sent"
	_, m, err := Decode(DefaultPrefix, ex.Topic, []byte(ex.Payload))
	if err != nil {
		t.Fatal(err)
	}
	tm := m.(*Telemetry)
	if !tm.Sent.Equal(tm.TS) {
		t.Fatalf("sent = %v, want ts %v", tm.Sent, tm.TS)
	}
}

func TestParseTopic(t *testing.T) {
	tests := []struct {
		topic string
		want  Topic
		ok    bool
	}{
		{"countylink/tw01/e1/status", Topic{"countylink", "tw01", "e1", KindStatus, ""}, true},
		{"countylink/tw01/e1/telemetry/cr1-th", Topic{"countylink", "tw01", "e1", KindTelemetry, "cr1-th"}, true},
		{"countylink/tw01/e1/cmd/ping", Topic{"countylink", "tw01", "e1", KindCommand, "ping"}, true},
		{"countylink/tw01/e1/result", Topic{"countylink", "tw01", "e1", KindResult, ""}, true},
		{"countylink/tw01/e1/telemetry", Topic{}, false},
		{"countylink/tw01/e1/status/x", Topic{}, false},
		{"countylink/tw01/e1/telemetry/a/b", Topic{}, false},
		{"countylinkx/tw01/e1/status", Topic{}, false},
		{"other/tw01/e1/status", Topic{}, false},
		{"countylink/tw01/+/status", Topic{}, false},
		{"countylink//e1/status", Topic{}, false},
		{"countylink/-tw/e1/status", Topic{}, false},
		{"countylink", Topic{}, false},
	}
	for _, tt := range tests {
		got, err := ParseTopic(DefaultPrefix, tt.topic)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseTopic(%q) = %+v, %v; want %+v ok=%v", tt.topic, got, err, tt.want, tt.ok)
		}
		if tt.ok && got.String() != tt.topic {
			t.Errorf("String() = %q, want %q", got.String(), tt.topic)
		}
		if !tt.ok && ReasonOf(err) != ReasonTopic {
			t.Errorf("ParseTopic(%q) reason = %q, want topic", tt.topic, ReasonOf(err))
		}
	}
}

func TestBuilders(t *testing.T) {
	checks := map[string]string{
		StatusTopic("p", "s", "e"):              "p/s/e/status",
		TelemetryTopic("p", "s", "e", "d"):      "p/s/e/telemetry/d",
		ResultTopic("p", "s", "e"):              "p/s/e/result",
		CommandTopic("p", "s", "e", "ping"):     "p/s/e/cmd/ping",
		CommandFilter("p", "s", "e"):            "p/s/e/cmd/+",
		strings.Join(UpstreamFilters("p"), " "): "p/+/+/status p/+/+/telemetry/+ p/+/+/event/+ p/+/+/result",
		EventTopic("p", "s", "e", "st1"):        "p/s/e/event/st1",
	}
	for got, want := range checks {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestValidID(t *testing.T) {
	for s, want := range map[string]bool{
		"tw01": true, "tw01-e1": true, "cr1_th": true, "0": true,
		"": false, "-a": false, "_a": false, "A": false, "a b": false, "a/b": false, "a+": false, "a#": false,
		strings.Repeat("a", MaxIDLen): true, strings.Repeat("a", MaxIDLen+1): false, "温度": false,
	} {
		if ValidID(s) != want {
			t.Errorf("ValidID(%q) = %v, want %v", s, !want, want)
		}
	}
}

func TestEncodeRefusesOversize(t *testing.T) {
	m := Telemetry{Header: Header{V: 1, ID: "x", Site: "s", Edge: "e", TS: time.Now()}, Device: "d",
		Faults: map[string]string{"t": strings.Repeat("x", MaxPayloadBytes)}}
	if _, err := Encode(m); ReasonOf(err) != ReasonTooLarge {
		t.Fatalf("Encode oversize: %v", err)
	}
}

func TestMessageID(t *testing.T) {
	if got := MessageID("tw01-e1", 7, 1234); got != "tw01-e1-7-1234" {
		t.Fatalf("MessageID = %q", got)
	}
}
