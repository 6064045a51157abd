package scale

// SampleFrame is one frame an indicator sends and the reading it gives. The
// table is shared by this package's tests and by the simulator's, which
// must encode the same bytes, so the two sides cannot drift apart together.
type SampleFrame struct {
	Name   string
	Format Format
	Frame  []byte
	Want   Reading // as the parser returns it: Zero, Settled and At unset
	Source string  // where the frame comes from
}

// BadFrame is one frame a parser must refuse, and the kind it reports.
type BadFrame struct {
	Name   string
	Format Format
	Frame  []byte
	Kind   error // ErrGarbage, ErrFraming or ErrChecksum
}

// Where the samples come from.
const (
	srcA26      = "XK3190-A26 manual, continuous format 1, worked example"
	srcReversed = "built by the format-1 rule: the display, sign place first, reversed"
	srcLine     = "status line as sent by XK3190-A12E/DS and clones (ST/US/OL, GS/NT, sign, 8-character number, unit, CR LF)"
	srcA12      = "XK3190-A12 continuous format A (ww/wn lines), as logged by serial tools for the A12"
	srcToledo   = "Mettler-Toledo continuous output; status bits from the terminal manuals, checksum computed by hand"
)

// SampleFrames are good frames of every form the parsers read.
var SampleFrames = []SampleFrame{
	{"reversed 3.000", XK3190, []byte("=000.3000"), Reading{Weight: 3, Unit: "kg", Decimals: 3}, srcA26},
	{"reversed -1.00", XK3190, []byte("=00.1000-"), Reading{Weight: -1, Unit: "kg", Decimals: 2}, srcA26},
	{"reversed -1.25", XK3190, []byte("=52.1000-"), Reading{Weight: -1.25, Unit: "kg", Decimals: 2}, srcReversed},
	{"reversed -125.0", XK3190, []byte("=0.52100-"), Reading{Weight: -125, Unit: "kg", Decimals: 1}, srcReversed},
	{"reversed 12.50", XK3190, []byte("=05.21000"), Reading{Weight: 12.5, Unit: "kg", Decimals: 2}, srcReversed},
	{"reversed 1560 no point", XK3190, []byte("=06510000"), Reading{Weight: 1560, Unit: "kg"}, srcReversed},
	{"reversed zero", XK3190, []byte("=000.0000"), Reading{Weight: 0, Unit: "kg", Decimals: 3}, srcReversed},
	{"reversed largest", XK3190, []byte("=999.9990"), Reading{Weight: 999.999, Unit: "kg", Decimals: 3}, srcReversed},

	{"line stable gross", XK3190, []byte("ST,GS,+0003.000kg\r\n"), Reading{Weight: 3, Stable: true, Unit: "kg", Decimals: 3}, srcLine},
	{"line unstable net negative", XK3190, []byte("US,NT,-0001.250kg\r\n"), Reading{Weight: -1.25, Net: true, Motion: true, Unit: "kg", Decimals: 3}, srcLine},
	{"line gross GW blanks lb", XK3190, []byte("ST,GW,+  12.50lb\r\n"), Reading{Weight: 12.5 * 0.45359237, Stable: true, Unit: "lb", Decimals: 2}, srcLine},
	{"line grams", XK3190, []byte("ST,GS,+00000500 g\r\n"), Reading{Weight: 0.5, Stable: true, Unit: "g"}, srcLine},
	{"line overload", XK3190, []byte("OL,GS,+        kg\r\n"), Reading{Overload: true, Unit: "kg"}, srcLine},
	{"line overload no unit", XK3190, []byte("OL,GS,+        \r\n"), Reading{Overload: true}, "overload line of KERN-style indicators, unit blanked too"},
	{"line CR only", XK3190, []byte("ST,GS,+0003.000kg\r"), Reading{Weight: 3, Stable: true, Unit: "kg", Decimals: 3}, srcLine},

	{"A12 gross", XK3190, []byte("ww0003.000kg\r\n"), Reading{Weight: 3, Unit: "kg", Decimals: 3}, srcA12},
	{"A12 net negative", XK3190, []byte("wn-0000.1kg\r\n"), Reading{Weight: -0.1, Net: true, Unit: "kg", Decimals: 1}, srcA12},
	{"A12 lb", XK3190, []byte("ww000.000lb"), Reading{Weight: 0, Unit: "lb", Decimals: 3}, srcA12},

	{"toledo 3.000 kg", ToledoChecksum, []byte("\x02-0 003000000000\r1"), Reading{Weight: 3, Stable: true, Unit: "kg", Decimals: 3}, srcToledo},
	{"toledo 3.000 kg no checksum", Toledo, []byte("\x02-0 003000000000\r"), Reading{Weight: 3, Stable: true, Unit: "kg", Decimals: 3}, srcToledo},
	{"toledo net in motion", ToledoChecksum, []byte("\x02,9 001250000500\r\x1f"), Reading{Weight: 12.5, Tare: 5, Net: true, Motion: true, Unit: "kg", Decimals: 2}, srcToledo},
	{"toledo negative", ToledoChecksum, []byte("\x02,2 000125000000\r+"), Reading{Weight: -1.25, Stable: true, Unit: "kg", Decimals: 2}, srcToledo},
	{"toledo over range", ToledoChecksum, []byte("\x02-4 999999000000\rz"), Reading{Weight: 999.999, Stable: true, Overload: true, Unit: "kg", Decimals: 3}, srcToledo},
	{"toledo lb", ToledoChecksum, []byte("\x02+  000450000000\r="), Reading{Weight: 45 * 0.45359237, Stable: true, Unit: "lb", Decimals: 1}, srcToledo},
	{"toledo grams", ToledoChecksum, []byte("\x02*0!000500000000\r1"), Reading{Weight: 0.5, Stable: true, Unit: "g"}, srcToledo},
	{"toledo fixed zeros", ToledoChecksum, []byte("\x02(0 000156000000\r-"), Reading{Weight: 15600, Stable: true, Unit: "kg", Decimals: -2}, srcToledo + "; truck scale counting in 100 kg"},
	{"toledo zero", ToledoChecksum, []byte("\x02-0 000000000000\r4"), Reading{Weight: 0, Stable: true, Unit: "kg", Decimals: 3}, srcToledo},
	{"toledo 7E1 parity bits", ToledoChecksum, []byte("\x82-0\xa0003000000000\x8d\xb1"), Reading{Weight: 3, Stable: true, Unit: "kg", Decimals: 3}, srcToledo + "; even parity in bit 7, as a 7E1 line read as 8 bits"},
	{"toledo short form", Toledo, []byte("\x02-0 003000\r"), Reading{Weight: 3, Stable: true, Unit: "kg", Decimals: 3}, "Cardinal 225 manual, Toledo format 1 (short, no tare)"},
	{"toledo blank leading zeros", Toledo, []byte("\x02-0    300     0\r"), Reading{Weight: 0.3, Stable: true, Unit: "kg", Decimals: 3}, srcToledo + "; terminals that blank leading zeros"},
}

