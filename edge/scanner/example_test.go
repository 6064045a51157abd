package scanner_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/countylink/countylink/edge/scanner"
)

// A station wires its readers into one de-duplicator that shares their
// counters. Here a string stands in for the serial port; on an edge box the
// reader is scanner.NewSerial("/dev/ttyACM0", 0, opt), scanner.NewTCP or
// scanner.NewHID, and its Run replaces ReadLines.
func Example() {
	counters := new(scanner.Counters)
	opt := scanner.Options{Source: "station-1", StripAIM: true, Counters: counters}
	dedup := &scanner.Dedup{Counters: counters} // 2 s window

	raw, scans := make(chan scanner.Scan), make(chan scanner.Scan, 10)
	go func() {
		port := strings.NewReader("]C1SF1234567890123\r\n]C1SF1234567890123\r\n\x1b[2~\r\n]C1JT5012345678901\r\n")
		scanner.ReadLines(context.Background(), port, opt, raw)
		close(raw)
	}()
	dedup.Run(context.Background(), raw, scans)
	close(scans)

	for s := range scans {
		fmt.Println(s.Source, s.Code)
	}
	fmt.Printf("%+v\n", counters.Stats()["station-1"])
	// Output:
	// station-1 SF1234567890123
	// station-1 JT5012345678901
	// {Scans:3 Repeats:1 Noise:1 Errors:0}
}
