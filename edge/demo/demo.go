// Package demo builds simulated township warehouses: the field devices of
// package sim on their real transports (Modbus TCP, Modbus RTU over a
// pseudo-terminal, scales and scanners on TCP sockets, simulated GPIO
// lines), the edge agent configuration that reads them, and simulated
// staff who sort parcels at the scanner stations. `make run` and the
// memory benchmark use it; nothing in a real installation does.
//
// RunCounty plays the hub's county around the warehouses, in compressed
// time (Clock): trucks bring parcels with their manifests, a coordinator
// bot per township sends vans out through the hub's API, village points
// scan the parcels in and weigh farm produce over MQTT, the townships ship
// the produce, and the village points of rollout phase 3 go live midway
// (DayConfig).
package demo

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/edge/config"
	"github.com/countylink/countylink/edge/gpio"
	"github.com/countylink/countylink/edge/modbus"
	"github.com/countylink/countylink/edge/scale"
	"github.com/countylink/countylink/edge/sim"
)

// Room is a cold room to simulate.
type Room struct {
	ID       string
	Setpoint float64 // °C
}

// Options describe one township warehouse.
type Options struct {
	Site   string
	Rooms  []Room
	Broker string // the agent's broker URL
	// TLS is the agent's certificate, key and CA for a broker that wants
	// them (ssl://); see Credentials.
	TLS      config.TLS
	StateDir string        // the agent's state directory
	Interval time.Duration // Modbus poll interval; default 5s
	Speed    float64       // simulated seconds per real second for the cold rooms; default 30
	Stations int           // scanner stations, 0 to 2
	Villages int           // village routes of the sort plan; default 8
	// ParcelEvery is the mean time between two parcels at a station;
	// default 5s.
	ParcelEvery time.Duration
	// Parcels is how many parcels the manifest announces ahead; the
	// staff go round them again when they run out. Default 2000.
	Parcels int

	// Plan, when set, is the warehouse's sort plan (the county demo's,
	// built from the hub's sites), written to the state directory for the
	// agent's start. There is then no manifest ahead: the staff scan the
	// parcels Unload gives them, as trucks bring them, and wait when
	// there are none. Villages and Parcels are then unused.
	Plan *contract.SortPlan
	// Bins are bins to give a lamp at every station beside the plan's:
	// the bins of the plan versions to come.
	Bins []string
	// Carry is how long staff take at least to carry a parcel to its bin
	// and press confirm, in queue mode (Plan set); default 1 s, which the
	// station's weighing needs. Without Plan they take 0.8 to 2.3 s.
	Carry time.Duration
	// OnScan, when set, is called for each parcel the staff scanned, in
	// queue mode.
	OnScan func(station string, p sim.Parcel)
}

// Warehouse is a running simulated warehouse.
type Warehouse struct {
	opt     Options
	cfg     config.Config
	plan    *contract.SortPlan
	parcels []sim.Parcel

	rooms    []*sim.ColdRoom
	stations []*station
	closers  []io.Closer

	// The parcels unloaded from the trucks, waiting for the staff (queue
	// mode); more is closed and replaced when parcels come.
	qmu   sync.Mutex
	queue []sim.Parcel
	more  chan struct{}
}

// station is one scanner station's simulated hardware.
type station struct {
	id      string
	scanner *sim.ScannerServer
	scale   *sim.Scale
	pins    string   // prefix of its pins' names
	bins    []string // the bins it has a lamp for
	rng     *rand.Rand
}

// Config is the edge agent configuration that reads the warehouse.
func (w *Warehouse) Config() config.Config { return w.cfg }

// Plan is the warehouse's sort plan.
func (w *Warehouse) Plan() *contract.SortPlan { return w.plan }

// ManifestCSV is the warehouse's courier manifest as a CSV file: the
// parcels the staff will scan, with their destination villages.
func (w *Warehouse) ManifestCSV() []byte {
	var b strings.Builder
	b.WriteString("waybill,carrier,village\n")
	for _, p := range w.parcels {
		if p.Village != "" {
			fmt.Fprintf(&b, "%s,%s,%s\n", p.Waybill, p.Carrier, p.Village)
		}
	}
	return []byte(b.String())
}

