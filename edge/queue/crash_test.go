package queue

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The crash test runs this test binary again as a child that appends and
// consumes until it is killed with SIGKILL. The child reports on stdout,
// one write per line, after each call returned:
//
//	E <n>   Append of event e<n> returned
//	S <n>   Sync returned: telemetry up to t<n> is on disk
//	C <topic>  Ack of that entry returned
const crashEnv = "QUEUE_CRASH_CHILD"

func crashOptions(dir string) Options {
	o := DefaultOptions(dir)
	o.SegmentBytes = 16 << 10
	o.SyncEvery = 3 * time.Millisecond
	o.Logger = quiet
	return o
}

// TestCrashChild is the process TestCrashKill9 starts and kills. A failure
// here prints its message, which the parent reports, and ends the child,
// which the parent reports too: only a SIGKILL may end it.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("run by TestCrashKill9")
	}
	start, _ := strconv.Atoi(os.Getenv("QUEUE_CRASH_START"))
	q, err := Open(crashOptions(dir))
	if err != nil {
		t.Fatalf("open failed: %v", err)
	}
	var mu sync.Mutex
	say := func(format string, a ...any) {
		mu.Lock()
		os.Stdout.WriteString(fmt.Sprintf(format, a...) + "\n")
		mu.Unlock()
	}
	say("ready")
	if os.Getenv("QUEUE_CRASH_CONSUME") == "1" {
		go consume(q, say)
	}
	for n := start; ; n++ {
		for k := range 3 {
			m := telemetry(n*3 + k)
			m.Topic = fmt.Sprintf("t%d-%d", n, k)
			if err := q.Append(m); err != nil {
				t.Fatalf("append failed: %v", err)
			}
		}
		if err := q.Append(Message{Class: Event, Topic: fmt.Sprintf("e%d", n), Payload: []byte(fmt.Sprintf("scan %d", n))}); err != nil {
			t.Fatalf("append failed: %v", err)
		}
		say("E %d", n)
		if n%10 == 0 {
			if err := q.Sync(); err != nil {
				t.Fatalf("sync failed: %v", err)
			}
			say("S %d", n)
		}
	}
}

// consume is the uplink: it consumes and acknowledges out of order, some
// entries one round late.
func consume(q *Queue, say func(string, ...any)) {
	var late []Entry
	for {
		es, err := q.Next(40)
		if err != nil {
			say("next failed: %v", err)
			return
		}
		if len(es) == 0 {
			<-q.Wait()
			continue
		}
		var ack, later []Entry
		for i := len(es) - 1; i >= 0; i-- {
			if es[i].ID.Seq()%3 == 0 {
				later = append(later, es[i]) // acknowledged one round later
			} else {
				ack = append(ack, es[i])
			}
		}
		for _, e := range append(ack, late...) {
			if err := q.Ack(e.ID); err != nil {
				say("ack failed: %v", err)
				return
			}
			say("C %s", e.Topic)
		}
		late = later
	}
}

func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(13, 14))
	events := map[int]bool{}      // appended (Append returned)
	synced := map[string]bool{}   // telemetry known to be on disk
	consumed := map[string]bool{} // acknowledged
	const cycles = 10
	for cycle := range cycles {
		start := cycle * 1000000
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir, fmt.Sprintf("QUEUE_CRASH_START=%d", start),
			fmt.Sprintf("QUEUE_CRASH_CONSUME=%d", 1-cycle%2)) // a backlog builds up on odd cycles
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			s := bufio.NewScanner(out)
			for s.Scan() {
				lines <- s.Text()
			}
			close(lines)
		}()
		var kill <-chan time.Time
		deadline := time.After(30 * time.Second)
		killed := false
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				f := strings.Fields(l)
				switch {
				case l == "ready":
					kill = time.After(time.Duration(50+r.IntN(250)) * time.Millisecond)
				case len(f) == 2 && f[0] == "E":
					n, _ := strconv.Atoi(f[1])
					events[n] = true
				case len(f) == 2 && f[0] == "S":
					n, _ := strconv.Atoi(f[1])
					for i := start; i <= n; i++ {
						for k := range 3 {
							synced[fmt.Sprintf("t%d-%d", i, k)] = true
						}
					}
				case len(f) == 2 && f[0] == "C":
					consumed[f[1]] = true
				case strings.HasPrefix(l, "---") || strings.HasPrefix(l, "==="):
				default:
					t.Errorf("child: %s", l)
				}
			case <-kill:
				cmd.Process.Kill() // SIGKILL
				killed, kill = true, nil
			case <-deadline:
				cmd.Process.Kill()
				t.Fatal("child did not start")
			}
		}
		cmd.Wait()
		if !killed {
			t.Fatalf("cycle %d: child exited by itself", cycle)
		}

		q, err := Open(crashOptions(dir))
		if err != nil {
			t.Fatalf("cycle %d: Open: %v", cycle, err)
		}
		present := map[string]bool{}
		last := map[Class]uint64{}
		for _, e := range drain(t, q) {
			if present[e.Topic] {
				t.Fatalf("cycle %d: %s twice", cycle, e.Topic)
			}
			present[e.Topic] = true
			if e.ID.Seq() <= last[e.Class] {
				t.Fatalf("cycle %d: %s out of order", cycle, e.Topic)
			}
			last[e.Class] = e.ID.Seq()
			if e.Class == Event {
				var n int
				fmt.Sscanf(e.Topic, "e%d", &n)
				if string(e.Payload) != fmt.Sprintf("scan %d", n) {
					t.Fatalf("cycle %d: %s has payload %q", cycle, e.Topic, e.Payload)
				}
			}
		}
		st := q.Stats()
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
		for n := range events {
			if topic := fmt.Sprintf("e%d", n); !consumed[topic] && !present[topic] {
				t.Fatalf("cycle %d: event %s was acknowledged to the scanner and is lost", cycle, topic)
			}
		}
		for topic := range synced {
			if !consumed[topic] && !present[topic] {
				t.Fatalf("cycle %d: telemetry %s was synced and is lost", cycle, topic)
			}
		}
		t.Logf("cycle %d: %d events appended so far, %d acknowledged, %d entries pending after the kill, %d bytes, %d corrupt",
			cycle, len(events), len(consumed), len(present), st.Bytes, st.Corrupt)
	}
	if len(consumed) == 0 || len(events) < cycles*10 {
		t.Fatalf("too little happened: %d events, %d consumed", len(events), len(consumed))
	}
}
