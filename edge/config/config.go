// Package config is the edge agent's configuration: a typed struct read from
// YAML, its defaults, and validation that names the bad field and its line.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/edge/modbus"
	"github.com/countylink/countylink/edge/scale"
	"github.com/countylink/countylink/edge/uplink"
)

// Config is one edge agent's configuration.
type Config struct {
	Site       string `yaml:"site"`        // site id, e.g. tw01
	Edge       string `yaml:"edge"`        // edge id, unique in the county, e.g. tw01-e1
	StateDir   string `yaml:"state_dir"`   // where the agent keeps its boot counter (and later its queue)
	ProfileDir string `yaml:"profile_dir"` // extra device profiles; built-in ones are always available
	LogLevel   string `yaml:"log_level"`   // debug, info, warn, error

	MQTT     MQTT      `yaml:"mqtt"`
	Buses    []Bus     `yaml:"buses"`    // RS-485 lines carrying Modbus RTU slaves
	Devices  []Device  `yaml:"devices"`  // Modbus devices, polled
	Scales   []Scale   `yaml:"scales"`   // weighing indicators streaming over a serial line or TCP
	Scanners []Scanner `yaml:"scanners"` // barcode scanners
	Inputs   []Input   `yaml:"inputs"`   // GPIO inputs: door contacts, buttons
	Outputs  []Output  `yaml:"outputs"`  // GPIO outputs: bin lamps, stack light segments, buzzers
	Stations []Station `yaml:"stations"` // scanner stations: scanner + scale + bin lamps
	// StackLight shows the agent's own health on a tower light: green when
	// all is well, amber while working offline or a device fails, red when
	// events cannot be queued or a station has no sort plan.
	StackLight *StackLight `yaml:"stack_light"`
	// SortPlan is the file holding the sort plan the stations decide from
	// (default <state_dir>/sortplan.json). The hub's sortplan command
	// replaces it; until the hub sends one, a file put here is enough.
	SortPlan string `yaml:"sort_plan"`
	// Manifest is a file of announced parcels, one "waybill,village" per
	// line (default <state_dir>/manifest.csv), read at start and extended
	// by the hub's manifest command.
	Manifest string `yaml:"manifest"`
	// Rules is the file of the rooms' alarm rules (default
	// <state_dir>/rules.json), sent by the hub's rules command: the agent
	// evaluates them itself to sound the alarm on site with the uplink
	// down. A cold-chain alarm turns the stack light red with its buzzer.
	Rules string `yaml:"rules"`
	// RoomSignals are a room's own light and buzzer, at its door.
	RoomSignals []RoomSignal `yaml:"room_signals"`
	// AlarmSilence is a button that silences the alarm buzzers on site
	// until another condition arises; the lights stay.
	AlarmSilence string `yaml:"alarm_silence"`

	StatusInterval time.Duration `yaml:"status_interval"` // how often the retained status is refreshed
	Queue          Queue         `yaml:"queue"`
}

// Queue is the durable store-and-forward queue every message passes through.
type Queue struct {
	Dir      string        `yaml:"dir"`       // default <state_dir>/queue
	MaxBytes int64         `yaml:"max_bytes"` // disk budget; over it telemetry is thinned, then the oldest dropped
	Sync     time.Duration `yaml:"sync"`      // group commit interval for telemetry; events are synced at once
	Window   int           `yaml:"window"`    // messages in flight to the broker at once
}

// MQTT is the uplink to the hub's broker.
type MQTT struct {
	Broker               string        `yaml:"broker"` // tcp://host:1883 or ssl://host:8883
	ClientID             string        `yaml:"client_id"`
	Username             string        `yaml:"username"`
	Password             string        `yaml:"password"`
	PasswordFile         string        `yaml:"password_file"` // read at start; preferred over password
	TopicPrefix          string        `yaml:"topic_prefix"`
	Keepalive            time.Duration `yaml:"keepalive"`
	ConnectTimeout       time.Duration `yaml:"connect_timeout"`
	MaxReconnectInterval time.Duration `yaml:"max_reconnect_interval"`
	PublishTimeout       time.Duration `yaml:"publish_timeout"`
	// TLS is the edge's side of MQTT over TLS (broker ssl://host:8883),
	// as "hub provision edge" writes it.
	TLS TLS `yaml:"tls"`
}

