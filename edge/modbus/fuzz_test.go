package modbus

import (
	"errors"
	"testing"
)

// FuzzCheckAnswer feeds arbitrary bytes to the RTU answer check as the
// answer to a read of 2 holding registers from slave 7: it must never
// panic, must classify every failure as one of the Bus's errors, and must
// accept only a frame with a good CRC from slave 7 of the right length.
func FuzzCheckAnswer(f *testing.F) {
	req := withCRC([]byte{7, 3, 0, 0, 0, 2})
	f.Add(withCRC([]byte{7, 3, 4, 0x03, 0x2f, 0x00, 0x18}))    // 81.5 %RH, 2.4 °C
	f.Add(withCRC([]byte{7, 0x83, 2}))                         // exception: illegal address
	f.Add(withCRC([]byte{8, 3, 4, 0x03, 0x2f, 0x00, 0x18}))    // another slave
	f.Add([]byte{7, 3, 4, 0x03, 0x2f, 0x00, 0x18, 0x00, 0x00}) // bad CRC
	f.Add([]byte{0xff, 0x00})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, resp []byte) {
		err := checkAnswer(req, resp)
		if err == nil {
			if !crcOK(resp) || resp[0] != 7 || (len(resp) != 9 && !(len(resp) == 5 && resp[1] == 0x83)) {
				t.Fatalf("accepted % x", resp)
			}
			return
		}
		if !errors.Is(err, ErrCRC) && !errors.Is(err, ErrGarbled) && !errors.Is(err, ErrWrongSlave) {
			t.Fatalf("unclassified error %v for % x", err, resp)
		}
	})
}

// withCRC appends the CRC-16/MODBUS of b, low byte first.
func withCRC(b []byte) []byte {
	c := crc16(b)
	return append(b, byte(c), byte(c>>8))
}
