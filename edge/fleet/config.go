package fleet

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/countylink/countylink/contract"
)

// Edge is one simulated edge agent.
type Edge struct {
	Site  string // the site it belongs to (a township, a village point)
	Edge  string // its edge id, as in its topics
	Rooms []Room // cold rooms it reads, one reading each per ReadingEvery
	// Station is the scanner station whose parcel events it publishes;
	// empty for none.
	Station string
	// Sorts says the station is a township's sorting station: "sorted"
	// events with a route and a bin, and the site's sort plan followed.
	// Otherwise it is a village point's: "arrived" and "picked_up".
	Sorts bool
}

// Room is a cold room an edge reads, through device "<id>-th".
type Room struct {
	ID    string
	Class string // contract.ClassChilled, ClassFrozen, ClassMedicine or ClassCustom
}

// Producer is the edge's name in its client id and message ids: the edge
// id when it names its site already (tw01-e1), otherwise site-edge
// (tw01-v03-vp), so that it is unique in the whole fleet.
func (e Edge) Producer() string {
	if strings.HasPrefix(e.Edge, e.Site) {
		return e.Edge
	}
	return e.Site + "-" + e.Edge
}

// Device is the device id of room's transmitter.
func (r Room) Device() string { return r.ID + "-th" }

// Config is a fleet: where it connects, which edges, at which rates.
type Config struct {
	Broker   string // tcp://host:port (or mqtt://); TLS is not simulated
	Username string
	Password string
	Prefix   string // topic prefix, contract.DefaultPrefix by default

	Edges []Edge // the fleet, connected in this order

	ReadingEvery time.Duration // each room's reading period; 0 for none
	ScanEvery    time.Duration // mean pause between an edge's parcel events; 0 for none
	// Jitter spreads each reading period by up to ±Jitter of it (0.1:
	// ±10%), as the agents' clocks and polls do.
	Jitter float64

	// ConnectRate is the ramp: new connections started per second, as
	// edges coming back after a broker restart would. 0 starts them all
	// at once.
	ConnectRate float64
	QoS         byte // 0 or 1; the contract says 1

	ClientIDPrefix string        // put before each edge's producer name in its client id
	KeepAlive      time.Duration // MQTT keepalive, 30 s as the agent
	ConnectTimeout time.Duration // one connection attempt, CONNACK included
	// MaxReconnectInterval caps the pause between attempts after a
	// failed first connection or a lost one.
	MaxReconnectInterval time.Duration
	PublishTimeout       time.Duration // a QoS 1 publish not acknowledged by then is an error

	// AnswerCommands subscribes each edge to its commands and answers
	// them; off, the hub's pushes to edges coming online time out.
	AnswerCommands bool
	Agent          string // the agent name in the statuses

	Seed int64  // the readings', scans' and jitter's random source
	Boot uint64 // the boot number in message ids; 0: the start time in ms, unique across runs

	Log *slog.Logger // nil: nothing is logged
}

// DefaultConfig is a fleet at a county's rates: a reading of each room a
// minute, a parcel event every 15 minutes per edge, 1,000 new connections
// a second, QoS 1. Broker and Edges are left to the caller.
func DefaultConfig() Config {
	return Config{
		Prefix:               contract.DefaultPrefix,
		ReadingEvery:         time.Minute,
		ScanEvery:            15 * time.Minute,
		Jitter:               0.1,
		ConnectRate:          1000,
		QoS:                  1,
		KeepAlive:            30 * time.Second,
		ConnectTimeout:       30 * time.Second,
		MaxReconnectInterval: 30 * time.Second,
		PublishTimeout:       30 * time.Second,
		AnswerCommands:       true,
		Agent:                "fleetsim",
		Seed:                 1,
	}
}

// Validate checks the configuration and names each bad field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if u, err := url.Parse(c.Broker); err != nil || u.Host == "" || (u.Scheme != "tcp" && u.Scheme != "mqtt") {
		bad("broker", "%q must be tcp://host:port", c.Broker)
	}
	if c.Prefix == "" || strings.ContainsAny(c.Prefix, "+#") {
		bad("prefix", "%q must be set and hold no wildcard", c.Prefix)
	}
	if len(c.Edges) == 0 {
		bad("edges", "none")
	}
	seen := make(map[string]int, len(c.Edges))
	for i, e := range c.Edges {
		at := fmt.Sprintf("edges[%d] (%s/%s)", i, e.Site, e.Edge)
		if !contract.ValidID(e.Site) || !contract.ValidID(e.Edge) {
			bad(at, "site and edge must be valid ids")
		}
		if j, dup := seen[e.Producer()]; dup {
			bad(at, "producer %s is also edges[%d]'s: client and message ids would collide", e.Producer(), j)
		}
		seen[e.Producer()] = i
		if e.Station != "" && !contract.ValidID(e.Station) {
			bad(at, "station %q is not a valid id", e.Station)
		}
		rooms := map[string]bool{}
		for _, r := range e.Rooms {
			if !contract.ValidID(r.ID) || !contract.ValidID(r.Device()) || rooms[r.ID] {
				bad(at, "room %q invalid or repeated", r.ID)
			}
			rooms[r.ID] = true
		}
	}
	if c.ReadingEvery < 0 || c.ScanEvery < 0 {
		bad("reading_every, scan_every", "must not be negative (0 turns them off)")
	}
	if !(c.Jitter >= 0 && c.Jitter < 1) {
		bad("jitter", "%v must be 0 to below 1", c.Jitter)
	}
	if !(c.ConnectRate >= 0) {
		bad("connect_rate", "%v must not be negative", c.ConnectRate)
	}
	if c.QoS > 1 {
		bad("qos", "%d must be 0 or 1", c.QoS)
	}
	if len(c.ClientIDPrefix) > 64 {
		bad("client_id_prefix", "longer than 64 characters")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"keepalive", c.KeepAlive}, {"connect_timeout", c.ConnectTimeout},
		{"max_reconnect_interval", c.MaxReconnectInterval}, {"publish_timeout", c.PublishTimeout}} {
		if d.v < time.Second {
			bad(d.name, "%v is below 1s", d.v)
		}
	}
	return errors.Join(errs...)
}
