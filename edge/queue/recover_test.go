package queue

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeEvents appends n events, each its own frame (events are fsynced one
// by one), and returns the messages and the segment size after each.
func writeEvents(t *testing.T, dir string, n int) ([]Message, []int64) {
	t.Helper()
	q := open(t, dir, nil)
	r := rand.New(rand.NewPCG(3, 4))
	var msgs []Message
	var ends []int64
	for i := range n {
		m := noisy(Event, fmt.Sprintf("scan-%03d", i), 60+r.IntN(200), r)
		mustAppend(t, q, m)
		msgs = append(msgs, m)
		ends = append(ends, q.Stats().Bytes)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	return msgs, ends
}

func onlySegment(t *testing.T, dir string, c Class) string {
	t.Helper()
	segs := segFiles(t, dir, c)
	if len(segs) != 1 {
		t.Fatalf("%d segments, want 1", len(segs))
	}
	return segs[0]
}

func checkEntries(t *testing.T, got []Entry, want []Message) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("recovered %d entries, want %d: %v", len(got), len(want), topics(got))
	}
	for i := range got {
		if got[i].Topic != want[i].Topic || !bytes.Equal(got[i].Payload, want[i].Payload) {
			t.Fatalf("entry %d = %s, want %s", i, got[i].Topic, want[i].Topic)
		}
	}
}

func TestTornTail(t *testing.T) {
	src := t.TempDir()
	msgs, ends := writeEvents(t, src, 120)
	size := ends[len(ends)-1]
	r := rand.New(rand.NewPCG(5, 6))
	cuts := []int64{0, 1, ends[0] - 1, ends[0], ends[59] + 1, size - 1}
	for range 20 {
		cuts = append(cuts, r.Int64N(size))
	}
	for _, cut := range cuts {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, src, dir)
			seg := onlySegment(t, dir, Event)
			if err := os.Truncate(seg, cut); err != nil {
				t.Fatal(err)
			}
			intact := 0
			for intact < len(ends) && ends[intact] <= cut {
				intact++
			}
			q := open(t, dir, nil)
			checkEntries(t, drain(t, q), msgs[:intact])
			// Appending goes on after the last intact record and survives
			// another reopen.
			mustAppend(t, q, Message{Class: Event, Topic: "after"})
			q.Close()
			q = open(t, dir, nil)
			want := append(slices.Clone(msgs[:intact]), Message{Class: Event, Topic: "after"})
			checkEntries(t, drain(t, q), want)
		})
	}
}

func TestFlippedBytes(t *testing.T) {
	src := t.TempDir()
	msgs, ends := writeEvents(t, src, 120)
	const k = 60 // the record hit
	for _, at := range []int64{0, 2, 5, 9, 13, 20, 40} {
		t.Run(fmt.Sprint(at), func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, src, dir)
			seg := onlySegment(t, dir, Event)
			b, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			off := ends[k-1] + at
			b[off] ^= 0x5a
			b[off+1] ^= 0xff
			if err := os.WriteFile(seg, b, 0o644); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			q := open(t, dir, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
			want := append(slices.Clone(msgs[:k]), msgs[k+1:]...)
			checkEntries(t, drain(t, q), want)
			st := q.Stats()
			if st.Corrupt != uint64(ends[k]-ends[k-1]) || st.Recovered != uint64(len(want)) {
				t.Fatalf("Corrupt = %d (want %d), Recovered = %d", st.Corrupt, ends[k]-ends[k-1], st.Recovered)
			}
			bad, _ := filepath.Glob(filepath.Join(dir, "quarantine", "*.bad"))
			if len(bad) != 1 {
				t.Fatalf("quarantine holds %v", bad)
			}
			if q, _ := os.ReadFile(bad[0]); !bytes.Equal(q, b[ends[k-1]:ends[k]]) {
				t.Fatalf("quarantined %d bytes, not the damaged frame", len(q))
			}
			if !strings.Contains(logs.String(), "damaged bytes skipped") {
				t.Fatalf("nothing logged:\n%s", logs.String())
			}
			// The damage stays in the file until the segment is
			// acknowledged; a second Open does not count it again.
			q.Close()
			q = open(t, dir, nil)
			checkEntries(t, drain(t, q), want)
			if c := q.Stats().Corrupt; c != 0 {
				t.Fatalf("second Open counted %d corrupt bytes again", c)
			}
		})
	}
}

func TestDamagedDictionaryCopy(t *testing.T) {
	src := t.TempDir()
	msgs, _ := writeEvents(t, src, 20)
	dir := t.TempDir()
	copyDir(t, src, dir)
	seg := onlySegment(t, dir, Event)
	b, _ := os.ReadFile(seg)
	b[prefixLen+3] ^= 1 // inside the first copy of the dictionary
	os.WriteFile(seg, b, 0o644)
	q := open(t, dir, nil)
	checkEntries(t, drain(t, q), msgs)
	if q.Stats().Corrupt == 0 {
		t.Fatal("damage not counted")
	}
}

func TestGarbageBetweenSegments(t *testing.T) {
	// Damage in a sealed segment of a class with many segments: every
	// other segment and every intact frame still replays in order.
	dir := t.TempDir()
	q := open(t, dir, func(o *Options) { o.SegmentBytes = 4096 })
	r := rand.New(rand.NewPCG(7, 8))
	var msgs []Message
	for i := range 100 {
		m := noisy(Event, fmt.Sprintf("e%03d", i), 300, r)
		mustAppend(t, q, m)
		msgs = append(msgs, m)
	}
	q.Close()
	segs := segFiles(t, dir, Event)
	if len(segs) < 4 {
		t.Fatalf("%d segments", len(segs))
	}
	// Zero the second half of the second segment: what a lost SD page
	// looks like.
	b, _ := os.ReadFile(segs[1])
	clear(b[len(b)/2:])
	os.WriteFile(segs[1], b, 0o644)
	q = open(t, dir, nil)
	got := drain(t, q)
	if len(got) >= len(msgs) || len(got) < len(msgs)-10 {
		t.Fatalf("recovered %d of %d", len(got), len(msgs))
	}
	prev := -1
	for _, e := range got {
		var n int
		fmt.Sscanf(e.Topic, "e%d", &n)
		if n <= prev || !bytes.Equal(e.Payload, msgs[n].Payload) {
			t.Fatalf("entry %s out of order or changed", e.Topic)
		}
		prev = n
	}
	if got[len(got)-1].Topic != "e099" {
		t.Fatalf("last entry %s", got[len(got)-1].Topic)
	}
}
