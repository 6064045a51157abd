package waybill

import "fmt"

// UPU S10 identifiers (used by EMS and China Post for international and
// many domestic registered items): two service letters, an 8-digit serial,
// a check digit and the ISO country code of the issuing operator, e.g.
// "EE123456785CN".

// looksS10 reports whether c has the S10 shape: AA, 9 digits, AA.
func looksS10(c string) bool {
	if len(c) != 13 {
		return false
	}
	return isUpper(c[0]) && isUpper(c[1]) && allDigits(c[2:11]) && isUpper(c[11]) && isUpper(c[12])
}

// S10CheckDigit returns the check digit of an 8-digit S10 serial number:
// weights 8 6 4 2 3 5 9 7, then 11 minus the sum modulo 11, where 10 gives
// 0 and 11 gives 5. It reports false if serial is not 8 digits.
func S10CheckDigit(serial string) (byte, bool) {
	if len(serial) != 8 || !allDigits(serial) {
		return 0, false
	}
	weights := [8]int{8, 6, 4, 2, 3, 5, 9, 7}
	sum := 0
	for i, w := range weights {
		sum += int(serial[i]-'0') * w
	}
	switch d := 11 - sum%11; d {
	case 10:
		return '0', true
	case 11:
		return '5', true
	default:
		return byte('0' + d), true
	}
}

// checkS10 verifies an S10-shaped code: its check digit, and that China
// Post issued it. An item of another postal operator (inbound mail) is
// outside the carriers this package knows.
func checkS10(c string) error {
	want, _ := S10CheckDigit(c[2:10])
	if c[10] != want {
		return fmt.Errorf("S10 check digit is %c, want %c", c[10], want)
	}
	if c[11:] != "CN" {
		return fmt.Errorf("S10 item of postal operator %s, not China Post", c[11:])
	}
	return nil
}