// TLS is the files of the uplink's TLS. The certificate's common name is
// the edge's broker identity, <site>.<edge>; the broker's ACL confines the
// edge to its own topics by it. The key (and a password file) must not be
// readable by every user of the box.
type TLS struct {
	CAFile     string `yaml:"ca_file"`     // the county CA's certificate: the broker's must come from it
	CertFile   string `yaml:"cert_file"`   // the edge's certificate (re-read at each reconnection when replaced)
	KeyFile    string `yaml:"key_file"`    // its private key, mode 0600
	ServerName string `yaml:"server_name"` // the broker's name in its certificate, when the URL's host differs
}

// Set reports whether any TLS file is configured.
func (t TLS) Set() bool { return t != TLS{} }

// Bus is one RS-485 line. Every slave on it shares its framing; the agent
// puts one request on it at a time.
type Bus struct {
	ID               string `yaml:"id"`
	modbus.RTUConfig `yaml:",inline"`
}

// Device is one field device polled over Modbus.
type Device struct {
	ID        string        `yaml:"id"`        // device id, unique on this edge
	Room      string        `yaml:"room"`      // cold room it measures, if any
	Profile   string        `yaml:"profile"`   // profile name: built-in or in profile_dir
	Transport string        `yaml:"transport"` // tcp or rtu
	Address   string        `yaml:"address"`   // host:port for tcp
	Bus       string        `yaml:"bus"`       // bus id for rtu
	Unit      int           `yaml:"unit"`      // slave id, 1..247 (0 and 255 for TCP gateways that ignore it)
	Interval  time.Duration `yaml:"interval"`  // poll period
	Timeout   time.Duration `yaml:"timeout"`   // per request, tcp (an rtu device has its bus's); default 1s or the interval if shorter
	Retries   int           `yaml:"retries"`   // extra attempts after a timeout or transport error; for rtu, 0 keeps the bus's
}

// Scale is a weighing indicator in continuous-output mode, on a serial
// port or behind a serial-to-Ethernet converter.
type Scale struct {
	ID           string `yaml:"id"`
	Port         string `yaml:"port"`    // serial device, e.g. /dev/ttyUSB1
	Address      string `yaml:"address"` // or host:port of a serial server
	scale.Line   `yaml:",inline"`
	scale.Config `yaml:",inline"`
}

// Scanner is a barcode scanner.
type Scanner struct {
	ID       string        `yaml:"id"`
	Kind     string        `yaml:"kind"`      // serial, tcp or hid
	Port     string        `yaml:"port"`      // serial device for serial, event device for hid
	Address  string        `yaml:"address"`   // host:port for tcp
	Baud     int           `yaml:"baud"`      // serial only; default 9600
	StripAIM bool          `yaml:"strip_aim"` // remove a leading AIM symbology identifier
	MaxLen   int           `yaml:"max_len"`   // longest code accepted; default 128
	Window   time.Duration `yaml:"window"`    // the same code again within this is one scan; default 2s
}

// Input is a GPIO input.
type Input struct {
	ID        string        `yaml:"id"`
	Pin       string        `yaml:"pin"`  // GPIO17, P1_11, or sim:<name> for a simulated pin
	Kind      string        `yaml:"kind"` // door (published as telemetry of its room) or button
	Room      string        `yaml:"room"` // for doors
	ActiveLow bool          `yaml:"active_low"`
	Debounce  time.Duration `yaml:"debounce"`
}

// Output is a GPIO output.
type Output struct {
	ID        string `yaml:"id"`
	Pin       string `yaml:"pin"`
	ActiveLow bool   `yaml:"active_low"` // many relay boards switch on a low line
}

// StackLight names the outputs of a tower light.
type StackLight struct {
	Red    string `yaml:"red"`
	Amber  string `yaml:"amber"`
	Green  string `yaml:"green"`
	Buzzer string `yaml:"buzzer"`
}

// RoomSignal names the outputs that signal a room's alarm at its door.
type RoomSignal struct {
	Room   string `yaml:"room"`
	Light  string `yaml:"light"`  // output id
	Buzzer string `yaml:"buzzer"` // output id, optional
}

