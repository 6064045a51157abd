package queue

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzRecover feeds arbitrary bytes to Open as a telemetry segment. Open
// must not fail or panic, and Next must return only records that were
// written: every seed record's payload is "payload:" + its topic, and a
// damaged record can only come back through a CRC collision.
func FuzzRecover(f *testing.F) {
	dir := f.TempDir()
	q, err := Open(Options{Dir: dir, SyncEvery: time.Hour, Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 40 {
		m := telemetry(i)
		m.Topic = fmt.Sprintf("t%d", i)
		m.Payload = []byte("payload:" + m.Topic)
		if err := q.Append(m); err != nil {
			f.Fatal(err)
		}
		if i%7 == 6 {
			q.Sync()
		}
	}
	q.Close()
	seg, err := os.ReadFile(filepath.Join(dir, "telemetry", segName(1)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seg)
	f.Add(seg[:len(seg)-3])
	f.Add(seg[:len(seg)/2])
	flipped := bytes.Clone(seg)
	flipped[len(seg)/2] ^= 0x40
	f.Add(flipped)
	f.Add(append(bytes.Clone(seg), seg...))
	f.Add([]byte{})
	f.Add(magic[:])
	f.Add(bytes.Repeat([]byte{0}, 100))

	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "telemetry"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "telemetry", segName(1)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		q, err := Open(Options{Dir: dir, SyncEvery: time.Hour, Logger: quiet})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer q.Close()
		recovered := q.Stats().Recovered
		es := drain(t, q)
		var prev uint64
		for _, e := range es {
			if string(e.Payload) != "payload:"+e.Topic || e.Class != Telemetry || e.ID.Seq() <= prev {
				t.Fatalf("Next returned a record never written: %+v", e)
			}
			prev = e.ID.Seq()
		}
		if uint64(len(es)) > recovered {
			t.Fatalf("Next returned %d entries, Open recovered %d", len(es), recovered)
		}
		// The queue goes on working after whatever it found.
		if err := q.Append(Message{Class: Telemetry, Topic: "new", Payload: []byte("payload:new")}); err != nil {
			t.Fatal(err)
		}
		q.Sync()
		if es, err := q.Next(10); err != nil || len(es) != 1 || es[0].Topic != "new" {
			t.Fatalf("after recovery Next = %v, %v", es, err)
		}
	})
}
