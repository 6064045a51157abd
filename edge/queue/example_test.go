package queue_test

import (
	"fmt"
	"log"
	"os"
	"time"

	"github.com/countylink/countylink/edge/queue"
)

// The agent appends everything it produces, and a sender loop publishes
// what Next returns and acknowledges what the broker confirmed.
func Example() {
	dir, _ := os.MkdirTemp("", "queue")
	defer os.RemoveAll(dir)
	q, err := queue.Open(queue.DefaultOptions(dir))
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()

	now := time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)
	q.Append(queue.Message{Class: queue.Telemetry, Topic: "countylink/tw01/tw01-e1/telemetry/cr1-th",
		Payload: []byte(`{"v":1,"fields":{"temperature":2.4}}`), Series: "cr1-th", Time: now})
	// An event returns once it is on disk: the scan can be confirmed.
	if err := q.Append(queue.Message{Class: queue.Event, Topic: "countylink/tw01/tw01-e1/event/scan",
		Payload: []byte(`{"v":1,"waybill":"SF1234567890"}`)}); err != nil {
		fmt.Println("refuse the scan:", err)
	}
	q.Sync() // the agent lets the group commit do this

	entries, _ := q.Next(100)
	for _, e := range entries {
		fmt.Println(e.ID.Class(), e.Topic) // publish with QoS 1 here
		q.Ack(e.ID)                        // on PUBACK
	}
	// Output:
	// event countylink/tw01/tw01-e1/event/scan
	// telemetry countylink/tw01/tw01-e1/telemetry/cr1-th
}