// Station is a scanner station: where a parcel is scanned and weighed and
// the lamp over its bin lights.
type Station struct {
	ID      string            `yaml:"id"`
	Scanner string            `yaml:"scanner"` // scanner id
	Scale   string            `yaml:"scale"`   // scale id, optional
	Lamps   map[string]string `yaml:"lamps"`   // bin id to output id
	Buzzer  string            `yaml:"buzzer"`  // output id, optional
	Confirm string            `yaml:"confirm"` // button input id, optional
	// LampFor is how long a bin lamp stays lit (default 8s); WeighFor the
	// longest wait for a stable weight (default 2s).
	LampFor  time.Duration `yaml:"lamp_for"`
	WeighFor time.Duration `yaml:"weigh_for"`
}

// Default returns a configuration with every default set and no devices.
func Default() Config {
	return Config{
		StateDir: "/var/lib/countylink-edge",
		LogLevel: "info",
		MQTT: MQTT{
			Broker:               "tcp://127.0.0.1:1883",
			TopicPrefix:          contract.DefaultPrefix,
			Keepalive:            30 * time.Second,
			ConnectTimeout:       10 * time.Second,
			MaxReconnectInterval: time.Minute,
			PublishTimeout:       10 * time.Second,
		},
		StatusInterval: 5 * time.Minute,
		Queue:          Queue{MaxBytes: 256 << 20, Sync: 200 * time.Millisecond, Window: 100},
	}
}

// deviceDefaults fills what a device entry leaves out.
func (d *Device) defaults() {
	if d.Transport == "" {
		d.Transport = "tcp"
	}
	if d.Unit == 0 && d.Transport != "tcp" {
		d.Unit = 1
	}
	if d.Interval == 0 {
		d.Interval = 10 * time.Second
	}
	if d.Timeout == 0 {
		d.Timeout = min(time.Second, d.Interval)
	}
}

// FieldError is a validation failure of one field, by its YAML path.
type FieldError struct {
	Path string // e.g. devices[2].address
	Line int    // 1-based line in the file, 0 if unknown
	Msg  string
}

func (e *FieldError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Path, e.Msg)
	}
	return e.Path + ": " + e.Msg
}

