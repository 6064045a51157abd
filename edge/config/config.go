// Package config is the edge agent's configuration: a typed struct read from
// YAML, its defaults, and validation that names the bad field and its line.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/countylink/countylink/contract"
)

// Config is one edge agent's configuration.
type Config struct {
	Site       string `yaml:"site"`        // site id, e.g. tw01
	Edge       string `yaml:"edge"`        // edge id, unique in the county, e.g. tw01-e1
	StateDir   string `yaml:"state_dir"`   // where the agent keeps its boot counter (and later its queue)
	ProfileDir string `yaml:"profile_dir"` // extra device profiles; built-in ones are always available
	LogLevel   string `yaml:"log_level"`   // debug, info, warn, error

	MQTT    MQTT     `yaml:"mqtt"`
	Devices []Device `yaml:"devices"`

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
}

// Device is one field device polled over Modbus.
type Device struct {
	ID        string        `yaml:"id"`        // device id, unique on this edge
	Room      string        `yaml:"room"`      // cold room it measures, if any
	Profile   string        `yaml:"profile"`   // profile name: built-in or in profile_dir
	Transport string        `yaml:"transport"` // tcp
	Address   string        `yaml:"address"`   // host:port for tcp
	Unit      int           `yaml:"unit"`      // slave id, 1..247 (0 and 255 for TCP gateways that ignore it)
	Interval  time.Duration `yaml:"interval"`  // poll period
	Timeout   time.Duration `yaml:"timeout"`   // per request
	Retries   int           `yaml:"retries"`   // extra attempts after a timeout or transport error
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
		d.Timeout = time.Second
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
	if !contract.ValidID(c.Edge) {
		bad("edge", "%q must be 1-64 of a-z 0-9 - _ (e.g. tw01-e1)", c.Edge)
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
			if _, port, err := net.SplitHostPort(d.Address); err != nil || port == "" {
				bad(p+".address", "%q must be host:port", d.Address)
			}
		default:
			bad(p+".transport", "%q is not supported (tcp)", d.Transport)
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
	return errors.Join(errs...)
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
	err := c.Validate()
	if err != nil {
		var root yaml.Node
		if yaml.Unmarshal(data, &root) == nil {
			addLines(err, &root)
		}
	}
	return c, err
}

// Load reads the file at path and, when the config names a password file,
// the password from it.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	c, err := Parse(data)
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	if c.MQTT.PasswordFile != "" {
		pw, err := os.ReadFile(c.MQTT.PasswordFile)
		if err != nil {
			return c, fmt.Errorf("%s: mqtt.password_file: %w", path, err)
		}
		c.MQTT.Password = strings.TrimSpace(string(pw))
	}
	return c, nil
}

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
