// Package waybill recognises Chinese express waybill numbers (运单号) by
// carrier, and reads the three-segment sort code (三段码) printed on
// e-waybills. The edge agent uses it on every scan and the hub on every
// manifest line; it depends on the standard library only.
//
// # Carriers and forms
//
// Carriers do not publish their numbering, and they change it. The forms
// below are those of current e-waybills as carriers' tracking pages,
// e-commerce platforms' waybill validators and public validation libraries
// describe them; where a carrier has several, each is listed. Serial
// numbers in the examples are made up.
//
//	Carrier            Form                                     Example
//	SF    顺丰速运      SF + 12 or 13 digits                     SF1234567890123
//	JD    京东物流      JD + 1-2 letters + 11-13 digits          JDVA12345678901, JDX012345678901
//	YTO   圆通速递      YT + 13 digits                           YT7012345678901
//	                   10 digits starting 0,1,2,6,8,9 (legacy)  6012345678
//	ZTO   中通快递      12 digits starting 5,6,7                 731234567890
//	                   14 digits starting 73-78                 75312345678901
//	JT    极兔速递      JT + 13 digits                           JT5012345678901
//	YUNDA 韵达速递      13 digits starting 1,3,4,5               4312345678901
//	                   15 digits starting 3,4                   312345678901234
//	POST  中国邮政/EMS  UPU S10: 2 letters + 8 digits + check    EE123456785CN
//	                   digit + CN (check digit verified)
//	                   13 digits starting 1 or 9                9812345678901
//
// Codes are compared after trimming white space and upper-casing ASCII
// letters; anything else (inner spaces, dashes, non-ASCII) makes a code
// Unknown. Unknown is a result, never an error: the parcel still exists and
// is reported as an exception.
//
// # Overlaps
//
// Letter-prefixed forms are unambiguous. Digit-only forms overlap on 13
// digits starting with 1, which both Yunda and China Post issue. Parse then
// sets Ambiguous and returns both as ranked Candidates, with Carrier left
// as NoCarrier; a manifest (which names the carrier) or a person settles
// it. Ranking prefers the form defined by the longer leading-digit prefix
// (China Post's 10 and 11 series beat Yunda's 1), then the order of the
// Carrier constants. With the forms above ZTO shares no length with Yunda
// or China Post, so its numbers are never ambiguous among these carriers.
//
// Known limits: carriers not listed (STO 申通 and others) also issue
// digit-only numbers and would be taken for ZTO or Yunda if their length
// and leading digits fit; the legacy YTO form is weak; a book's ISBN
// barcode (13 digits starting 978) fits China Post's form. Sort rules that
// need certainty should use the manifest's carrier.
//
// # Sort codes
//
// ParseSortCode reads "571-W01-01" or "200 D06 15": destination sorting
// centre (一段码), delivery station (二段码) and courier round (三段码).
package waybill
