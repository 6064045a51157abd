package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/edge/config"
	"github.com/countylink/countylink/edge/gpio"
	"github.com/countylink/countylink/edge/queue"
	"github.com/countylink/countylink/edge/scale"
	"github.com/countylink/countylink/edge/scanner"
	"github.com/countylink/countylink/edge/station"
)

// openGPIO opens the configured outputs and inputs. A pin that does not
// exist is a configuration error and stops the start: a lamp that silently
// never lights is worse than an agent that says why it will not run.
func (a *Agent) openGPIO() error {
	a.outputs = map[string]*gpio.Output{}
	for _, oc := range a.cfg.Outputs {
		pin, err := gpio.OpenPin(oc.Pin)
		if err != nil {
			return fmt.Errorf("output %s: %w", oc.ID, err)
		}
		a.outputs[oc.ID] = &gpio.Output{Name: oc.ID, Pin: pin, ActiveLow: oc.ActiveLow}
	}
	for _, ic := range a.cfg.Inputs {
		pin, err := gpio.OpenPin(ic.Pin)
		if err != nil {
			return fmt.Errorf("input %s: %w", ic.ID, err)
		}
		a.inputs = append(a.inputs, &input{cfg: ic, in: &gpio.Input{Name: ic.ID, Pin: pin, ActiveLow: ic.ActiveLow, Debounce: ic.Debounce}})
	}
	if sl := a.cfg.StackLight; sl != nil {
		a.stack = &gpio.StackLight{Red: a.outputs[sl.Red], Amber: a.outputs[sl.Amber], Green: a.outputs[sl.Green], Buzzer: a.outputs[sl.Buzzer]}
	}
	return nil
}

// input is a GPIO input and what its changes mean.
type input struct {
	cfg     config.Input
	in      *gpio.Input
	confirm func(at time.Time) // set for a station's confirm button
}

// inputLoop watches one input. A door's every debounced change is a
// reading of its room, queued as an event so that it is never thinned: the
// cold-chain rules time door openings from these. A button press is
// handed to its station.
func (a *Agent) inputLoop(ctx context.Context, in *input) {
	log := a.log.With("input", in.cfg.ID, "pin", in.cfg.Pin)
	events := make(chan gpio.Event, 16)
	done := make(chan error, 1)
	go func() { done <- in.in.Run(ctx, events) }()
	for {
		select {
		case err := <-done:
			if err != nil && ctx.Err() == nil {
				log.Error("input stopped", "err", err)
			}
			return
		case ev := <-events:
			switch in.cfg.Kind {
			case "door":
				a.doorChange(in.cfg, ev)
				a.cold.door(in.cfg.Room, ev.At, ev.Active)
			case "button":
				if ev.Active && in.confirm != nil {
					in.confirm(ev.At)
				}
				if ev.Active && in.cfg.ID == a.cfg.AlarmSilence {
					a.cold.mute()
					a.log.Info("alarm buzzer silenced on site", "button", in.cfg.ID)
				}
			}
		}
	}
}

func (a *Agent) doorChange(ic config.Input, ev gpio.Event) {
	open := 0.0
	if ev.Active {
		open = 1
	}
	msg := contract.Telemetry{Header: a.header(ev.At), Device: ic.ID, Room: ic.Room,
		Fields: map[string]float64{"door_open": open}}
	b, err := json.Marshal(msg)
	if err != nil {
		return
	}
	a.appendQueue(queue.Message{Class: queue.Event, Topic: contract.TelemetryTopic(a.cfg.MQTT.TopicPrefix, a.cfg.Site, a.cfg.Edge, ic.ID), Payload: b})
}

