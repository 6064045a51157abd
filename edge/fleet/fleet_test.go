package fleet

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/sites"
)

func TestProvinceLayoutAndSitesFile(t *testing.T) {
	const n = 10_000
	edges := Province(n, 1)
	if len(edges) != n {
		t.Fatalf("%d edges, want %d", len(edges), n)
	}
	if !slices.EqualFunc(Province(100, 1), edges[:100], func(a, b Edge) bool { return a.Producer() == b.Producer() }) {
		t.Fatal("Province(100) is not the first 100 edges of Province(10000)")
	}
	list, err := sites.Parse(ProvinceSitesYAML(n, 1))
	if err != nil {
		t.Fatalf("the hub refuses the province's sites file: %v", err)
	}
	byID := map[string]hub.Site{}
	kinds := map[hub.SiteKind]int{}
	for _, s := range list {
		byID[s.ID] = s
		kinds[s.Kind]++
	}
	wantTownships := (n + ProvinceVillages) / (ProvinceVillages + 1)
	if kinds[hub.County] != 1 || kinds[hub.Township] != wantTownships || kinds[hub.Township]+kinds[hub.Village] != n {
		t.Fatalf("sites by kind %v, want 1 county, %d townships, %d edges' sites", kinds, wantTownships, n)
	}
	producers := map[string]bool{}
	for _, e := range edges {
		s, ok := byID[e.Site]
		if !ok {
			t.Fatalf("edge %s: site %s is not in the sites file", e.Edge, e.Site)
		}
		if len(s.Rooms) != len(e.Rooms) || s.Rooms[0].ID != e.Rooms[0].ID || s.Rooms[0].Class != e.Rooms[0].Class {
			t.Fatalf("site %s rooms %+v, edge reads %+v", s.ID, s.Rooms, e.Rooms)
		}
		if want := map[bool]hub.SiteKind{true: hub.Township, false: hub.Village}[e.Sorts]; s.Kind != want {
			t.Fatalf("edge %s at a %s, want a %s", e.Edge, s.Kind, want)
		}
		if producers[e.Producer()] {
			t.Fatalf("producer %s twice", e.Producer())
		}
		producers[e.Producer()] = true
	}
	// Several rooms, and no rooms at all, are files the hub takes too.
	for _, rooms := range []int{0, 3} {
		if _, err := sites.Parse(ProvinceSitesYAML(45, rooms)); err != nil {
			t.Errorf("%d rooms: %v", rooms, err)
		}
	}
}

func TestCountyLayout(t *testing.T) {
	var in []Site
	for _, s := range sites.Demo() {
		fs := Site{ID: s.ID, Kind: string(s.Kind)}
		for _, r := range s.Rooms {
			fs.Rooms = append(fs.Rooms, Room{ID: r.ID, Class: r.Class})
		}
		in = append(in, fs)
	}
	edges := FromSites(in)
	var townships, villages int
	for _, e := range edges {
		if e.Sorts {
			townships++
			if e.Edge != e.Site+"-e1" || e.Station != "st1" || len(e.Rooms) == 0 {
				t.Errorf("township edge %+v", e)
			}
		} else {
			villages++
			if e.Edge != "vp" || e.Station != "h1" || e.Producer() != e.Site+"-vp" {
				t.Errorf("village edge %+v", e)
			}
		}
	}
	if townships != 19 || villages != 303 {
		t.Fatalf("%d township edges and %d village point edges, want 19 and 303", townships, villages)
	}
	if edges[0].Site != "tw01" || edges[0].Rooms[1] != (Room{ID: "cr2", Class: "frozen"}) {
		t.Fatalf("first edge %+v, want tw01 with cr1 and cr2 (frozen)", edges[0])
	}
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	good.Broker, good.Edges = "tcp://127.0.0.1:1883", Province(3, 1)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		mutate func(*Config)
		field  string
	}{
		"tls":       {func(c *Config) { c.Broker = "ssl://127.0.0.1:8883" }, "broker"},
		"no edges":  {func(c *Config) { c.Edges = nil }, "edges"},
		"same edge": {func(c *Config) { c.Edges = append(c.Edges, c.Edges[1]) }, "also edges[1]"},
		"bad room":  {func(c *Config) { c.Edges = []Edge{{Site: "t1", Edge: "t1-e1", Rooms: []Room{{ID: "Cr1"}}}} }, "room"},
		"qos 2":     {func(c *Config) { c.QoS = 2 }, "qos"},
		"jitter":    {func(c *Config) { c.Jitter = 1 }, "jitter"},
		"keepalive": {func(c *Config) { c.KeepAlive = 0 }, "keepalive"},
	} {
		t.Run(name, func(t *testing.T) {
			c := good
			c.Edges = slices.Clone(good.Edges)
			tc.mutate(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %v, want one naming %s", err, tc.field)
			}
		})
	}
}

