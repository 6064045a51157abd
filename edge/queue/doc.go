// Package queue is the edge agent's durable store-and-forward queue: every
// message the agent produces is appended here before it is published, and
// forgotten only once the broker acknowledged it. It survives kill -9 and
// power cuts, and it is written for SD cards.
//
// # Classes
//
// Status drains before Event (parcel scans) before Telemetry; within a
// class order is kept. Event appends return after fsync, because a person
// was told the scan is kept; Status and Telemetry are group-committed every
// Options.SyncEvery. Over the disk budget (Options.MaxBytes) the oldest
// telemetry is first thinned to one reading per series per minute, then
// dropped, both counted in Stats; Events are never dropped: Append returns
// ErrFull so that the scanner station refuses a scan it cannot keep.
//
// # Delivery
//
// Next returns entries without removing them; Ack forgets them, in any
// order; Rewind, after a disconnect, makes Next return everything not
// acknowledged again. The read position of each class (the cursor: the
// longest acknowledged prefix) is persisted at most every SyncEvery, so a
// crash may send some acknowledged messages again (at-least-once; the hub
// removes duplicates by message id) but never loses an unacknowledged one.
//
// # On disk
//
//	<Dir>/lock                       flock: one process per queue
//	<Dir>/<class>/<first-seq>.seg    append-only segments, rotated at SegmentBytes
//	<Dir>/<class>/cursor             two CRC'd slots overwritten in turn
//	<Dir>/quarantine/<class>-<segment>-<offset>.bad   damaged bytes set aside
//
// A segment is a sequence of CRC-32C checked frames (see format.go): two
// copies of a dictionary (the latest 4 KiB of records written before the
// segment), then one frame per group commit holding that commit's records,
// flate-compressed with the dictionary. A lone 290-byte JSON telemetry
// record, the usual commit on a quiet edge, takes about 74 bytes on disk;
// records committed together about 24 each (1M readings: 74 MB or 24 MB).
// Open checks every frame: it truncates a torn tail, and it skips damage in
// the middle by searching for the next frame's magic, copying the damaged
// bytes to quarantine. Memory does not grow with the backlog: a class keeps
// a handful of counters per segment, a sparse offset index, and the entries
// in flight.
package queue
