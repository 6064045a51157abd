package scale_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/countylink/countylink/edge/scale"
)

// readAll runs a Reader over stream, whole and one byte at a time (every
// frame then ends a Read in the middle), and checks both give the same.
func readAll(t *testing.T, f scale.Format, stream string) (scale.Stats, scale.Reading) {
	t.Helper()
	var stats []scale.Stats
	var last scale.Reading
	for _, src := range []io.Reader{strings.NewReader(stream), iotest.OneByteReader(strings.NewReader(stream))} {
		cfg := scale.DefaultConfig()
		cfg.Format = f
		r, err := scale.NewReader(src, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Run(context.Background()); !errors.Is(err, io.EOF) {
			t.Fatalf("Run = %v, want EOF", err)
		}
		stats = append(stats, r.Stats())
		last = r.Latest()
	}
	if stats[0] != stats[1] {
		t.Fatalf("whole stream %+v, byte by byte %+v", stats[0], stats[1])
	}
	return stats[0], last
}

func TestStreamXK3190(t *testing.T) {
	stream := strings.Join([]string{
		"=000.3000",             // good
		"=000.3000",             // good, no separator: the "=" stream has none
		"#&*",                   // garbage
		"=00.",                  // cut short by the next frame
		"=52.1000-",             // good
		"\r\n",                  // separator
		"ST,GS,+0003.000kg\r\n", // good line
		"ST,GS,+000",            // cut short
		"US,NT,-0001.250kg\r\n", // good
		"Sx",                    // garbage that looks like a start for a byte
		"ww0003.000kg\r\n",      // good
		"ST,TR,+0001.000kg\r\n", // complete but refused: framing
		"=000.3x00",             // a letter inside a reversed frame: cut there, and "x00" is garbage
		"OL,GS,+        kg\r\n", // good overload
		"=0.5210",               // cut by the end of the stream
	}, "")
	stats, last := readAll(t, scale.XK3190, stream)
	want := scale.Stats{Frames: 7, Framing: 5, Garbage: 3, GarbageBytes: 3 + 2 + 3}
	if stats != want {
		t.Errorf("stats %+v, want %+v", stats, want)
	}
	if !last.Overload || last.Weight != 0 {
		t.Errorf("last reading %+v, want the overload", last)
	}
}

func TestStreamToledo(t *testing.T) {
	good := "\x02-0 003000000000\r1"
	badSum := "\x02-0 003000000000\r2"
	stream := good + good + "xyz" + "\x02-0 0030" + good + badSum + good + "\x02-0 003000000000X" + "\x02,9 001250000500\r\x1f"
	stats, last := readAll(t, scale.ToledoChecksum, stream)
	// The frame without CR runs 17 bytes and is cut there; nothing is left
	// over, as the next byte is an STX.
	want := scale.Stats{Frames: 5, Framing: 2, Checksum: 1, Garbage: 1, GarbageBytes: 3}
	if stats != want {
		t.Errorf("stats %+v, want %+v", stats, want)
	}
	if last.Weight != 12.5 || !last.Net || !last.Motion || last.Tare != 5 {
		t.Errorf("last reading %+v", last)
	}

	// The same stream read as if the terminal sent no checksum: every
	// checksum byte is garbage and says so in the counters.
	plain := strings.Repeat(good, 3)
	stats, _ = readAll(t, scale.Toledo, plain)
	if stats.Frames != 3 || stats.Garbage != 3 || stats.GarbageBytes != 3 {
		t.Errorf("checksum bytes read without checksum: %+v", stats)
	}
}

// A checksum byte that happens to be STX or CR is still the checksum.
func TestStreamToledoChecksumLooksLikeFraming(t *testing.T) {
	// Weights whose digits add up so that the checksum comes out 0x02 (STX)
	// and 0x0D (CR).
	var frames []string
	for _, c := range []struct {
		weight string
		chk    byte
	}{{"999995", 0x02}, {"399990", 0x0D}} {
		f := []byte("\x02-0 " + c.weight + "000000\r")
		var sum byte
		for _, b := range f {
			sum += b
		}
		if chk := -sum & 0x7F; chk != c.chk {
			t.Fatalf("%s: checksum 0x%02X, want 0x%02X", c.weight, chk, c.chk)
		}
		frames = append(frames, string(append(f, c.chk)))
	}
	stream := strings.Join(frames, "") + frames[0]
	stats, _ := readAll(t, scale.ToledoChecksum, stream)
	if stats != (scale.Stats{Frames: 3}) {
		t.Errorf("stats %+v, want 3 good frames", stats)
	}
}

// Every sample frame, back to back with the blanks a line needs, reads
// as exactly that many frames.
func TestStreamSampleFrames(t *testing.T) {
	for _, f := range []scale.Format{scale.XK3190, scale.ToledoChecksum} {
		var b bytes.Buffer
		n := uint64(0)
		for _, s := range scale.SampleFrames {
			if s.Format == f {
				b.Write(s.Frame)
				if bytes.HasPrefix(s.Frame, []byte("ww")) && !bytes.HasSuffix(s.Frame, []byte("\n")) {
					b.WriteString("\r\n")
				}
				n++
			}
		}
		stats, _ := readAll(t, f, b.String())
		if stats != (scale.Stats{Frames: n}) {
			t.Errorf("%s: stats %+v, want %d frames and nothing else", f, stats, n)
		}
	}
}
