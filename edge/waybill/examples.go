package waybill

// Example is a waybill number with what Parse makes of it. Examples are
// shared by this package's tests and by any other package (manifest import,
// sort rules, the scanner station) that wants realistic codes; the serial
// numbers are made up, the forms are the carriers'.
type Example struct {
	Code       string    // as scanned or imported
	Candidates []Carrier // expected Result.Candidates; nil means Unknown
	Note       string    // which form it shows
}

// Examples returns a fresh copy of the example table.
func Examples() []Example {
	out := make([]Example, len(examples))
	for i, e := range examples {
		e.Candidates = append([]Carrier(nil), e.Candidates...)
		out[i] = e
	}
	return out
}

var examples = []Example{
	// SF Express 顺丰: SF + 12 or 13 digits (current e-waybills have 13).
	{"SF1234567890123", []Carrier{SF}, "SF + 13 digits"},
	{"SF123456789012", []Carrier{SF}, "SF + 12 digits"},
	{" sf1023456789012\t", []Carrier{SF}, "trimmed, upper-cased"},
	{"SF12345678901", nil, "SF + 11 digits: too short"},
	{"SF12345678901234", nil, "SF + 14 digits: too long"},

	// JD Logistics 京东: JD + 1 or 2 letters + 11 to 13 digits.
	{"JDVA12345678901", []Carrier{JD}, "JDVA + 11 digits"},
	{"JDX012345678901", []Carrier{JD}, "JDX + 12 digits"},
	{"JDV0123456789012", []Carrier{JD}, "JDV + 13 digits"},
	{"JDAZ123456789012", []Carrier{JD}, "JDAZ + 12 digits"},
	{"JD0123456789012", nil, "JD + digits only"},
	{"JDABC12345678901", nil, "three letters after JD"},

	// YTO 圆通: YT + 13 digits; older 10-digit numbers.
	{"YT7012345678901", []Carrier{YTO}, "YT + 13 digits"},
	{"YT701234567890", nil, "YT + 12 digits"},
	{"6012345678", []Carrier{YTO}, "legacy 10 digits starting with 6"},
	{"8812345678", []Carrier{YTO}, "legacy 10 digits starting with 8"},
	{"5012345678", nil, "10 digits starting with 5"},

	// ZTO 中通: 12 digits starting with 5, 6 or 7; 14 digits starting 73-78.
	{"731234567890", []Carrier{ZTO}, "12 digits starting with 7"},
	{"551234567890", []Carrier{ZTO}, "12 digits starting with 5"},
	{"628012345678", []Carrier{ZTO}, "12 digits starting with 6"},
	{"75312345678901", []Carrier{ZTO}, "14 digits starting with 75"},
	{"78123456789012", []Carrier{ZTO}, "14 digits starting with 78"},
	{"79123456789012", nil, "14 digits starting with 79"},
	{"431234567890", nil, "12 digits starting with 4"},

	// J&T 极兔: JT + 13 digits.
	{"JT5012345678901", []Carrier{JT}, "JT + 13 digits"},
	{"JT50123456789", nil, "JT + 11 digits"},

	// Yunda 韵达: 13 digits starting 3, 4 or 5 (and 1: see China Post);
	// 15 digits starting with 3 or 4.
	{"3101234567890", []Carrier{Yunda}, "13 digits starting with 31"},
	{"4312345678901", []Carrier{Yunda}, "13 digits starting with 43"},
	{"5012345678901", []Carrier{Yunda}, "13 digits starting with 5"},
	{"312345678901234", []Carrier{Yunda}, "15 digits starting with 31"},
	{"462345678901234", []Carrier{Yunda}, "15 digits starting with 46"},
	{"512345678901234", nil, "15 digits starting with 5"},

	// China Post / EMS 邮政: UPU S10 with CN and a valid check digit;
	// domestic 13 digits starting with 1 or 9.
	{"EE123456785CN", []Carrier{ChinaPost}, "S10 EMS, check digit 5"},
	{"ee123456785cn", []Carrier{ChinaPost}, "S10 in lower case"},
	{"RR473124829CN", []Carrier{ChinaPost}, "S10 registered, check digit 9"},
	{"EE123456784CN", nil, "S10 with a wrong check digit"},
	{"RR473124829GB", nil, "S10 of another postal operator"},
	{"9812345678901", []Carrier{ChinaPost}, "13 digits starting with 98"},
	{"9912345678901", []Carrier{ChinaPost}, "13 digits starting with 99"},

	// Overlaps: 13 digits starting with 1 are both Yunda's and China
	// Post's. 10 and 11 are China Post's (EMS) own series, so it ranks
	// first; for 12..19 the two tie and Yunda, the larger carrier, leads.
	{"1100123456789", []Carrier{ChinaPost, Yunda}, "13 digits starting with 11"},
	{"1012345678901", []Carrier{ChinaPost, Yunda}, "13 digits starting with 10"},
	{"1202345678901", []Carrier{Yunda, ChinaPost}, "13 digits starting with 12"},
	{"1901234567890", []Carrier{Yunda, ChinaPost}, "13 digits starting with 19"},

	// Not waybills.
	{"", nil, "empty"},
	{"   ", nil, "blank"},
	{"6901234567892", nil, "EAN-13 product barcode"},
	{"SF 1234567890123", nil, "inner space"},
	{"SF-1234567890123", nil, "inner dash"},
	{"ſf1234567890123", nil, "non-ASCII letter that upper-cases to S"},
	{"ＳＦ1234567890123", nil, "full-width letters"},
	{"https://example.cn/SF1234567890123", nil, "a URL"},
	{"]C1SF1234567890123", nil, "AIM prefix left on"},
	{"12345", nil, "too short"},
}
