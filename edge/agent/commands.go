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
//	relight   {"station":"s1","waybill":"SF1234567890123","route":"r03","bin":"b03","village":"tw01-v07"}
//	                                                     -> {"station","waybill","bin"}
//
// The sort plan also comes retained on contract.PlanTopic (see plan in
// stations.go); the sortplan command stays for hubs that send it.
const (
	CmdPing     = "ping"
	CmdStatus   = "status"
	CmdWrite    = "write"
	CmdSortPlan = "sortplan"
	CmdManifest = "manifest"
	CmdRules    = "rules"
	CmdRelight  = "relight"
)

// WriteArgs are the arguments of the write command.
type WriteArgs struct {
	Device string   `json:"device"`
	Field  string   `json:"field"`
	Value  *float64 `json:"value"`
}

// RelightArgs are the arguments of the relight command: the hub corrects
// a station's decision (a manifest that came late). Village, when given,
// is recorded in the edge's manifest so that a rescan decides alike.
type RelightArgs struct {
	Station string `json:"station"`
	Waybill string `json:"waybill"`
	Route   string `json:"route"`
	Bin     string `json:"bin"`
	Village string `json:"village,omitempty"`
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
	case CmdRelight:
		var args RelightArgs
		if err := strictJSON(cmd.Args, &args); err != nil {
			return nil, fmt.Errorf("relight: %w", err)
		}
		return a.relight(args)
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

// relight lights the bin the hub decided for a parcel at one station and
// records the parcel's village, so that the station's confirmation and a
// rescan agree with the hub.
func (a *Agent) relight(args RelightArgs) (json.RawMessage, error) {
	if args.Waybill == "" || len(args.Waybill) > contract.MaxWaybillLen || !contract.ValidID(args.Bin) ||
		(args.Route != "" && !contract.ValidID(args.Route)) || (args.Village != "" && !contract.ValidID(args.Village)) {
		return nil, errors.New("relight: needs a waybill and a bin, and ids for route and village")
	}
	var sr *stationRun
	for _, x := range a.stations {
		if x.cfg.ID == args.Station {
			sr = x
		}
	}
	if sr == nil {
		return nil, fmt.Errorf("relight: no station %q on this edge", args.Station)
	}
	if err := sr.st.Relight(args.Waybill, args.Route, args.Bin); err != nil {
		return nil, fmt.Errorf("relight: %w", err)
	}
	if args.Village != "" && a.manifest != nil {
		if err := a.manifest.add(map[string]string{args.Waybill: args.Village}); err != nil {
			// The lamp is lit: the correction stands, only a rescan would miss it.
			a.log.Warn("relight: village not recorded in the manifest", "waybill", clipCode(args.Waybill), "err", err)
		}
	}
	a.log.Info("bin relit", "station", args.Station, "waybill", args.Waybill, "route", args.Route, "bin", args.Bin)
	return json.Marshal(map[string]string{"station": args.Station, "waybill": args.Waybill, "bin": args.Bin})
}

func strictJSON(b []byte, v any) error {
	if len(b) == 0 {
		return errors.New("arguments missing")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