// Close stops every simulator.
func (w *Warehouse) Close() error {
	var errs []error
	for i := len(w.closers) - 1; i >= 0; i-- {
		errs = append(errs, w.closers[i].Close())
	}
	return errors.Join(errs...)
}

func seed(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// New starts the simulators of a warehouse, writes its sort plan and
// manifest into the state directory, and returns it with the agent
// configuration that reads it. The simulated rooms run until ctx ends.
func New(ctx context.Context, opt Options) (*Warehouse, error) {
	if opt.Interval == 0 {
		opt.Interval = 5 * time.Second
	}
	if opt.Speed == 0 {
		opt.Speed = 30
	}
	if opt.Villages == 0 {
		opt.Villages = 8
	}
	if opt.ParcelEvery == 0 {
		opt.ParcelEvery = 5 * time.Second
	}
	if opt.Parcels == 0 {
		opt.Parcels = 2000
	}
	if opt.Stations < 0 || opt.Stations > 2 {
		return nil, fmt.Errorf("demo: %d stations, want 0 to 2", opt.Stations)
	}
	w := &Warehouse{opt: opt}
	ok := false
	defer func() {
		if !ok {
			w.Close()
		}
	}()
	cfg := config.Default()
	cfg.Site, cfg.Edge = opt.Site, opt.Site+"-e1"
	cfg.StateDir = opt.StateDir
	cfg.MQTT.Broker = opt.Broker
	cfg.MQTT.TLS = opt.TLS
	cfg.StatusInterval = time.Minute
	pins := opt.Site + "-"

	// Every room has a transmitter behind the warehouse's Modbus TCP
	// gateway; the first also has its controller on the RS-485 line.
	gw, err := sim.NewModbusTCPServer("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w.closers = append(w.closers, gw)
	for i, r := range opt.Rooms {
		room, err := newRoom(opt.Site+"/"+r.ID, r.Setpoint)
		if err != nil {
			return nil, err
		}
		w.rooms = append(w.rooms, room)
		unit := byte(i + 1)
		bank := sim.NewBank()
		room.WriteTo(bank, sim.LayoutRenke)
		gw.Attach(unit, bank)
		cfg.Devices = append(cfg.Devices, config.Device{ID: r.ID + "-th", Room: r.ID, Profile: "th-renke",
			Address: gw.Addr(), Unit: int(unit), Interval: opt.Interval, Timeout: min(time.Second, opt.Interval), Retries: 1})
		door := pins + r.ID + "-door"
		gpio.Sim(door).Drive(pgpio.Low)
		cfg.Inputs = append(cfg.Inputs, config.Input{ID: r.ID + "-door", Pin: gpio.SimPrefix + door, Kind: "door", Room: r.ID})
		if i == 0 {
			master, slave, err := sim.OpenPTY()
			if err != nil {
				return nil, err
			}
			rtu := sim.NewRTUServer(master)
			w.closers = append(w.closers, rtu, slave)
			ctrl, err := sim.NewColdRoomController(room, sim.DefaultColdRoomControllerConfig())
			if err != nil {
				return nil, err
			}
			rtu.Attach(1, ctrl.Bank())
			bus := config.Bus{ID: "rs485-1", RTUConfig: busConfig(slave.Name())}
			cfg.Buses = append(cfg.Buses, bus)
			cfg.Devices = append(cfg.Devices, config.Device{ID: r.ID + "-ctl", Room: r.ID, Profile: "coldroom-ctrl",
				Transport: "rtu", Bus: bus.ID, Unit: 1, Interval: opt.Interval})
			go ctrl.Run(ctx, 500*time.Millisecond, opt.Speed)
			go runRoom(ctx, room, bank, gpio.Sim(door), 500*time.Millisecond, 0) // the controller steps the room
		} else {
			go runRoom(ctx, room, bank, gpio.Sim(door), 500*time.Millisecond, opt.Speed)
		}
	}

	if opt.Stations > 0 {
		if err := w.addStations(&cfg, pins); err != nil {
			return nil, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("demo %s: %w", opt.Site, err)
	}
	w.cfg = cfg
	ok = true
	return w, nil
}

func newRoom(name string, setpoint float64) (*sim.ColdRoom, error) {
	cfg := sim.DefaultColdRoomConfig()
	cfg.Seed = seed(name)
	cfg.Setpoint = setpoint
	if setpoint < -10 {
		cfg.Band, cfg.Ambient, cfg.CoolingPerHour = 1.5, 18, 20
	}
	room, err := sim.NewColdRoom(cfg)
	if err != nil {
		return nil, err
	}
	// Start each room at its own point of the compressor cycle.
	for i := uint64(0); i < cfg.Seed%180; i++ {
		room.Step(time.Minute)
	}
	return room, nil
}

// runRoom writes a room's transmitter registers and its door contact every
// tick, first stepping the room by tick×speed of simulated time; a speed
// of 0 leaves the stepping to the room's controller.
func runRoom(ctx context.Context, room *sim.ColdRoom, bank *sim.Bank, door *gpio.SimPin, tick time.Duration, speed float64) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		if speed > 0 {
			room.Step(time.Duration(float64(tick) * speed))
		}
		room.WriteTo(bank, sim.LayoutRenke)
		setDoor(door, room.DoorOpen())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func setDoor(p *gpio.SimPin, open bool) {
	l := pgpio.Low
	if open {
		l = pgpio.High
	}
	if p.State().Level != l {
		p.Drive(l)
	}
}

// busConfig is the RS-485 line: the factory 9600 8N1 of most sensors.
func busConfig(port string) modbus.RTUConfig {
	c := modbus.DefaultRTUConfig()
	c.Device = port
	return c
}

// addStations sets up the scanner stations, the sort plan and, without
// Options.Plan, the manifest.
func (w *Warehouse) addStations(cfg *config.Config, pins string) error {
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return err
	}
	plan := w.opt.Plan
	if plan == nil {
		if err := w.listParcels(cfg); err != nil {
			return err
		}
		plan = w.plan
	} else {
		if err := plan.Check(); err != nil {
			return fmt.Errorf("demo %s: %w", w.opt.Site, err)
		}
		w.plan = plan
		w.more = make(chan struct{})
		// A manifest left by an earlier run would announce old parcels.
		if err := os.Remove(filepath.Join(cfg.StateDir, "manifest.csv")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	b, _ := json.Marshal(plan)
	if err := os.WriteFile(filepath.Join(cfg.StateDir, "sortplan.json"), b, 0o644); err != nil {
		return err
	}

	formats := []sim.ScaleFormat{sim.ScaleXK3190, sim.ScaleToledo}
	for i, id := range []string{sim.DemoStation1, sim.DemoStation2}[:w.opt.Stations] {
		sc := sim.DefaultScaleConfig()
		sc.Seed = seed(w.opt.Site + id)
		sc.Format = formats[i]
		sc.Checksum = true
		scl, err := sim.NewScale(sc)
		if err != nil {
			return err
		}
		ss, err := sim.NewStreamServer("127.0.0.1:0", scl.Run)
		if err != nil {
			return err
		}
		w.closers = append(w.closers, ss)
		scn, err := sim.NewScannerServer("127.0.0.1:0")
		if err != nil {
			return err
		}
		w.closers = append(w.closers, scn)
		st := &station{id: id, scanner: scn, scale: scl, pins: pins + id + "-", rng: rand.New(rand.NewPCG(seed(w.opt.Site+id), 1))}
		w.stations = append(w.stations, st)

		format := scale.XK3190
		if sc.Format == sim.ScaleToledo {
			format = scale.ToledoChecksum
		}
		scaleCfg := config.Scale{ID: id + "-scale", Address: ss.Addr()}
		scaleCfg.Line.Baud, scaleCfg.Line.DataBits, scaleCfg.Line.Parity = 9600, 8, "none"
		scaleCfg.Config.Format = format
		scaleCfg.Config.Division, scaleCfg.Config.StableDivisions, scaleCfg.Config.StableFor = 0.005, 2, 300*time.Millisecond
		cfg.Scales = append(cfg.Scales, scaleCfg)
		cfg.Scanners = append(cfg.Scanners, config.Scanner{ID: id + "-scan", Kind: "tcp", Address: scn.Addr()})
		stc := config.Station{ID: id, Scanner: id + "-scan", Scale: id + "-scale", Buzzer: id + "-buzz", Confirm: id + "-ok",
			Lamps: map[string]string{}, LampFor: 8 * time.Second, WeighFor: 2 * time.Second}
		bins := []string{plan.ExceptionBin[id]}
		for _, bin := range plan.Stations[id] {
			bins = append(bins, bin)
		}
		bins = append(bins, w.opt.Bins...)
		slices.Sort(bins)
		bins = slices.Compact(bins)
		for _, bin := range bins {
			if bin == "" {
				continue
			}
			out := id + "-" + bin
			stc.Lamps[bin] = out
			st.bins = append(st.bins, bin)
			cfg.Outputs = append(cfg.Outputs, config.Output{ID: out, Pin: gpio.SimPrefix + st.pins + bin})
		}
		cfg.Outputs = append(cfg.Outputs, config.Output{ID: id + "-buzz", Pin: gpio.SimPrefix + st.pins + "buzz"})
		gpio.Sim(st.pins + "ok").Drive(pgpio.High)
		cfg.Inputs = append(cfg.Inputs, config.Input{ID: id + "-ok", Pin: gpio.SimPrefix + st.pins + "ok", Kind: "button", ActiveLow: true})
		cfg.Stations = append(cfg.Stations, stc)
	}
	return nil
}

// listParcels builds the plan of DemoSortPlan's villages and the parcels
// the staff go round, with the manifest announcing them ahead.
func (w *Warehouse) listParcels(cfg *config.Config) error {
	villages := slices.Clone(villageNames)
	if w.opt.Villages < len(villages) {
		villages = villages[:w.opt.Villages]
	}
	plan, err := sim.DemoSortPlan(w.opt.Site, villages...)
	if err != nil {
		return err
	}
	plan.Version = "demo-" + w.opt.Site
	w.plan = plan
	gen, err := sim.NewParcels(plan, sim.ParcelsConfig{Seed: seed(w.opt.Site), Unknown: 0.02, Outside: 0.03})
	if err != nil {
		return err
	}
	var manifest strings.Builder
	manifest.WriteString("# demo manifest: waybill,village\n")
	for range w.opt.Parcels {
		p := gen.Next()
		w.parcels = append(w.parcels, p)
		if p.Village != "" {
			fmt.Fprintf(&manifest, "%s,%s\n", p.Waybill, p.Village)
		}
	}
	return os.WriteFile(filepath.Join(cfg.StateDir, "manifest.csv"), []byte(manifest.String()), 0o644)
}

// villageNames are the demo's villages, eight per township at most.
var villageNames = []string{"李家村", "王庄", "张湾村", "刘家坝", "陈家沟", "杨柳村", "赵家岭", "黄土坡"}

// Unload puts parcels off a truck at the stations, in order, for the
// staff to scan (queue mode: Options.Plan set).
func (w *Warehouse) Unload(ps []sim.Parcel) {
	if w.more == nil || len(ps) == 0 {
		return
	}
	w.qmu.Lock()
	w.queue = append(w.queue, ps...)
	close(w.more)
	w.more = make(chan struct{})
	w.qmu.Unlock()
}

// Waiting is how many unloaded parcels the staff have not taken yet.
func (w *Warehouse) Waiting() int {
	w.qmu.Lock()
	defer w.qmu.Unlock()
	return len(w.queue)
}

// take gives the next unloaded parcel, waiting for one until ctx ends.
func (w *Warehouse) take(ctx context.Context) (sim.Parcel, bool) {
	for {
		w.qmu.Lock()
		if len(w.queue) > 0 {
			p := w.queue[0]
			w.queue[0] = sim.Parcel{}
			w.queue = w.queue[1:]
			w.qmu.Unlock()
			return p, true
		}
		more := w.more
		w.qmu.Unlock()
		select {
		case <-ctx.Done():
			return sim.Parcel{}, false
		case <-more:
		}
	}
}

// Staff runs the simulated staff of every station until ctx ends: each
// puts a parcel on the scale, scans it, waits for a lamp, carries it to
// the bin and presses confirm, then takes the next. seeLamps false is for
// an agent in another process, whose lamps cannot be seen from here: the
// staff then pause instead of waiting for the lamp and do not confirm.
// Without Options.Plan the staff go round the parcels of the manifest;
// with it they take the parcels Unload gives them.
func (w *Warehouse) Staff(ctx context.Context, seeLamps bool) {
	var wg sync.WaitGroup
	for i, st := range w.stations {
		var next func(context.Context) (sim.Parcel, bool)
		carry := [2]time.Duration{800 * time.Millisecond, 2300 * time.Millisecond}
		if w.opt.Plan != nil {
			next = w.take
			c := cmp.Or(w.opt.Carry, time.Second)
			carry = [2]time.Duration{c, c + c/2}
		} else {
			n := i
			next = func(context.Context) (sim.Parcel, bool) {
				p := w.parcels[n%len(w.parcels)]
				n += len(w.stations)
				return p, true
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st.work(ctx, next, w.opt.ParcelEvery, carry, seeLamps, w.opt.OnScan)
		}()
	}
	wg.Wait()
}

// work is one station's staff: next gives the parcels, every is the mean
// pause between two, carry the time to carry one to its bin.
func (st *station) work(ctx context.Context, next func(context.Context) (sim.Parcel, bool), every time.Duration,
	carry [2]time.Duration, seeLamps bool, onScan func(string, sim.Parcel)) {
	if st.scanner.WaitClient(ctx) != nil {
		return
	}
	sleep := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	lamps := make([]*gpio.SimPin, len(st.bins))
	for i, bin := range st.bins {
		lamps[i] = gpio.Sim(st.pins + bin)
	}
	highs := func() uint64 {
		var n uint64
		for _, l := range lamps {
			n += l.State().Highs
		}
		return n
	}
	for ctx.Err() == nil {
		p, ok := next(ctx)
		if !ok {
			return
		}
		kg := 0.2 + st.rng.Float64()*st.rng.Float64()*12 // mostly small parcels
		st.scale.Place(float64(int(kg*100))/100, 300*time.Millisecond)
		if !sleep(150 * time.Millisecond) {
			return
		}
		before := highs()
		switch n := st.rng.IntN(100); {
		case n < 2:
			st.scanner.SendNoise(sim.ScanGarbage) // a scanner misread
		case n < 6:
			st.scanner.SendRepeated(p.Waybill, 2) // read twice under the beam: one scan
		}
		if err := st.scanner.Send(p.Waybill); err != nil {
			if !sleep(time.Second) {
				return
			}
			continue
		}
		if onScan != nil {
			onScan(st.id, p)
		}
		if seeLamps {
			// Whichever bin the station lights: the staff follow the lamp.
			lit := false
			for deadline := time.Now().Add(5 * time.Second); !lit && time.Now().Before(deadline); {
				if lit = highs() > before; !lit && !sleep(20*time.Millisecond) {
					return
				}
			}
			if lit && sleep(carry[0]+time.Duration(st.rng.Int64N(int64(carry[1]-carry[0])+1))) {
				gpio.Sim(st.pins+"ok").Pulse(ctx, pgpio.Low, 120*time.Millisecond)
			}
		}
		st.scale.Set(0)
		half := every / 2
		if !sleep(half + time.Duration(st.rng.Int64N(int64(every)+1))) {
			return
		}
	}
}
