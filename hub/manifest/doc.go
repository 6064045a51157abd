// Package manifest reads the parcel manifests courier companies send
// ahead of their parcels (CSV or JSON), checks them row by row, and hands
// the accepted parcels to a Store; a Watcher imports the files dropped in
// a folder.
//
// A manifest announces, per parcel, its waybill number, carrier,
// destination village (or an address the village is found in), the
// three-segment sort code when the carrier prints one, and its weight.
// Parse never gives up on a file for one bad row: each rejected row is
// reported with its line, waybill, field and reason, and the others are
// kept. Only a file that cannot be read at all (no waybill column, broken
// JSON, too large, an encoding it cannot decode) is an error.
//
// A Batch's ID is the SHA-256 of what the manifest says once normalised
// (not of its bytes), so the same manifest imported twice, even re-saved
// in another encoding or column order, is recognised and changes nothing.
//
// The package depends on edge/waybill for the carriers' number patterns
// and on golang.org/x/text for GB18030 (GBK), the encoding Chinese Excel
// writes CSV files in.
package manifest