// BadFrames are frames the parsers must refuse.
var BadFrames = []BadFrame{
	{"empty", XK3190, nil, ErrGarbage},
	{"no start", XK3190, []byte("hello"), ErrGarbage},
	{"reversed cut short", XK3190, []byte("=000.3"), ErrFraming},
	{"reversed bad sign place", XK3190, []byte("=000.3001"), ErrFraming},
	{"reversed two points", XK3190, []byte("=00.0.300"), ErrFraming},
	{"reversed point last", XK3190, []byte("=.0003000"), ErrFraming},
	{"reversed letter", XK3190, []byte("=000.3x00"), ErrFraming},
	{"line cut short", XK3190, []byte("ST,GS,+0003.0"), ErrFraming},
	{"line no sign", XK3190, []byte("ST,GS,0003.000kg\r\n"), ErrFraming},
	{"line bad status", XK3190, []byte("XX,GS,+0003.000kg\r\n"), ErrFraming},
	{"line tare", XK3190, []byte("ST,TR,+0001.000kg\r\n"), ErrFraming},
	{"line unknown unit", XK3190, []byte("ST,GS,+0003.000pcs\r\n"), ErrFraming},
	{"line no unit", XK3190, []byte("ST,GS,+0003.000\r\n"), ErrFraming},
	{"A12 no number", XK3190, []byte("wwkg\r\n"), ErrFraming},
	{"toledo no STX", Toledo, []byte("-0 003000000000\r"), ErrGarbage},
	{"toledo cut short", Toledo, []byte("\x02-0 0030"), ErrFraming},
	{"toledo no CR", Toledo, []byte("\x02-0 003000000000X"), ErrFraming},
	{"toledo bad checksum", ToledoChecksum, []byte("\x02-0 003000000000\r2"), ErrChecksum},
	{"toledo digit garbled", ToledoChecksum, []byte("\x02-0 0030A0000000\r"), ErrFraming},
	{"toledo control status", Toledo, []byte("\x02\x01\x01\x01003000000000\r"), ErrFraming},
	{"toledo custom unit", Toledo, []byte("\x02-0'003000000000\r"), ErrFraming},
}
