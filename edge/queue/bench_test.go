package queue

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func BenchmarkAppendTelemetry(b *testing.B) {
	q := open(b, b.TempDir(), func(o *Options) { o.MaxBytes = 4 << 30 })
	msgs := make([]Message, 1000)
	for i := range msgs {
		msgs[i] = telemetry(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	n := 0
	for b.Loop() {
		if err := q.Append(msgs[n%len(msgs)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if err := q.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
	b.ReportMetric(float64(q.Stats().Bytes)/float64(n), "disk-B/msg")
}

// fill appends n realistic telemetry messages, group-committed as the
// agent does when a backlog builds up quickly.
func fill(tb testing.TB, q *Queue, n int) {
	for i := range n {
		if err := q.Append(telemetry(i)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := q.Sync(); err != nil {
		tb.Fatal(err)
	}
}

// replay sends everything pending the way the agent does: Next, publish,
// Ack.
func replay(tb testing.TB, q *Queue) int {
	n := 0
	for {
		es, err := q.Next(500)
		if err != nil {
			tb.Fatal(err)
		}
		if len(es) == 0 {
			return n
		}
		ids := make([]EntryID, len(es))
		for i, e := range es {
			ids[i] = e.ID
		}
		if err := q.Ack(ids...); err != nil {
			tb.Fatal(err)
		}
		n += len(es)
	}
}

func BenchmarkReplay(b *testing.B) {
	const n = 100000
	q := open(b, b.TempDir(), nil)
	var elapsed time.Duration
	var bytes int64
	for b.Loop() {
		b.StopTimer()
		before := q.Stats().Bytes
		fill(b, q, n)
		bytes = q.Stats().Bytes - before
		b.StartTimer()
		start := time.Now()
		if got := replay(b, q); got != n {
			b.Fatalf("replayed %d of %d", got, n)
		}
		elapsed += time.Since(start)
	}
	b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(bytes)/n, "disk-B/msg")
}

// BenchmarkBig1M is the one-off measurement of the figures: 1M
// realistic telemetry messages on disk, then a full replay in a fresh
// process whose peak RSS is read from /proc. Run it with
//
//	QUEUE_BIG=1 go test -run '^$' -bench Big1M -benchtime 1x ./edge/queue/
//
// It measures two layouts: a backlog that built up fast (many records per
// group commit) and one that trickled in (every record its own frame, as
// on a quiet edge where each reading is synced on its own).
func BenchmarkBig1M(b *testing.B) {
	if os.Getenv("QUEUE_BIG") == "" {
		b.Skip("set QUEUE_BIG=1")
	}
	const n = 1000000
	for _, layout := range []string{"batched", "trickle"} {
		b.Run(layout, func(b *testing.B) {
			for b.Loop() {
				dir := b.TempDir()
				q, err := Open(Options{Dir: dir, SyncEvery: DefaultSyncEvery, Logger: quiet})
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				for i := range n {
					if err := q.Append(telemetry(i)); err != nil {
						b.Fatal(err)
					}
					if layout == "trickle" {
						// What SyncEvery does to one reading every few
						// seconds, without the fsync.
						q.flush(q.classes[Telemetry], false)
					}
				}
				if err := q.Close(); err != nil {
					b.Fatal(err)
				}
				fillTime := time.Since(start)
				st := dirBytes(b, dir)
				res := replayChild(b, dir)
				b.ReportMetric(float64(st), "disk-bytes")
				b.ReportMetric(float64(st)/n, "disk-B/msg")
				b.ReportMetric(n/fillTime.Seconds(), "append-msgs/s")
				b.ReportMetric(res["open_s"], "open-s")
				b.ReportMetric(res["msgs"]/res["replay_s"], "replay-msgs/s")
				b.ReportMetric(res["vmhwm_kb"]/1024, "peak-RSS-MB")
				if res["msgs"] != n {
					b.Fatalf("replayed %v of %d", res["msgs"], n)
				}
			}
		})
	}
}

func dirBytes(tb testing.TB, dir string) int64 {
	var total int64
	for c := range Class(NumClasses) {
		for _, p := range segFiles(tb, dir, c) {
			fi, err := os.Stat(p)
			if err != nil {
				tb.Fatal(err)
			}
			total += fi.Size()
		}
	}
	return total
}

// replayChild replays dir in a fresh process and returns what it measured.
func replayChild(tb testing.TB, dir string) map[string]float64 {
	cmd := exec.Command(os.Args[0], "-test.run=^TestReplayChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "QUEUE_REPLAY_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("replay child: %v\n%s", err, out)
	}
	res := map[string]float64{}
	s := bufio.NewScanner(strings.NewReader(string(out)))
	for s.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(s.Text()), "="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				res[k] = f
			}
		}
	}
	return res
}

func TestReplayChild(t *testing.T) {
	dir := os.Getenv("QUEUE_REPLAY_DIR")
	if dir == "" {
		t.Skip("run by BenchmarkBig1M")
	}
	start := time.Now()
	q, err := Open(Options{Dir: dir, SyncEvery: DefaultSyncEvery, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	opened := time.Since(start)
	start = time.Now()
	n := replay(t, q)
	elapsed := time.Since(start)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	var hwm float64
	for _, l := range strings.Split(string(status), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			hwm, _ = strconv.ParseFloat(f[1], 64)
		}
	}
	fmt.Printf("open_s=%f\nreplay_s=%f\nmsgs=%d\nvmhwm_kb=%f\n", opened.Seconds(), elapsed.Seconds(), n, hwm)
}
