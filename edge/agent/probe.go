package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/countylink/countylink/edge/config"
	"github.com/countylink/countylink/edge/gpio"
	"github.com/countylink/countylink/edge/scanner"
	"github.com/countylink/countylink/edge/waybill"
)

// ProbeOptions tune Probe.
type ProbeOptions struct {
	ScanWait  time.Duration // how long to wait for a scan at each scanner; 0 skips the scanners
	LampFor   time.Duration // how long each output is switched on; 0 skips the outputs
	ScaleWait time.Duration // how long each scale's line is read; default 3s
}

// Probe is the installer's check at the box: it asks every configured
// device once, over its real transport, and writes what each answered to
// w, one line per device, without connecting to the broker or touching
// the queue. Each output is switched on in turn so that a person can see
// which lamp it is; each scanner waits for a scan. It returns the number
// of devices that failed. The agent service must be stopped first: a
// serial port has one owner.
func Probe(ctx context.Context, cfg config.Config, w io.Writer, opt ProbeOptions) int {
	if opt.ScaleWait == 0 {
		opt.ScaleWait = 3 * time.Second
	}
	a := &Agent{cfg: cfg, log: slog.New(slog.DiscardHandler)}
	defer a.closeOutputs()
	defer func() {
		for _, b := range a.buses {
			b.Close()
		}
	}()
	if err := a.build(); err != nil {
		fmt.Fprintf(w, "FAIL configuration: %v\n", err)
		return 1
	}
	failed := 0
	report := func(ok bool, kind, id, format string, args ...any) {
		mark := "ok  "
		if !ok {
			mark = "FAIL"
			failed++
		}
		fmt.Fprintf(w, "%s %-8s %-12s %s\n", mark, kind, id, fmt.Sprintf(format, args...))
	}

	for _, d := range a.devices {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		rd, err := d.dev.Poll(pctx)
		cancel()
		where := d.cfg.Address
		if d.cfg.Transport == "rtu" {
			where = d.cfg.Bus
		}
		if err != nil {
			report(false, "modbus", d.cfg.ID, "%s unit %d (%s): %v", where, d.cfg.Unit, d.cfg.Profile, err)
			continue
		}
		var parts []string
		for _, f := range slices.Sorted(maps.Keys(rd.Fields)) {
			parts = append(parts, fmt.Sprintf("%s=%g%s", f, rd.Fields[f], unitSuffix(rd.Units[f])))
		}
		for _, f := range slices.Sorted(maps.Keys(rd.Faults)) {
			parts = append(parts, fmt.Sprintf("%s: %s", f, rd.Faults[f]))
		}
		report(len(rd.Faults) == 0, "modbus", d.cfg.ID, "%s unit %d (%s): %s", where, d.cfg.Unit, d.cfg.Profile, strings.Join(parts, " "))
	}

	var wg sync.WaitGroup
	sctx, cancel := context.WithTimeout(ctx, opt.ScaleWait)
	for _, s := range a.scales {
		wg.Add(1)
		go func() { defer wg.Done(); s.run(sctx) }()
	}
	if len(a.scales) > 0 {
		<-sctx.Done()
	}
	cancel()
	wg.Wait()
	for _, s := range a.scales {
		st := s.Stats()
		last := s.last()
		bad := st.Framing + st.Checksum + st.Garbage
		switch {
		case st.Frames == 0:
			report(false, "scale", s.cfg.ID, "no frame in %v (%s; check baud, parity and that the indicator is in continuous mode): %s",
				opt.ScaleWait, s.cfg.Format, s.errText)
		default:
			report(true, "scale", s.cfg.ID, "%.3f kg stable=%v motion=%v overload=%v; %d frames, %d bad", last.Weight, last.Stable || last.Settled,
				last.Motion, last.Overload, st.Frames, bad)
		}
	}

	for _, in := range a.inputs {
		ictx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		ch := make(chan gpio.Event, 4)
		err := in.in.Run(ictx, ch)
		cancel()
		select {
		case ev := <-ch:
			state := map[bool]string{false: "released", true: "pressed"}
			if in.cfg.Kind == "door" {
				state = map[bool]string{false: "closed", true: "open"}
			}
			report(true, "input", in.cfg.ID, "%s %s: %s", in.cfg.Kind, in.cfg.Pin, state[ev.Active])
		default:
			report(false, "input", in.cfg.ID, "%s: no state read: %v", in.cfg.Pin, err)
		}
	}

	if opt.LampFor > 0 {
		for _, oc := range a.cfg.Outputs {
			o := a.outputs[oc.ID]
			fmt.Fprintf(w, "     output   %-12s %s on for %v: look\n", oc.ID, oc.Pin, opt.LampFor)
			o.Set(gpio.Mode{On: true, For: opt.LampFor})
			select {
			case <-ctx.Done():
			case <-time.After(opt.LampFor + 200*time.Millisecond):
			}
			if err := o.Err(); err != nil {
				report(false, "output", oc.ID, "%s: %v", oc.Pin, err)
			}
		}
	}

	if opt.ScanWait > 0 {
		for _, sc := range a.cfg.Scanners {
			fmt.Fprintf(w, "     scanner  %-12s scan a parcel within %v\n", sc.ID, opt.ScanWait)
			sctx, cancel := context.WithTimeout(ctx, opt.ScanWait)
			out := make(chan scanner.Scan, 1)
			done := make(chan struct{})
			go func() { defer close(done); a.newScanner(sc).Run(sctx, out) }()
			select {
			case s := <-out:
				wb := waybill.Parse(s.Code)
				carrier := "unknown carrier"
				if !wb.Unknown {
					carrier = wb.Carrier.String()
				}
				report(true, "scanner", sc.ID, "read %q (%s)", wb.Code, carrier)
			case <-sctx.Done():
				st := a.scanCounts.Source(sc.ID)
				report(false, "scanner", sc.ID, "no scan in %v (%d noise lines, %d errors)", opt.ScanWait, st.Noise, st.Errors)
			}
			cancel()
			<-done
		}
	}

	if len(a.stations) > 0 {
		if v := a.planVersion(); v != "" {
			fmt.Fprintf(w, "ok   plan     %-12s version %s, %d parcels in the manifest\n", "sortplan", v, a.manifest.size())
		} else {
			fmt.Fprintf(w, "FAIL plan     %-12s no sort plan at %s: the stations light no bin until the hub sends one\n", "sortplan", a.cfg.SortPlan)
			failed++
		}
	}
	return failed
}

func unitSuffix(u string) string {
	switch u {
	case "":
		return ""
	case "Cel":
		return "°C"
	}
	return " " + u
}
