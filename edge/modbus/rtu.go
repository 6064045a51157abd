package modbus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"syscall"
	"time"

	mb "github.com/goburrow/modbus"
	"github.com/goburrow/serial"
)

// RTUConfig is one RS-485 line: its serial port, the framing every slave
// on it is set to, and how the Bus treats slaves that stop answering.
type RTUConfig struct {
	Device   string        `yaml:"device"`    // serial port, e.g. /dev/ttyUSB0
	Baud     int           `yaml:"baud"`      // bits per second
	DataBits int           `yaml:"data_bits"` // 8: RTU sends whole bytes
	Parity   string        `yaml:"parity"`    // "N", "E" or "O"
	StopBits int           `yaml:"stop_bits"` // 1 or 2
	Timeout  time.Duration `yaml:"timeout"`   // how long a slave has to answer one request
	Retries  int           `yaml:"retries"`   // extra attempts after a timeout or a damaged answer

	// OfflineAfter is how many requests in a row a slave may fail before
	// it is marked offline. An offline slave is tried once every
	// OfflinePoll instead of at every poll, so a dead sensor does not
	// spend the bus's time waiting for timeouts, and is back online at its
	// first answer.
	OfflineAfter int           `yaml:"offline_after"`
	OfflinePoll  time.Duration `yaml:"offline_poll"`
}

// DefaultRTUConfig returns the settings most RS-485 sensors leave the
// factory with, 9600 baud 8N1, and the Bus's health defaults. Device is
// left empty: there is no default port.
func DefaultRTUConfig() RTUConfig {
	return RTUConfig{
		Baud:         9600,
		DataBits:     8,
		Parity:       "N",
		StopBits:     1,
		Timeout:      500 * time.Millisecond,
		Retries:      1,
		OfflineAfter: 3,
		OfflinePoll:  30 * time.Second,
	}
}

// rtuBauds are the rates the Bus accepts: the standard ones RS-485
// devices offer, all of which the serial driver supports.
var rtuBauds = []int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200}

// Validate reports the first setting that cannot work, by its yaml name.
func (c RTUConfig) Validate() error {
	switch {
	case c.Device == "":
		return errors.New("modbus rtu: device: empty, want a serial port such as /dev/ttyUSB0")
	case !slices.Contains(rtuBauds, c.Baud):
		return fmt.Errorf("modbus rtu: baud: %d, want one of %v", c.Baud, rtuBauds)
	case c.DataBits != 8:
		return fmt.Errorf("modbus rtu: data_bits: %d, want 8 (RTU frames are bytes)", c.DataBits)
	case c.Parity != "N" && c.Parity != "E" && c.Parity != "O":
		return fmt.Errorf("modbus rtu: parity: %q, want N, E or O", c.Parity)
	case c.StopBits != 1 && c.StopBits != 2:
		return fmt.Errorf("modbus rtu: stop_bits: %d, want 1 or 2", c.StopBits)
	case c.Timeout <= 0:
		return fmt.Errorf("modbus rtu: timeout: %v, want more than 0", c.Timeout)
	case c.Retries < 0:
		return fmt.Errorf("modbus rtu: retries: %d, want 0 or more", c.Retries)
	case c.OfflineAfter < 1:
		return fmt.Errorf("modbus rtu: offline_after: %d, want 1 or more", c.OfflineAfter)
	case c.OfflinePoll <= 0:
		return fmt.Errorf("modbus rtu: offline_poll: %v, want more than 0", c.OfflinePoll)
	}
	return nil
}

// CharTime is how long one character takes on the line. The serial line
// specification (Modbus over Serial Line V1.02, 2.5.1) counts 11 bits: a
// start bit, 8 data bits, a parity bit or a second stop bit, and a stop
// bit. An 8N1 line sends 10, so figures from CharTime are about 10%
// conservative there.
func (c RTUConfig) CharTime() time.Duration {
	return time.Duration(11 * int64(time.Second) / int64(c.Baud))
}

// FrameGap is the silence that must separate two frames: 3.5 character
// times, and a fixed 1.75 ms above 19200 baud, where the specification
// stops scaling it so that a slave's timer interrupt load stays bounded
// (2.5.1.1).
func (c RTUConfig) FrameGap() time.Duration {
	if c.Baud > 19200 {
		return 1750 * time.Microsecond
	}
	return 7 * c.CharTime() / 2
}

// TransactionTime is the least time the line needs for one request of
// reqBytes and its answer of respBytes: both frames and a gap after each.
// Its inverse is the most requests a second the bus can carry, whatever
// the software does: a 2-register read (8 bytes, answer 9) takes 27.5 ms
// at 9600 baud, so at most 36 requests a second.
func (c RTUConfig) TransactionTime(reqBytes, respBytes int) time.Duration {
	return time.Duration(reqBytes+respBytes)*c.CharTime() + 2*c.FrameGap()
}

// clientDelay is how long the goburrow RTU client sleeps after sending a
// frame of reqBytes, for an answer of respBytes, before it reads: 1.5
// character times of 10 bits per byte (750 µs above 19200 baud) plus 3.5
// character times. Kept here to explain the Bus's throughput; it mirrors
// rtuSerialTransporter.calculateDelay in goburrow/modbus v0.1.0.
func (c RTUConfig) clientDelay(reqBytes, respBytes int) time.Duration {
	char, frame := 750*time.Microsecond, 1750*time.Microsecond
	if c.Baud <= 19200 {
		char = time.Duration(15_000_000/c.Baud) * time.Microsecond
		frame = time.Duration(35_000_000/c.Baud) * time.Microsecond
	}
	return time.Duration(reqBytes+respBytes)*char + frame
}

