package scale_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/countylink/countylink/edge/scale"
)

func ExampleParseXK3190() {
	for _, frame := range []string{"=000.3000", "=52.1000-", "US,NT,+0012.500kg\r\n"} {
		r, err := scale.ParseXK3190([]byte(frame))
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%q: %.3f kg net=%t motion=%t\n", frame, r.Weight, r.Net, r.Motion)
	}
	_, err := scale.ParseXK3190([]byte("=000.3"))
	fmt.Println(err)
	// Output:
	// "=000.3000": 3.000 kg net=false motion=false
	// "=52.1000-": -1.250 kg net=false motion=false
	// "US,NT,+0012.500kg\r\n": 12.500 kg net=true motion=true
	// xk3190 "=000.3": framing: reversed frame of 6 bytes, want 9
}

func ExampleParseToledo() {
	r, err := scale.ParseToledo([]byte("\x02,9 001250000500\r\x1f"))
	fmt.Printf("%.2f kg net of %.2f, motion=%t, %v\n", r.Weight, r.Tare, r.Motion, err)
	_, err = scale.ParseToledo([]byte("\x02,9 001250000500\r\x20"))
	fmt.Println(err)
	// Output:
	// 12.50 kg net of 5.00, motion=true, <nil>
	// toledo "\x02,9 001250000500\r ": checksum: 0x20, want 0x1F
}

// A Reader on an indicator's stream. On the edge device the source is
// scale.OpenSerial("/dev/ttyUSB0", scale.DefaultLine()); here it is a
// recorded stream, with a clock that moves 100 ms a frame as at ten frames
// a second.
func ExampleReader() {
	stream := strings.Repeat("=000.0000", 3) + // empty platform
		"=000.2100=005.8300=003.2100" + // a parcel put down: the weight swings
		"#!" + // line noise
		strings.Repeat("=055.2100", 6) // 12.550 kg, held

	now := time.Date(2024, 10, 1, 8, 0, 0, 0, time.UTC)
	cfg := scale.DefaultConfig()
	cfg.Now = func() time.Time { now = now.Add(100 * time.Millisecond); return now }
	r, err := scale.NewReader(strings.NewReader(stream), cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	err = r.Run(context.Background()) // returns at the end of the stream
	fmt.Println("run:", err)
	last := r.Latest()
	fmt.Printf("%.3f kg settled=%t zero=%t\n", last.Weight, last.Settled, last.Zero)
	fmt.Printf("%+v\n", r.Stats())
	// Output:
	// run: EOF
	// 12.550 kg settled=true zero=false
	// {Frames:12 Framing:0 Checksum:0 Garbage:1 GarbageBytes:2}
}
