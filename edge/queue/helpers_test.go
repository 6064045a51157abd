package queue

import (
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)

// quiet is a logger for tests that do not look at the log.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// open opens a queue in dir and closes it at the end of the test.
func open(t testing.TB, dir string, edit func(*Options)) *Queue {
	t.Helper()
	opts := DefaultOptions(dir)
	opts.Logger = quiet
	if edit != nil {
		edit(&opts)
	}
	q, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// drain returns every entry Next gives, without acknowledging.
func drain(t testing.TB, q *Queue) []Entry {
	t.Helper()
	var all []Entry
	for {
		es, err := q.Next(1000)
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if len(es) == 0 {
			return all
		}
		all = append(all, es...)
	}
}

func topics(es []Entry) []string {
	var s []string
	for _, e := range es {
		s = append(s, e.Topic)
	}
	return s
}

func mustAppend(t testing.TB, q *Queue, m Message) {
	t.Helper()
	if err := q.Append(m); err != nil {
		t.Fatalf("Append %s: %v", m.Topic, err)
	}
}

// telemetry returns the i-th reading of a realistic telemetry stream: four
// cold-room sensors, each read every 10 seconds.
func telemetry(i int) Message {
	dev := fmt.Sprintf("cr%d-th", i%4+1)
	ts := t0.Add(time.Duration(i) * 2500 * time.Millisecond).Add(time.Duration(i*7919%1000) * time.Millisecond)
	temp := 2 + float64(i*37%40)/10
	hum := 75 + float64(i*53%100)/10
	payload := fmt.Sprintf(`{"v":1,"id":"tw01-e1-3-%d","site":"tw01","edge":"tw01-e1","ts":"%s","sent":"0001-01-01T00:00:00Z","device":"%s","room":"%s","fields":{"temperature":%.1f,"humidity":%.1f},"units":{"temperature":"Cel","humidity":"%%RH"}}`,
		424242+i, ts.Format("2006-01-02T15:04:05.000Z"), dev, dev[:3], temp, hum)
	return Message{Class: Telemetry, Topic: "countylink/tw01/tw01-e1/telemetry/" + dev, Payload: []byte(payload), Series: dev, Time: ts}
}

// noisy returns a message whose payload does not compress, so that tests
// control how much disk it takes.
func noisy(c Class, name string, n int, r *rand.Rand) Message {
	b := make([]byte, n/2)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return Message{Class: c, Topic: name, Payload: []byte(name + ":" + hex.EncodeToString(b))}
}

// segFiles lists the segment files of a class.
func segFiles(t testing.TB, dir string, c Class) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, c.String(), "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// copyDir copies a queue directory (flat files in subdirectories).
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
