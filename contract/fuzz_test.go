package contract

import (
	"testing"
)

// FuzzDecode feeds arbitrary topics and payloads to the decoders: they must
// never panic, must classify every failure with a reason, and whatever they
// accept must survive a re-encode and decode unchanged in identity.
func FuzzDecode(f *testing.F) {
	for _, ex := range Examples {
		if len(ex.Payload) < 4096 {
			f.Add(ex.Topic, []byte(ex.Payload))
		}
	}
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		tp, m, err := Decode(DefaultPrefix, topic, payload)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		b, err := Encode(m)
		if err != nil {
			t.Fatalf("accepted message does not re-encode: %v", err)
		}
		tp2, m2, err := Decode(DefaultPrefix, tp.String(), b)
		if err != nil {
			t.Fatalf("re-encoded message rejected: %v\n%s", err, b)
		}
		if tp2 != tp {
			t.Fatalf("topic changed: %+v -> %+v", tp, tp2)
		}
		if h1, h2 := header(m), header(m2); h1 != nil && (h1.ID != h2.ID || h1.Site != h2.Site || h1.Edge != h2.Edge || !h1.TS.Equal(h2.TS)) {
			t.Fatalf("header changed: %+v -> %+v", h1, h2)
		}
	})
}

func FuzzParseTopic(f *testing.F) {
	for _, ex := range Examples {
		f.Add(ex.Topic)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		tp, err := ParseTopic(DefaultPrefix, topic)
		if err != nil {
			if ReasonOf(err) != ReasonTopic {
				t.Fatalf("reason %q for %q", ReasonOf(err), topic)
			}
			return
		}
		if tp.String() != topic {
			t.Fatalf("String() = %q, parsed from %q", tp.String(), topic)
		}
	})
}

func header(m any) *Header {
	switch m := m.(type) {
	case *Telemetry:
		return &m.Header
	case *Status:
		return &m.Header
	case *Result:
		return &m.Header
	}
	return nil
}
