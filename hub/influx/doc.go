// Package influx stores the hub's readings in InfluxDB through its v2 write
// API, which InfluxDB 2.x, Cloud and 1.8 (bucket "database/retention-policy",
// token "user:password") all accept.
//
// Writer implements hub.SeriesWriter. Each reading becomes one point of the
// measurement "telemetry", tagged with site, edge, device and room (when
// set), holding the reading's values as float fields and stamped with the
// reading's time at millisecond precision. InfluxDB keeps one value per
// series, field and time, so writing a reading twice leaves one value.
// A reading with faults also carries a string field "fault" that says why
// the missing values are missing ("field: text; ..."), so a gap in a chart
// is explained in the store itself.
//
// Writes are blocking and unbatched: each WriteReadings call is one HTTP
// request holding the whole batch, and a failure is returned to the caller,
// which keeps the batch and retries. The client's own retry queue is not
// used (it belongs to its non-blocking API and would keep data the caller
// believes failed).
package influx