// The ways an RTU request fails, tested with errors.Is. Each counts
// against the slave's health except ErrOffline, which is the Bus declining
// to ask.
var (
	ErrTimeout    = errors.New("no answer in time")
	ErrCRC        = errors.New("answer failed its CRC check")
	ErrGarbled    = errors.New("answer is not a frame for the request")
	ErrWrongSlave = errors.New("answer from another slave")
	ErrOffline    = errors.New("slave offline")
)

// portError marks a failure of the serial port itself (missing device,
// unplugged adapter), which says nothing about the slave.
type portError struct{ err error }

func (e *portError) Error() string { return e.err.Error() }
func (e *portError) Unwrap() error { return e.err }

// rtuLine is the goburrow transporter with each answer checked before the
// client sees it, so failures come out as the errors above rather than
// as goburrow's formatted strings.
type rtuLine struct {
	h *mb.RTUClientHandler
}

func (l *rtuLine) Send(req []byte) ([]byte, error) {
	resp, err := l.h.Send(req)
	if err != nil {
		if errors.Is(err, serial.ErrTimeout) {
			return nil, ErrTimeout
		}
		return nil, &portError{err}
	}
	return resp, checkAnswer(req, resp)
}

// checkAnswer classifies an RTU answer to req: nil for a sound frame from
// the slave asked, data or exception, else one of ErrCRC, ErrWrongSlave
// and ErrGarbled.
func checkAnswer(req, resp []byte) error {
	unit, fc := req[0], req[1]
	want := answerLen(req)
	if len(resp) >= 2 && resp[1] == fc|0x80 {
		want = 5 // address, function, exception code, CRC
	}
	shaped := len(resp) == want && resp[0] == unit && (resp[1] == fc || resp[1] == fc|0x80)
	if !crcOK(resp) {
		if shaped {
			return fmt.Errorf("%w: % x", ErrCRC, resp)
		}
		return fmt.Errorf("%w: % x", ErrGarbled, resp)
	}
	if resp[0] != unit {
		return fmt.Errorf("%w: slave %d answered for slave %d", ErrWrongSlave, resp[0], unit)
	}
	if !shaped || (resp[1] == fc && !countOK(resp)) {
		return fmt.Errorf("%w: % x", ErrGarbled, resp)
	}
	return nil
}

// answerLen is the length of a normal answer to an RTU request of the
// functions the Bus sends.
func answerLen(req []byte) int {
	qty := int(binary.BigEndian.Uint16(req[4:]))
	switch req[1] {
	case 1, 2:
		return 5 + (qty+7)/8 // address, function, byte count, bits, CRC
	case 3, 4:
		return 5 + 2*qty
	}
	return 8 // writes echo address and value or quantity
}

// countOK checks a read answer's byte count against its length.
func countOK(resp []byte) bool {
	switch resp[1] {
	case 1, 2, 3, 4:
		return int(resp[2]) == len(resp)-5
	}
	return true
}

// crcOK reports whether a frame ends with the CRC-16/MODBUS of the rest,
// low byte first.
func crcOK(frame []byte) bool {
	if len(frame) < 4 {
		return false
	}
	n := len(frame)
	c := crc16(frame[:n-2])
	return frame[n-2] == byte(c) && frame[n-1] == byte(c>>8)
}

// crc16 is CRC-16/MODBUS: reflected polynomial 0xA001, initial 0xFFFF.
func crc16(b []byte) uint16 {
	c := uint16(0xFFFF)
	for _, x := range b {
		c ^= uint16(x)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA001
			} else {
				c >>= 1
			}
		}
	}
	return c
}

// drainLine reads and discards what arrives on the serial port at path
// until it has been quiet for quiet, or for at most limit, and returns how
// many bytes it threw away. It opens the port a second time because the
// goburrow handler keeps its descriptor to itself; both read the one
// input queue of the line. Where a port cannot be opened twice (Windows)
// it does nothing and says why.
//
// A late answer to a timed-out request, or the tail of a noise burst,
// would otherwise be read as the start of the next answer.
func drainLine(path string, quiet, limit time.Duration) (int, error) {
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	// A raw line with nothing to read answers at once with no bytes
	// (VMIN 0), so this polls; the poll period bounds how far past
	// quiet the drain runs.
	tick := max(quiet/4, 100*time.Microsecond)
	buf := make([]byte, 256)
	drained := 0
	start := time.Now()
	last := start
	for {
		now := time.Now()
		if now.Sub(last) >= quiet || now.Sub(start) >= limit {
			return drained, nil
		}
		f.SetReadDeadline(now.Add(tick)) // where unsupported, O_NONBLOCK keeps Read from blocking
		n, err := f.Read(buf)
		if n > 0 {
			drained += n
			last = time.Now()
			continue
		}
		switch {
		case err == nil, errors.Is(err, io.EOF), errors.Is(err, syscall.EAGAIN):
			time.Sleep(tick)
		case errors.Is(err, os.ErrDeadlineExceeded):
		default:
			return drained, err
		}
	}
}
