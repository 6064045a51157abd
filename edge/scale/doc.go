// Package scale reads weighing indicators that stream their weight over a
// serial line: the parcel platforms in township warehouses, where a parcel
// is weighed before sorting, and the produce scales at village collection
// points. Indicators in continuous mode send a frame every display update
// (5 to 25 a second) whether anyone listens or not; the edge agent opens
// the port (OpenSerial), hands it to a Reader, and asks for the latest
// reading or waits for a stable weight to record.
//
// The parsers (ParseXK3190, ParseToledo) are pure functions of one frame.
// A Reader splits the byte stream into frames, skips what is no frame,
// counts every fault by kind (Stats), and runs a stable-weight detector: a
// weight is settled when it has stayed within Config.StableDivisions
// divisions for Config.StableFor and the indicator has not reported motion
// or overload. WaitStable waits, bounded, for a settled weight.
//
// # Yaohua XK3190 and clones
//
// Most Chinese weighing indicators (Yaohua XK3190-A9, -A12, -A26, -D2 and
// their many copies) have a "continuous send" mode (连续发送方式) with
// several formats, chosen by a "tf" parameter. Format XK3190 reads three,
// and a stream may mix them:
//
// The reversed "=" stream (continuous format 1 in the A9+/A26 manuals). A
// frame is nine bytes with no terminator: '=', then the seven display
// characters (digits and the decimal point, if any) least significant
// first, then the sign place, '0' for positive and '-' for negative. The
// frame is the display "S DDDDDDD" read backwards:
//
//	display   frame
//	3.000     =000.3000   "0003.000" backwards
//	-1.00     =00.1000-   "-0001.00" backwards
//	-1.25     =52.1000-   "-0001.25" backwards
//	1560      =06510000   "00001560" backwards, no point
//	0.000     =000.0000
//
// (A frame ending in "-" such as "=0.52100-" is the display "-00125.0",
// that is -125.0, not -1.25: the point travels with the digits.) The frame
// has no unit, no status and no checksum; the unit is taken as kg, Stable
// and Motion stay false, and overload can only come from Config.Capacity.
//
// The status line, common to the XK3190-A12E, -DS and most later Chinese
// indicators, ended by CR LF (or CR alone):
//
//	ST,GS,+0003.000kg   stable, gross, 3.000 kg
//	US,NT,-0001.250kg   unstable (motion), net, -1.250 kg
//	ST,GS,+  12.50lb    blanks for leading zeros are accepted; lb, g and t are converted
//	OL,GS,+        kg   overload, number blanked
//
// ST sets Stable, US sets Motion, OL sets Overload; GS or GW is gross, NT
// net. Tare lines (ST,TR,...) answer a command and are refused.
//
// The A12 line ("tf" continuous format A), CR LF ended, gross "ww" or net
// "wn", with no stability:
//
//	ww0003.000kg        gross 3.000 kg
//	wn-0000.1kg         net -0.1 kg
//
// # Mettler-Toledo continuous output
//
// The format of Mettler-Toledo terminals (8142, IND310, IND560, ...) that
// many others (Fairbanks, Cardinal, Chinese "MT format") also send:
//
//	STX SWA SWB SWC W W W W W W T T T T T T CR [CHK]
//
// STX is 0x02; SWA, SWB and SWC are status words; six digits of displayed
// weight and six of tare (the short form leaves the tare out), with no
// point and no sign; CR is 0x0D. The optional checksum byte is the two's
// complement of the low seven bits of the sum of every byte before it, STX
// and CR included; format ToledoChecksum expects it and a mismatch counts
// as a checksum error. Bit 7 of every byte is parity on 7E1 lines and is
// ignored; so are the constant bits 5 and 6, which clones get wrong.
//
//	SWA bits 0-2  decimal point: 0 XXXX00, 1 XXXXX0, 2 XXXXXX, 3 XXXXX.X,
//	              4 XXXX.XX, 5 XXX.XXX, 6 XX.XXXX, 7 X.XXXXX
//	SWA bits 3-4  increment size ×1, ×2, ×5 (not used here)
//	SWB bit 0     net (else gross)
//	SWB bit 1     negative
//	SWB bit 2     out of range: overload or under zero (Overload)
//	SWB bit 3     motion (Motion; Stable is its inverse)
//	SWB bit 4     kg (else lb) when SWC's unit code is 0
//	SWC bits 0-2  unit: 0 lb/kg, 1 g, 2 t, 3 oz, 4 ozt, 5 dwt, 6 long ton,
//	              7 custom (refused: its size is unknown)
//
// For example, 3.000 kg gross, stable, tare 0:
//
//	02 2D 30 20 "003000" "000000" 0D 31
//
// SWA 0x2D ('-') is point code 5 (XXX.XXX) with increment ×1; SWB 0x30
// ('0') is kg, gross, positive, in range, still; SWC 0x20 (' ') is unit
// code 0; 0x31 is the checksum. 12.50 kg net of 5.00 kg, in motion, is
// 02 2C 39 20 "001250" "000500" 0D 1F.
//
// SampleFrames lists these examples and more, with the reading each gives;
// the tests of this package and of the simulator in edge/sim check both
// against it.
package scale