// Validate checks the configuration and fills per-device defaults. It
// returns every problem found, each a *FieldError.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if !contract.ValidID(c.Site) {
		bad("site", "%q must be 1-64 of a-z 0-9 - _ (e.g. tw01)", c.Site)
	}
	if !contract.ValidID(c.Edge) || c.Edge == contract.SiteEdge {
		bad("edge", "%q must be 1-64 of a-z 0-9 - _ (e.g. tw01-e1), and not the reserved %s", c.Edge, contract.SiteEdge)
	}
	if c.StateDir == "" {
		bad("state_dir", "must be set")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "%q must be debug, info, warn or error", c.LogLevel)
	}
	if u, err := url.Parse(c.MQTT.Broker); err != nil || (u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "tls" && u.Scheme != "mqtt" && u.Scheme != "mqtts") || u.Host == "" {
		bad("mqtt.broker", "%q must be a URL like tcp://host:1883 or ssl://host:8883", c.MQTT.Broker)
	}
	if c.MQTT.TopicPrefix == "" || strings.ContainsAny(c.MQTT.TopicPrefix, "+#") {
		bad("mqtt.topic_prefix", "%q must be set and hold no wildcard", c.MQTT.TopicPrefix)
	}
	if t := c.MQTT.TLS; t.Set() {
		if u, err := url.Parse(c.MQTT.Broker); err == nil && (u.Scheme == "tcp" || u.Scheme == "mqtt") {
			bad("mqtt.tls", "is set but mqtt.broker %q is plain MQTT: use ssl://host:8883", c.MQTT.Broker)
		}
		if (t.CertFile == "") != (t.KeyFile == "") {
			bad("mqtt.tls", "cert_file and key_file go together")
		}
	}
	if c.MQTT.Keepalive < time.Second {
		bad("mqtt.keepalive", "%v is below 1s", c.MQTT.Keepalive)
	}
	if c.MQTT.PublishTimeout <= 0 {
		bad("mqtt.publish_timeout", "must be positive")
	}
	if c.StatusInterval < time.Second {
		bad("status_interval", "%v is below 1s", c.StatusInterval)
	}
	if c.Queue.MaxBytes < 64<<10 {
		bad("queue.max_bytes", "%d is below 64 KiB", c.Queue.MaxBytes)
	}
	if c.Queue.Sync < 0 || c.Queue.Sync > 10*time.Second {
		bad("queue.sync", "%v must be 0 (sync every message) to 10s", c.Queue.Sync)
	}
	if c.Queue.Window < 1 || c.Queue.Window > 65535 {
		bad("queue.window", "%d must be 1..65535", c.Queue.Window)
	}
	buses := map[string]int{}
	ports := map[string]string{} // serial port to who uses it
	usePort := func(path, port, who string) {
		if port == "" {
			return
		}
		if prev, dup := ports[port]; dup {
			bad(path, "%q is already used by %s: one port, one owner", port, prev)
		}
		ports[port] = who
	}
	for i := range c.Buses {
		b := &c.Buses[i]
		p := "buses[" + strconv.Itoa(i) + "]"
		if !contract.ValidID(b.ID) {
			bad(p+".id", "%q must be 1-64 of a-z 0-9 - _", b.ID)
		} else if j, dup := buses[b.ID]; dup {
			bad(p+".id", "%q is already used by buses[%d]", b.ID, j)
		}
		buses[b.ID] = i
		if err := b.RTUConfig.Validate(); err != nil {
			field, msg := splitFieldError(err.Error(), "modbus rtu: ")
			if field != "" {
				field = "." + field
			}
			bad(p+field, "%s", msg)
		}
		usePort(p+".device", b.Device, p)
	}
	ids := map[string]int{}
	for i := range c.Devices {
		d := &c.Devices[i]
		p := "devices[" + strconv.Itoa(i) + "]"
		d.defaults()
		if !contract.ValidID(d.ID) {
			bad(p+".id", "%q must be 1-64 of a-z 0-9 - _", d.ID)
		} else if j, dup := ids[d.ID]; dup {
			bad(p+".id", "%q is already used by devices[%d]", d.ID, j)
		}
		ids[d.ID] = i
		if d.Room != "" && !contract.ValidID(d.Room) {
			bad(p+".room", "%q must be 1-64 of a-z 0-9 - _", d.Room)
		}
		if d.Profile == "" {
			bad(p+".profile", "must name a device profile")
		}
		switch d.Transport {
		case "tcp":
			if !hostPort(d.Address) {
				bad(p+".address", "%q must be host:port", d.Address)
			}
			if d.Bus != "" {
				bad(p+".bus", "is for rtu devices; this one is tcp")
			}
		case "rtu":
			if _, ok := buses[d.Bus]; !ok {
				bad(p+".bus", "%q names no entry of buses", d.Bus)
			}
			if d.Address != "" {
				bad(p+".address", "is for tcp devices; an rtu device has a bus and a unit")
			}
			if d.Unit < 1 || d.Unit > 247 {
				bad(p+".unit", "%d must be 1..247 on an RS-485 bus", d.Unit)
			}
		default:
			bad(p+".transport", "%q is not supported (tcp or rtu)", d.Transport)
		}
		if d.Unit < 0 || d.Unit > 255 {
			bad(p+".unit", "%d must be 0..255", d.Unit)
		}
		if d.Interval < 10*time.Millisecond {
			bad(p+".interval", "%v is below 10ms", d.Interval)
		}
		if d.Timeout <= 0 || d.Timeout > d.Interval {
			bad(p+".timeout", "%v must be positive and at most the interval %v", d.Timeout, d.Interval)
		}
		if d.Retries < 0 || d.Retries > 10 {
			bad(p+".retries", "%d must be 0..10", d.Retries)
		}
	}
	c.validateIO(bad, usePort)
	return errors.Join(errs...)
}

