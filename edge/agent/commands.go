package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/edge/queue"
)

// Commands the agent answers.
//
//	ping      {}                                         -> {"agent","boot","uptime_s"}
//	status    {}                                         -> publishes the status now
//	write     {"device":"cr1-ctl","field":"setpoint","value":-1.5}
//	                                                     -> {"device","field","value"} as read back
//	sortplan  a contract.SortPlan                        -> {"version"}
//	manifest  {"parcels":{"SF1234567890123":"v0301"}}    -> {"parcels": n}
//	rules     a contract.RoomRules                       -> {"version","rooms"}
const (
	CmdPing     = "ping"
	CmdStatus   = "status"
	CmdWrite    = "write"
	CmdSortPlan = "sortplan"
	CmdManifest = "manifest"
	CmdRules    = "rules"
)

// WriteArgs are the arguments of the write command.
type WriteArgs struct {
	Device string   `json:"device"`
	Field  string   `json:"field"`
	Value  *float64 `json:"value"`
}

// writeTimeout bounds a write and its read-back on a busy bus.
const writeTimeout = 10 * time.Second

// command answers one command from the hub. The MQTT client calls it from
// a goroutine per message, so commands are run one at a time here (two
// sort plans must not race to the file); a write then waits its turn on
// the bus like a poll. Commands sent together may run in any order: each
// has its own result.
func (a *Agent) command(ctx context.Context, topic string, payload []byte) {
	a.cmdMu.Lock()
	defer a.cmdMu.Unlock()
	t, err := contract.ParseTopic(a.cfg.MQTT.TopicPrefix, topic)
	if err != nil {
		a.badCommands.Add(1)
		a.log.Warn("command on a bad topic", "topic", topic, "err", err)
		return
	}
	cmd, err := contract.DecodeCommand(t, payload)
	if err != nil {
		a.badCommands.Add(1)
		a.log.Warn("bad command", "topic", topic, "err", err)
		return
	}
	data, err := a.run(ctx, cmd)
	res := contract.Result{Header: a.header(time.Now()), Command: cmd.ID, OK: err == nil, Data: data}
	if err != nil {
		res.Error = clip(err.Error())
		a.log.Warn("command failed", "command", cmd.Name, "id", cmd.ID, "err", err)
	} else if cmd.Name != CmdPing && cmd.Name != CmdStatus {
		a.log.Info("command done", "command", cmd.Name, "id", cmd.ID)
	}
	b, err := json.Marshal(res) // Sent left zero: stamped when it leaves
	if err != nil {
		return
	}
	a.appendQueue(queue.Message{Class: queue.Status, Topic: contract.ResultTopic(a.cfg.MQTT.TopicPrefix, a.cfg.Site, a.cfg.Edge), Payload: b})
}

func (a *Agent) run(ctx context.Context, cmd *contract.Command) (json.RawMessage, error) {
	switch cmd.Name {
	case CmdPing:
		return json.Marshal(map[string]any{"agent": a.agentName(), "boot": a.boot, "uptime_s": int(time.Since(a.started).Seconds())})
	case CmdStatus:
		a.requestStatus()
		return nil, nil
	case CmdWrite:
		var args WriteArgs
		if err := strictJSON(cmd.Args, &args); err != nil {
			return nil, fmt.Errorf("write: %w", err)
		}
		return a.write(ctx, args)
	case CmdSortPlan:
		if len(a.stations) == 0 {
			return nil, errors.New("sortplan: this edge has no scanner station")
		}
		p, err := a.setPlan(cmd.Args)
		if err != nil {
			return nil, fmt.Errorf("sortplan: %w", err)
		}
		return json.Marshal(map[string]string{"version": p.Version})
	case CmdRules:
		rs, err := a.setRules(cmd.Args)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		return json.Marshal(map[string]any{"version": rs.Version, "rooms": len(rs.Rules)})
	case CmdManifest:
		var args struct {
			Parcels map[string]string `json:"parcels"`
		}
		if err := strictJSON(cmd.Args, &args); err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		if err := a.manifest.add(args.Parcels); err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		return json.Marshal(map[string]int{"parcels": len(args.Parcels)})
	}
	return nil, fmt.Errorf("unknown command %q", cmd.Name)
}

// write sets a field of a device (a controller's setpoint) and reads it
// back, so the result says what the device now holds.
func (a *Agent) write(ctx context.Context, args WriteArgs) (json.RawMessage, error) {
	if args.Value == nil || math.IsNaN(*args.Value) || math.IsInf(*args.Value, 0) {
		return nil, errors.New("write: value must be a finite number")
	}
	var d *device
	for _, x := range a.devices {
		if x.cfg.ID == args.Device {
			d = x
		}
	}
	if d == nil {
		return nil, fmt.Errorf("write: no device %q on this edge", args.Device)
	}
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	got, err := d.dev.Write(wctx, args.Field, *args.Value)
	if err != nil {
		return nil, fmt.Errorf("write %s.%s: %w", args.Device, args.Field, err)
	}
	a.log.Info("device written", "device", args.Device, "field", args.Field, "value", *args.Value, "read_back", got)
	return json.Marshal(map[string]any{"device": args.Device, "field": args.Field, "value": got})
}

func strictJSON(b []byte, v any) error {
	if len(b) == 0 {
		return errors.New("arguments missing")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
