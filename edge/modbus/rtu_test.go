package modbus

import (
	"errors"
	"strings"
	"testing"
	"time"

	mb "github.com/goburrow/modbus"
)

func TestRTUConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*RTUConfig)
		field string // "" for valid
	}{
		{"default with a device", func(c *RTUConfig) {}, ""},
		{"8E1 at 19200", func(c *RTUConfig) { c.Baud, c.Parity = 19200, "E" }, ""},
		{"8N2", func(c *RTUConfig) { c.StopBits = 2 }, ""},
		{"no device", func(c *RTUConfig) { c.Device = "" }, "device"},
		{"odd baud", func(c *RTUConfig) { c.Baud = 9601 }, "baud"},
		{"7 data bits", func(c *RTUConfig) { c.DataBits = 7 }, "data_bits"},
		{"parity word", func(c *RTUConfig) { c.Parity = "even" }, "parity"},
		{"3 stop bits", func(c *RTUConfig) { c.StopBits = 3 }, "stop_bits"},
		{"no timeout", func(c *RTUConfig) { c.Timeout = 0 }, "timeout"},
		{"negative retries", func(c *RTUConfig) { c.Retries = -1 }, "retries"},
		{"never offline", func(c *RTUConfig) { c.OfflineAfter = 0 }, "offline_after"},
		{"no offline poll", func(c *RTUConfig) { c.OfflinePoll = 0 }, "offline_poll"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultRTUConfig()
			c.Device = "/dev/ttyUSB0"
			tc.edit(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("want an error naming %s, got %v", tc.field, err)
			}
			if _, err := NewRTU(c, nil); err == nil {
				t.Fatal("NewRTU accepted it")
			}
		})
	}
}

func TestRTUTiming(t *testing.T) {
	at := func(baud int) RTUConfig {
		c := DefaultRTUConfig()
		c.Baud = baud
		return c
	}
	near := func(t *testing.T, what string, got time.Duration, wantMicros float64) {
		t.Helper()
		if d := float64(got)/1e3 - wantMicros; d < -1 || d > 1 {
			t.Errorf("%s = %v, want %.0fµs", what, got, wantMicros)
		}
	}
	for _, tc := range []struct {
		baud                     int
		char, gap, transaction17 float64 // µs
	}{
		{9600, 1145.8, 4010.4, 24 * 1145.8},
		{19200, 572.9, 2005.2, 17*572.9 + 2*2005.2},
		{38400, 286.5, 1750, 17*286.5 + 2*1750},
		{115200, 95.5, 1750, 17*95.5 + 2*1750},
	} {
		c := at(tc.baud)
		near(t, "CharTime", c.CharTime(), tc.char)
		near(t, "FrameGap", c.FrameGap(), tc.gap)
		near(t, "TransactionTime", c.TransactionTime(8, 9), tc.transaction17)
	}
	// The goburrow client's own wait after sending, as its source computes it.
	near(t, "clientDelay(9600)", at(9600).clientDelay(8, 9), 17*1562+3645)
	near(t, "clientDelay(115200)", at(115200).clientDelay(8, 9), 17*750+1750)
}

// TestCRCAgainstGoburrow checks the Bus's CRC on frames goburrow encodes.
func TestCRCAgainstGoburrow(t *testing.T) {
	h := mb.NewRTUClientHandler("unused")
	for unit := byte(1); unit < 248; unit += 13 {
		h.SlaveId = unit
		frame, err := h.Encode(&mb.ProtocolDataUnit{FunctionCode: 16, Data: []byte{0, 1, 0, 2, 4, unit, 2, 3, 4}})
		if err != nil {
			t.Fatal(err)
		}
		if !crcOK(frame) {
			t.Fatalf("CRC of % x rejected", frame)
		}
		frame[3] ^= 0x10
		if crcOK(frame) {
			t.Fatalf("damaged % x accepted", frame)
		}
	}
}

func TestCheckAnswer(t *testing.T) {
	withCRC := func(b ...byte) []byte {
		c := crc16(b)
		return append(b, byte(c), byte(c>>8))
	}
	badCRC := func(b []byte) []byte {
		b[len(b)-1] ^= 0xFF
		return b
	}
	readHolding := withCRC(1, 3, 0, 0, 0, 2)
	readCoils := withCRC(1, 1, 0, 0, 0, 9)
	write := withCRC(1, 6, 0, 2, 0, 7)
	for _, tc := range []struct {
		name      string
		req, resp []byte
		want      error // nil: sound
	}{
		{"registers", readHolding, withCRC(1, 3, 4, 0, 1, 0, 2), nil},
		{"coils", readCoils, withCRC(1, 1, 2, 0x0D, 1), nil},
		{"write echo", write, withCRC(1, 6, 0, 2, 0, 7), nil},
		{"exception", readHolding, withCRC(1, 0x83, 2), nil},
		{"damaged answer", readHolding, badCRC(withCRC(1, 3, 4, 0, 1, 0, 2)), ErrCRC},
		{"damaged exception", readHolding, badCRC(withCRC(1, 0x83, 2)), ErrCRC},
		{"another slave", readHolding, withCRC(2, 3, 4, 0, 1, 0, 2), ErrWrongSlave},
		{"another slave's exception", readHolding, withCRC(9, 0x83, 2), ErrWrongSlave},
		{"noise", readHolding, []byte{0xFF, 0x00, 0xFF, 0xFE, 0x00, 0xFF, 0x80}, ErrGarbled},
		{"noise after the answer", readHolding, append(withCRC(1, 3, 4, 0, 1, 0, 2), 0), ErrGarbled},
		{"too few registers", readHolding, withCRC(1, 3, 2, 0, 1), ErrGarbled},
		{"count disagrees", readHolding, withCRC(1, 3, 2, 0, 1, 0, 2), ErrGarbled},
		{"other function", readHolding, withCRC(1, 4, 4, 0, 1, 0, 2), ErrGarbled},
		{"short", readHolding, []byte{1, 3, 0}, ErrGarbled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkAnswer(tc.req, tc.resp)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("checkAnswer(% x) = %v, want %v", tc.resp, err, tc.want)
			}
		})
	}
}