// validateIO checks the scales, scanners, GPIO lines and stations.
func (c *Config) validateIO(bad func(path, format string, args ...any), usePort func(path, port, who string)) {
	scales := map[string]bool{}
	for i := range c.Scales {
		sc := &c.Scales[i]
		p := "scales[" + strconv.Itoa(i) + "]"
		if !contract.ValidID(sc.ID) || scales[sc.ID] {
			bad(p+".id", "%q must be a unique id of a-z 0-9 - _", sc.ID)
		}
		scales[sc.ID] = true
		switch {
		case (sc.Port == "") == (sc.Address == ""):
			bad(p+".port", "give a serial port or an address (host:port of a serial server), not both")
		case sc.Address != "" && !hostPort(sc.Address):
			bad(p+".address", "%q must be host:port", sc.Address)
		}
		usePort(p+".port", sc.Port, p)
		if err := sc.Line.Validate(); err != nil {
			bad(p, "%v", err)
		}
		if err := sc.Config.Validate(); err != nil {
			bad(p, "%v", err)
		}
	}
	scanners := map[string]bool{}
	for i := range c.Scanners {
		sc := &c.Scanners[i]
		p := "scanners[" + strconv.Itoa(i) + "]"
		if !contract.ValidID(sc.ID) || scanners[sc.ID] {
			bad(p+".id", "%q must be a unique id of a-z 0-9 - _", sc.ID)
		}
		scanners[sc.ID] = true
		switch sc.Kind {
		case "serial", "hid":
			if sc.Port == "" {
				bad(p+".port", "a %s scanner needs its device path", sc.Kind)
			}
			usePort(p+".port", sc.Port, p)
		case "tcp":
			if !hostPort(sc.Address) {
				bad(p+".address", "%q must be host:port", sc.Address)
			}
		default:
			bad(p+".kind", "%q must be serial, tcp or hid", sc.Kind)
		}
		if sc.Baud == 0 {
			sc.Baud = 9600
		}
		if sc.MaxLen < 0 || sc.MaxLen > 4096 {
			bad(p+".max_len", "%d must be 0 (default 128) to 4096", sc.MaxLen)
		}
		if sc.Window < 0 || sc.Window > time.Minute {
			bad(p+".window", "%v must be 0 (default 2s) to 1m", sc.Window)
		}
	}
	pins := map[string]string{}
	usePin := func(path, pin, who string) {
		if pin == "" {
			bad(path, "must name a pin (GPIO17, or sim:<name>)")
			return
		}
		if prev, dup := pins[pin]; dup {
			bad(path, "pin %q is already used by %s", pin, prev)
		}
		pins[pin] = who
	}
	inputs := map[string]string{}
	for i := range c.Inputs {
		in := &c.Inputs[i]
		p := "inputs[" + strconv.Itoa(i) + "]"
		if _, dup := inputs[in.ID]; !contract.ValidID(in.ID) || dup {
			bad(p+".id", "%q must be a unique id of a-z 0-9 - _", in.ID)
		}
		inputs[in.ID] = in.Kind
		usePin(p+".pin", in.Pin, p)
		switch in.Kind {
		case "door":
			if !contract.ValidID(in.Room) {
				bad(p+".room", "a door needs the id of its cold room")
			}
		case "button":
		default:
			bad(p+".kind", "%q must be door or button", in.Kind)
		}
		if in.Debounce < 0 || in.Debounce > 5*time.Second {
			bad(p+".debounce", "%v must be 0 (default 30ms) to 5s", in.Debounce)
		}
	}
	outputs := map[string]string{} // id to who uses it
	for i := range c.Outputs {
		o := &c.Outputs[i]
		p := "outputs[" + strconv.Itoa(i) + "]"
		if _, dup := outputs[o.ID]; !contract.ValidID(o.ID) || dup {
			bad(p+".id", "%q must be a unique id of a-z 0-9 - _", o.ID)
		}
		outputs[o.ID] = ""
		usePin(p+".pin", o.Pin, p)
	}
	useOutput := func(path, id, who string) {
		if id == "" {
			return
		}
		prev, ok := outputs[id]
		switch {
		case !ok:
			bad(path, "%q names no entry of outputs", id)
		case prev != "":
			bad(path, "output %q is already driven by %s", id, prev)
		default:
			outputs[id] = who
		}
	}
	if sl := c.StackLight; sl != nil {
		for name, id := range map[string]string{"red": sl.Red, "amber": sl.Amber, "green": sl.Green, "buzzer": sl.Buzzer} {
			useOutput("stack_light."+name, id, "stack_light")
		}
	}
	stations := map[string]bool{}
	usedScanner := map[string]string{}
	for i := range c.Stations {
		st := &c.Stations[i]
		p := "stations[" + strconv.Itoa(i) + "]"
		if !contract.ValidID(st.ID) || stations[st.ID] {
			bad(p+".id", "%q must be a unique id of a-z 0-9 - _", st.ID)
		}
		stations[st.ID] = true
		if !scanners[st.Scanner] {
			bad(p+".scanner", "%q names no entry of scanners", st.Scanner)
		} else if prev, dup := usedScanner[st.Scanner]; dup {
			bad(p+".scanner", "scanner %q already feeds %s", st.Scanner, prev)
		}
		usedScanner[st.Scanner] = p
		if st.Scale != "" && !scales[st.Scale] {
			bad(p+".scale", "%q names no entry of scales", st.Scale)
		}
		if len(st.Lamps) == 0 {
			bad(p+".lamps", "a station needs the lamps of its bins (bin id: output id)")
		}
		for _, bin := range slices.Sorted(maps.Keys(st.Lamps)) {
			if !contract.ValidID(bin) {
				bad(p+".lamps", "bin %q must be an id of a-z 0-9 - _", bin)
			}
			useOutput(p+".lamps."+bin, st.Lamps[bin], p)
		}
		useOutput(p+".buzzer", st.Buzzer, p)
		if st.Confirm != "" {
			if kind, ok := inputs[st.Confirm]; !ok || kind != "button" {
				bad(p+".confirm", "%q names no button of inputs", st.Confirm)
			}
		}
		if st.LampFor == 0 {
			st.LampFor = 8 * time.Second
		}
		if st.WeighFor == 0 {
			st.WeighFor = 2 * time.Second
		}
		if st.LampFor < 0 || st.LampFor > 10*time.Minute {
			bad(p+".lamp_for", "%v must be up to 10m", st.LampFor)
		}
		if st.WeighFor < 0 || st.WeighFor > time.Minute {
			bad(p+".weigh_for", "%v must be up to 1m", st.WeighFor)
		}
	}
	for i, rs := range c.RoomSignals {
		p := "room_signals[" + strconv.Itoa(i) + "]"
		if !contract.ValidID(rs.Room) {
			bad(p+".room", "%q must be a room id", rs.Room)
		}
		if rs.Light == "" {
			bad(p+".light", "must name an output")
		}
		useOutput(p+".light", rs.Light, p)
		useOutput(p+".buzzer", rs.Buzzer, p)
	}
	if c.AlarmSilence != "" {
		if kind, ok := inputs[c.AlarmSilence]; !ok || kind != "button" {
			bad("alarm_silence", "%q names no button of inputs", c.AlarmSilence)
		}
	}
	if c.SortPlan == "" {
		c.SortPlan = filepath.Join(c.StateDir, "sortplan.json")
	}
	if c.Rules == "" {
		c.Rules = filepath.Join(c.StateDir, "rules.json")
	}
	if c.Manifest == "" {
		c.Manifest = filepath.Join(c.StateDir, "manifest.csv")
	}
}