// collector subscribes to everything under the prefix and decodes every
// message as the hub does.
type collector struct {
	t      *testing.T
	mu     sync.Mutex
	ids    map[string]string // message id to its payload
	bad    []string
	status map[string]*contract.Status // producer to its latest status
	tele   map[string]int              // producer/room to readings
	events map[string][]*contract.ParcelEvent
	result map[string]*contract.Result // command id to its result
}

func collect(t *testing.T, url string) *collector {
	t.Helper()
	c := &collector{t: t, ids: map[string]string{}, status: map[string]*contract.Status{}, tele: map[string]int{},
		events: map[string][]*contract.ParcelEvent{}, result: map[string]*contract.Result{}}
	cl := connect(t, url, "fleet-test-collector")
	if tok := cl.Subscribe(contract.DefaultPrefix+"/#", 1, c.handle); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return c
}

func connect(t *testing.T, url, id string) mqtt.Client {
	t.Helper()
	cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetOrderMatters(false))
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { cl.Disconnect(100) })
	return cl
}

func (c *collector) handle(_ mqtt.Client, m mqtt.Message) {
	tp, msg, err := contract.Decode(contract.DefaultPrefix, m.Topic(), m.Payload())
	if tp.Kind == contract.KindCommand {
		return // the test's own commands
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.bad = append(c.bad, fmt.Sprintf("%s: %v: %s", m.Topic(), err, m.Payload()))
		return
	}
	producer := Edge{Site: tp.Site, Edge: tp.Edge}.Producer()
	var id string
	switch v := msg.(type) {
	case *contract.Status:
		id = v.ID
		c.status[producer] = v
	case *contract.Telemetry:
		id = v.ID
		c.tele[producer+"/"+v.Room]++
		if v.Device != v.Room+"-th" || v.Fields["temperature"] < -30 || v.Fields["temperature"] > 8 || v.Units["temperature"] != "Cel" {
			c.bad = append(c.bad, fmt.Sprintf("%s: implausible reading %s", m.Topic(), m.Payload()))
		}
	case *contract.ParcelEvent:
		id = v.ID
		c.events[producer] = append(c.events[producer], v)
	case *contract.Result:
		id = v.ID
		c.result[v.Command] = v
	}
	if !strings.HasPrefix(id, producer+"-") {
		c.bad = append(c.bad, fmt.Sprintf("%s: id %s is not the producer %s's", m.Topic(), id, producer))
	}
	// QoS 1 may deliver a message twice; an id must never stand for two.
	if p, seen := c.ids[id]; seen && p != string(m.Payload()) && !m.Retained() {
		c.bad = append(c.bad, fmt.Sprintf("id %s used twice:\n%s\n%s", id, p, m.Payload()))
	}
	c.ids[id] = string(m.Payload())
}