// stackLoop keeps the tower light on the agent's health: green when all is
// well; amber while the uplink is down (sorting goes on, events queue) or
// a device fails; red when events cannot be queued or a station has no
// sort plan, which staff must report.
func (a *Agent) stackLoop(ctx context.Context) {
	if a.stack == nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last, lastMuted := gpio.LightOff, false
	for {
		now, muted := a.health()
		if now != last || muted != lastMuted {
			a.stack.Show(now)
			if muted && a.stack.Buzzer != nil {
				a.stack.Buzzer.Set(gpio.Off)
			}
			if now != last {
				a.log.Info("stack light", "state", lightName[now])
			}
			last, lastMuted = now, muted
		}
		select {
		case <-ctx.Done():
			a.stack.Show(gpio.LightOff)
			return
		case <-t.C:
		}
	}
}

var lightName = map[gpio.Light]string{gpio.LightOff: "off", gpio.LightOK: "green", gpio.LightWarning: "amber", gpio.LightAlarm: "red"}

// health is what the tower shows, and whether its buzzer is muted: a
// cold-chain alarm silenced on site keeps the red light.
func (a *Agent) health() (gpio.Light, bool) {
	a.queueErrMu.Lock()
	qerr := a.queueErr
	a.queueErrMu.Unlock()
	if qerr != "" {
		return gpio.LightAlarm, false
	}
	for _, st := range a.stations {
		if st.st.Plan() == nil {
			return gpio.LightAlarm, false
		}
	}
	if a.alarmActive.Load() {
		return gpio.LightAlarm, !a.alarmSound.Load()
	}
	if up := a.upReady.Load(); up == nil || !up.Connected() {
		return gpio.LightWarning, false
	}
	for _, d := range a.devices {
		d.mu.Lock()
		bad := d.polled && !d.ok
		d.mu.Unlock()
		if bad {
			return gpio.LightWarning, false
		}
	}
	for _, s := range a.scales {
		if ok, _ := s.health(); !ok {
			return gpio.LightWarning, false
		}
	}
	return gpio.LightOK, false
}

// closeOutputs turns every output off at exit: no lamp stays lit over a
// bin after the agent has gone.
func (a *Agent) closeOutputs() {
	for _, o := range a.outputs {
		o.Close()
	}
}

// noiseLoop logs, once a minute at most per device, the bad input its
// counters saw since the last look: scanner noise, garbage and bad frames
// from a scale, bouncing contacts, each with the device's name. The
// counters themselves are in Stats.
func (a *Agent) noiseLoop(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	prevScan := map[string]scanner.Stats{}
	prevScale := map[string]scale.Stats{}
	prevIn := map[string]gpio.InputStats{}
	prevStation := map[string]station.Stats{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for id, s := range a.scanCounts.Stats() {
			p := prevScan[id]
			if d := s.Noise - p.Noise; d > 0 {
				a.log.Warn("scanner sent lines that are no code (too long, control characters)", "scanner", id, "lines", d)
			}
			if d := s.Errors - p.Errors; d > 0 {
				a.log.Warn("scanner connection failures", "scanner", id, "count", d)
			}
			prevScan[id] = s
		}
		for _, sc := range a.scales {
			s, p := sc.Stats(), prevScale[sc.cfg.ID]
			if d := (s.Framing + s.Checksum + s.Garbage) - (p.Framing + p.Checksum + p.Garbage); d > 0 {
				a.log.Warn("scale sent bad frames", "scale", sc.cfg.ID, "cut_or_bad", s.Framing-p.Framing,
					"checksum", s.Checksum-p.Checksum, "garbage_runs", s.Garbage-p.Garbage)
			}
			prevScale[sc.cfg.ID] = s
		}
		for _, st := range a.stations {
			s, p := st.st.Stats(), prevStation[st.cfg.ID]
			if d := s.Unweighed - p.Unweighed; d > 0 {
				a.log.Warn("parcels recorded without a weight (scale in motion, off or empty)", "station", st.cfg.ID, "scale", st.cfg.Scale, "parcels", d)
			}
			prevStation[st.cfg.ID] = s
		}
		for _, in := range a.inputs {
			s, p := in.in.Stats(), prevIn[in.cfg.ID]
			if d := s.Bounces - p.Bounces; d > 0 {
				a.log.Info("contact bounced (debounced away)", "input", in.cfg.ID, "bounces", d)
			}
			prevIn[in.cfg.ID] = s
		}
	}
}