func hostPort(s string) bool {
	_, port, err := net.SplitHostPort(s)
	return err == nil && port != ""
}

// splitFieldError splits "prefix field: message" into field and message.
func splitFieldError(s, prefix string) (field, msg string) {
	s = strings.TrimPrefix(s, prefix)
	if f, m, ok := strings.Cut(s, ": "); ok && !strings.ContainsAny(f, " ") {
		return f, m
	}
	return "", s
}

// Parse reads YAML over the defaults, validates it, and reports each
// problem with its line. Unknown keys are errors.
func Parse(data []byte) (Config, error) {
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	top := &root
	if top.Kind == yaml.DocumentNode && len(top.Content) > 0 {
		top = top.Content[0]
	}
	// List entries decode from zero values: give the keys an entry leaves
	// out their defaults, which for some (retries: 1) are not zero.
	if n := mapValue(top, "buses"); n != nil && n.Kind == yaml.SequenceNode {
		for i := range c.Buses {
			applyDefaults(n.Content[i], reflect.ValueOf(&c.Buses[i]).Elem(), reflect.ValueOf(Bus{RTUConfig: modbus.DefaultRTUConfig()}))
		}
	}
	if n := mapValue(top, "scales"); n != nil && n.Kind == yaml.SequenceNode {
		for i := range c.Scales {
			applyDefaults(n.Content[i], reflect.ValueOf(&c.Scales[i]).Elem(), reflect.ValueOf(Scale{Line: scale.DefaultLine(), Config: scale.DefaultConfig()}))
		}
	}
	err := c.Validate()
	if err != nil {
		addLines(err, &root)
	}
	return c, err
}