// retainedStatuses subscribes afresh and returns the retained statuses by
// producer once there are want of them.
func retainedStatuses(t *testing.T, url, id string, want int) map[string]*contract.Status {
	t.Helper()
	var mu sync.Mutex
	got := map[string]*contract.Status{}
	cl := connect(t, url, id)
	cl.Subscribe(contract.DefaultPrefix+"/+/+/status", 1, func(_ mqtt.Client, m mqtt.Message) {
		if !m.Retained() {
			return // published since: the retained one came before it
		}
		tp, msg, err := contract.Decode(contract.DefaultPrefix, m.Topic(), m.Payload())
		if err != nil {
			t.Errorf("retained status %s: %v", m.Topic(), err)
			return
		}
		mu.Lock()
		got[Edge{Site: tp.Site, Edge: tp.Edge}.Producer()] = msg.(*contract.Status)
		mu.Unlock()
	}).Wait()
	waitUntil(t, 15*time.Second, fmt.Sprintf("%d retained statuses", want), func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= want
	})
	cl.Disconnect(100)
	mu.Lock()
	defer mu.Unlock()
	return got
}

func waitUntil(t *testing.T, timeout time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runFleet runs a fleet of cfg until the test ends and waits for every
// edge to connect; done is closed when Run has returned.
func runFleet(t *testing.T, cfg Config) (f *Fleet, cancel context.CancelFunc, done <-chan struct{}) {
	t.Helper()
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	done = stopped
	go func() {
		defer close(stopped)
		if err := f.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-f.AllConnected():
	case <-time.After(30 * time.Second):
		t.Fatalf("not every edge connected within 30 s: %s", f.Stats())
	}
	return f, cancel, done
}

// TestFleetOnMosquitto connects 200 simulated edges to the deployed
// Mosquitto configuration: each says online (retained), reads its rooms
// and scans parcels with payloads the hub's decoder accepts, answers
// commands; then the fleet is killed and the brokers' last wills leave
// every edge offline.
func TestFleetOnMosquitto(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Mosquitto")
	}
	broker := testenv.StartMosquitto(t)
	col := collect(t, broker.URL())

	const n = 200
	cfg := DefaultConfig()
	cfg.Broker, cfg.Edges = broker.URL(), Province(n, 2)
	cfg.ReadingEvery, cfg.ScanEvery, cfg.ConnectRate = 300*time.Millisecond, 400*time.Millisecond, 500
	f, _, done := runFleet(t, cfg)

	waitUntil(t, 30*time.Second, "every edge online, with readings of each room and parcel events", func() bool {
		col.mu.Lock()
		defer col.mu.Unlock()
		for _, e := range cfg.Edges {
			if s := col.status[e.Producer()]; s == nil || s.State != contract.StateOnline {
				return false
			}
			for _, r := range e.Rooms {
				if col.tele[e.Producer()+"/"+r.ID] < 2 {
					return false
				}
			}
			if len(col.events[e.Producer()]) == 0 {
				return false
			}
		}
		return true
	})

	// Commands are answered, an unknown one with ok false.
	hubc := connect(t, broker.URL(), "fleet-test-hub")
	e := cfg.Edges[1]
	for _, c := range []contract.Command{{V: 1, ID: "hub-test-1", Name: "ping"}, {V: 1, ID: "hub-test-2", Name: "reboot"}} {
		c.TS = time.Now().UTC()
		p, _ := contract.Encode(c)
		hubc.Publish(contract.CommandTopic(contract.DefaultPrefix, e.Site, e.Edge, c.Name), 1, false, p).Wait()
	}
	waitUntil(t, 10*time.Second, "results of both commands", func() bool {
		col.mu.Lock()
		defer col.mu.Unlock()
		return col.result["hub-test-1"] != nil && col.result["hub-test-2"] != nil
	})

	col.mu.Lock()
	if len(col.bad) > 0 {
		t.Errorf("%d bad messages, the first: %s", len(col.bad), strings.Join(col.bad[:min(5, len(col.bad))], "\n"))
	}
	if r := col.result["hub-test-1"]; !r.OK || r.Edge != e.Edge || !strings.Contains(string(r.Data), `"boot"`) {
		t.Errorf("ping result %+v", r)
	}
	if r := col.result["hub-test-2"]; r.OK || r.Error == "" {
		t.Errorf("unknown command result %+v", r)
	}
	sortedSeen, villageSeen := 0, 0
	for _, e := range cfg.Edges {
		for _, ev := range col.events[e.Producer()] {
			if ev.Station != e.Station {
				t.Errorf("%s: event at station %s", e.Producer(), ev.Station)
			}
			switch {
			case e.Sorts && ev.Kind == contract.EventSorted:
				sortedSeen++
				if ev.Bin == "" || (ev.Route == "" && ev.Exception == "") || ev.PlanVersion == "" {
					t.Errorf("%s: sorted event without its decision: %+v", e.Producer(), ev)
				}
			case !e.Sorts && (ev.Kind == contract.EventArrived || ev.Kind == contract.EventPickedUp):
				villageSeen++
			default:
				t.Errorf("%s (sorts %v): event kind %s", e.Producer(), e.Sorts, ev.Kind)
			}
		}
	}
	col.mu.Unlock()
	if sortedSeen == 0 || villageSeen == 0 {
		t.Errorf("%d sorted and %d village events", sortedSeen, villageSeen)
	}

	online := retainedStatuses(t, broker.URL(), "fleet-test-retained-1", n)
	for _, e := range cfg.Edges {
		if s := online[e.Producer()]; s == nil || s.State != contract.StateOnline || s.Agent != cfg.Agent || len(s.Devices) != 2 {
			t.Errorf("%s: retained status %+v, want online with its 2 devices", e.Producer(), s)
		}
	}
	st := f.Stats()
	if st.Connected != n || st.EverConnected != n || st.ConnectLatency.N != n || st.ConnectLatency.P50 <= 0 || st.Errors() != 0 ||
		st.Readings == 0 || st.Events == 0 || st.Statuses < n || st.Results < 2 {
		t.Errorf("stats: %s", st)
	}
	t.Logf("before the kill: %s", st)

	f.Kill()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return within 20 s of Kill")
	}
	waitUntil(t, 15*time.Second, "every retained status offline", func() bool {
		for _, s := range retainedStatuses(t, broker.URL(), "fleet-test-retained-2", n) {
			if s.State != contract.StateOffline {
				return false
			}
		}
		return true
	})
	for p, s := range retainedStatuses(t, broker.URL(), "fleet-test-retained-3", n) {
		if s.ID != contract.MessageID(p, f.Boot(), 0) {
			t.Errorf("%s: offline status %s is not the last will", p, s.ID)
		}
	}
	if st := f.Stats(); st.Connected != 0 {
		t.Errorf("after the kill: %s", st)
	}
}

