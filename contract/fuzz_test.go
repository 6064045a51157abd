package contract

import (
	"fmt"
	"reflect"
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

// FuzzDecodeOnePass checks the one-pass decode against the careful decode
// it stands in for: for any payload, the same message or the same error.
func FuzzDecodeOnePass(f *testing.F) {
	for _, ex := range Examples {
		f.Add([]byte(ex.Payload))
	}
	f.Add([]byte(`{"v":2,"id":"x"}`))
	f.Add([]byte(`{"v":1,"V":2}`))
	f.Add([]byte(`{"id":"x","fields":{"t":1}}`))
	f.Add([]byte(`{"v":1,"fields":{"t":"warm"}}`))
	f.Add([]byte(`{"v":1} {"v":1}`))
	kinds := []func() any{
		func() any { return new(Telemetry) }, func() any { return new(Status) }, func() any { return new(ParcelEvent) },
		func() any { return new(Result) }, func() any { return new(Command) },
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		if len(payload) > MaxPayloadBytes {
			return
		}
		for _, kind := range kinds {
			fast, careful := kind(), kind()
			errFast, errCareful := decode(payload, fast), decodeCarefully(payload, careful)
			if fmt.Sprint(errFast) != fmt.Sprint(errCareful) {
				t.Fatalf("%T: one pass: %v; careful: %v", fast, errFast, errCareful)
			}
			if errFast == nil && !reflect.DeepEqual(fast, careful) {
				t.Fatalf("%T: one pass: %+v; careful: %+v", fast, fast, careful)
			}
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
