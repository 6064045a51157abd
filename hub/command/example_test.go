package command_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub/command"
)

// The hub publishes with its broker connection and hands every result its
// ingest receives to HandleResult; here an edge that answers at once
// stands in for both.
func Example() {
	var tracker *command.Tracker
	edge := command.PublisherFunc(func(_ context.Context, topic string, payload []byte) error {
		tp, _ := contract.ParseTopic(contract.DefaultPrefix, topic)
		cmd, _ := contract.DecodeCommand(tp, payload)
		go tracker.HandleResult(&contract.Result{
			Header:  contract.Header{V: 1, ID: "tw01-e1-3-44", Site: tp.Site, Edge: tp.Edge, TS: time.Now()},
			Command: cmd.ID, OK: true, Data: cmd.Args,
		}, time.Now())
		return nil
	})
	tracker = command.New(edge, contract.DefaultPrefix, command.DefaultKeep, nil)

	args := json.RawMessage(`{"device":"cr1-ctl","field":"setpoint","value":-1.5}`)
	cmd, err := tracker.Do(context.Background(), "tw01", "tw01-e1", "write", args, 10*time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cmd.State, string(cmd.Result.Data))
	// Output: ok {"device":"cr1-ctl","field":"setpoint","value":-1.5}
}
