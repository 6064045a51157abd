package contract

import (
	"errors"
	"fmt"
	"strconv"
)

// SchemaVersion is the payload schema version this package writes and accepts.
const SchemaVersion = 1

// MaxPayloadBytes is the largest payload, in bytes, a consumer accepts.
// Larger messages are rejected with ReasonTooLarge before they are parsed.
const MaxPayloadBytes = 64 << 10

// DefaultPrefix is the first topic level used when a deployment sets none.
const DefaultPrefix = "countylink"

// Limits on identifiers and payload contents.
const (
	MaxIDLen      = 64  // site, edge, device, room and field names
	MaxMsgIDLen   = 128 // message ids
	MaxFields     = 64  // fields in one telemetry message
	MaxDevices    = 256 // devices in one status message
	MaxTextLen    = 512 // free-text members such as errors
	MaxWaybillLen = 64  // a scanned waybill number
)

// Reason classifies why a message was rejected. Consumers count rejections
// by reason; the values are stable and used as metric labels.
type Reason string

// Rejection reasons.
const (
	ReasonTooLarge  Reason = "too_large" // payload over MaxPayloadBytes
	ReasonMalformed Reason = "malformed" // not a JSON object of the expected shape
	ReasonVersion   Reason = "version"   // unknown schema version
	ReasonTopic     Reason = "topic"     // topic outside the contract
	ReasonIdentity  Reason = "identity"  // site, edge or device disagree with the topic
	ReasonInvalid   Reason = "invalid"   // well-formed but breaks a rule (missing id, bad name, ...)
)

// Reasons lists every rejection reason, for metrics that want all labels present.
var Reasons = []Reason{ReasonTooLarge, ReasonMalformed, ReasonVersion, ReasonTopic, ReasonIdentity, ReasonInvalid}

// Error is a rejected message: the reason and what was wrong.
type Error struct {
	Reason Reason
	Msg    string
	Err    error // underlying error, if any
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Reason, e.Msg, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Reason, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same reason, so that
// errors.Is(err, &contract.Error{Reason: contract.ReasonIdentity}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason && t.Msg == "" && t.Err == nil
}

// ReasonOf returns the rejection reason of err, or "" if err is not a contract error.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func reject(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Msg: fmt.Sprintf(format, args...)}
}

// ValidID reports whether s may be used as a site, edge, device, room or
// field identifier: 1 to MaxIDLen characters from [a-z0-9_-], starting with
// a letter or digit. Such ids are safe as MQTT topic levels, InfluxDB tags
// and URL path segments.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}

// MessageID builds the id of a message from its producer: the edge id, the
// producer's boot number (persisted and incremented at each start) and a
// sequence that restarts at 1 on each boot. The result is unique for as long
// as the boot number is never reused.
func MessageID(edge string, boot, seq uint64) string {
	b := make([]byte, 0, len(edge)+24)
	b = append(b, edge...)
	b = append(b, '-')
	b = strconv.AppendUint(b, boot, 10)
	b = append(b, '-')
	b = strconv.AppendUint(b, seq, 10)
	return string(b)
}