// TestFleetStopSaysOffline stops a fleet cleanly: each edge publishes its
// own offline status (a clean disconnect fires no will).
func TestFleetStopSaysOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Mosquitto")
	}
	broker := testenv.StartMosquitto(t)
	cfg := DefaultConfig()
	cfg.Broker, cfg.Edges, cfg.ConnectRate, cfg.ClientIDPrefix = broker.URL(), FromSites([]Site{
		{ID: "tw01", Kind: "township", Rooms: []Room{{ID: "cr1", Class: "chilled"}}},
		{ID: "tw01-v01", Kind: "village"}, {ID: "tw01-v02", Kind: "village"},
	}), 0, "sim-"
	f, cancel, done := runFleet(t, cfg)
	waitUntil(t, 10*time.Second, "three online statuses published", func() bool { return f.Stats().Statuses == 3 })
	for p, s := range retainedStatuses(t, broker.URL(), "fleet-test-before", 3) {
		if s.State != contract.StateOnline {
			t.Errorf("%s: status %+v, want online", p, s)
		}
	}
	cancel()
	<-done
	for p, s := range retainedStatuses(t, broker.URL(), "fleet-test-after", 3) {
		if s.State != contract.StateOffline || s.ID == contract.MessageID(p, f.Boot(), 0) {
			t.Errorf("%s: status %+v, want the edge's own offline status", p, s)
		}
	}
	if st := f.Stats(); st.Connected != 0 || st.Errors() != 0 || st.Statuses != 6 {
		t.Errorf("stats: %s", st)
	}
}