// applyDefaults sets each field of v whose key the mapping n leaves out to
// the same field of def. Inline structs share their parent's keys.
func applyDefaults(n *yaml.Node, v, def reflect.Value) {
	if n.Kind != yaml.MappingNode {
		return
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if opts == "inline" {
			applyDefaults(n, v.Field(i), def.Field(i))
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if mapValue(n, name) == nil {
			v.Field(i).Set(def.Field(i))
		}
	}
}

// Load reads the file at path and, when the config names a password file,
// the password from it. It checks the TLS files: a key or password file
// every user can read or others can change is refused, as is the file at
// path when it holds mqtt.password itself; the certificate must name this
// edge.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	c, err := Parse(data)
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	// A password written in the file makes the file a secret.
	if c.MQTT.Password != "" {
		if err := uplink.CheckSecretConfig(path); err != nil {
			return c, fmt.Errorf("mqtt.password: %w", err)
		}
	}
	if c.MQTT.PasswordFile != "" {
		if err := secretFile(c.MQTT.PasswordFile); err != nil {
			return c, fmt.Errorf("%s: mqtt.password_file: %w", path, err)
		}
		pw, err := os.ReadFile(c.MQTT.PasswordFile)
		if err != nil {
			return c, fmt.Errorf("%s: mqtt.password_file: %w", path, err)
		}
		c.MQTT.Password = strings.TrimSpace(string(pw))
	}
	if err := c.checkTLSFiles(); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// checkTLSFiles reads the TLS files as the uplink will, so a mistake shows
// at check-config rather than as a refused connection at the broker.
func (c *Config) checkTLSFiles() error {
	t := c.MQTT.TLS
	if t.CAFile != "" {
		if _, err := os.ReadFile(t.CAFile); err != nil {
			return fmt.Errorf("mqtt.tls.ca_file: %w", err)
		}
	}
	if t.KeyFile != "" {
		if err := secretFile(t.KeyFile); err != nil {
			return fmt.Errorf("mqtt.tls.key_file: %w", err)
		}
	}
	if t.CertFile == "" {
		return nil
	}
	if _, err := uplink.TLSConfig(uplink.TLSFiles{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile}); err != nil {
		return fmt.Errorf("mqtt.tls: %w", err)
	}
	cert, err := uplink.Certificate(t.CertFile)
	if err != nil {
		return fmt.Errorf("mqtt.tls.cert_file: %w", err)
	}
	if want := contract.EdgeIdentity(c.Site, c.Edge).String(); cert.Subject.CommonName != want {
		return fmt.Errorf("mqtt.tls.cert_file: the certificate is for %q, this edge is %q (site.edge): the broker would confine it to the other's topics", cert.Subject.CommonName, want)
	}
	return nil
}

// secretFile refuses a file every user of the box can read, or others
// than its owner can change.
func secretFile(path string) error { return uplink.CheckKeyFile(path) }

// addLines sets the Line of every FieldError in err from the YAML tree.
func addLines(err error, root *yaml.Node) {
	var fe *FieldError
	if errors.As(err, &fe) {
		fe.Line = lineOf(root, fe.Path)
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			addLines(e, root)
		}
	}
}

// lineOf finds the line of a path such as devices[2].address, or of its
// nearest ancestor present in the file.
func lineOf(root *yaml.Node, path string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, part := range strings.Split(path, ".") {
		key, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 {
			key = part[:i]
			idx, _ = strconv.Atoi(strings.TrimSuffix(part[i+1:], "]"))
		}
		next := mapValue(n, key)
		if next == nil {
			return line
		}
		line, n = next.Line, next
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
