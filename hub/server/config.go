package server

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gopkg.in/yaml.v3"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub/alarm"
	"github.com/countylink/countylink/hub/auth"
	"github.com/countylink/countylink/hub/notify"
	"github.com/countylink/countylink/hub/pki"
)

// Config is the hub's configuration.
type Config struct {
	Listen    string `yaml:"listen"`     // HTTP address of the API and dashboard
	DataDir   string `yaml:"data_dir"`   // the embedded SQLite store (hub.db) and state
	SitesFile string `yaml:"sites_file"` // the county's sites; empty means the demo county
	LogLevel  string `yaml:"log_level"`
	// TimeZone is the county's IANA time zone (Asia/Shanghai), where the
	// wall screen's day of parcel counts starts; empty means the machine's.
	TimeZone string `yaml:"time_zone"`

	Store  StoreConfig  `yaml:"store"`
	MQTT   MQTTConfig   `yaml:"mqtt"`
	Influx InfluxConfig `yaml:"influx"`

	StaleAfter    time.Duration `yaml:"stale_after"`    // a room with no reading for this long shows as stale
	BatchSize     int           `yaml:"batch_size"`     // readings per store write
	FlushInterval time.Duration `yaml:"flush_interval"` // longest a reading waits for its batch
	MaxClockSkew  time.Duration `yaml:"max_clock_skew"` // beyond this an edge's timestamps are corrected

	// PublicURL is the dashboard's address as coordinators reach it, for
	// the links in notifications (https://coldchain.county.example.cn).
	PublicURL string        `yaml:"public_url"`
	Alarm     alarm.Config  `yaml:"alarm"`  // the cold-chain alarm engine
	Notify    notify.Config `yaml:"notify"` // where alarms are sent

	Manifests ManifestsConfig `yaml:"manifests"`
	// Auth is the people's sessions and the login limits (hub/auth).
	Auth auth.Config `yaml:"auth"`
	// EdgeRate is the live readings one edge may send a second, EdgeBurst
	// how many more in a burst: the hub drops those over it, counts them
	// per edge and raises an edge_flood alarm, so one misbehaving box cannot
	// hold back the others. A replayed backlog is never dropped. Negative
	// turns the limit off.
	EdgeRate  float64 `yaml:"edge_rate"`
	EdgeBurst int     `yaml:"edge_burst"`
	// ParcelMaxKg is the heaviest parcel a village run takes: a parcel
	// weighed heavier is flagged over weight.
	ParcelMaxKg float64 `yaml:"parcel_max_kg"`
}

// ManifestsConfig is the drop folder of courier manifests.
type ManifestsConfig struct {
	// Dir is watched for *.csv and *.json manifests, imported once they
	// stop growing and moved to done/ or failed/ with a report beside
	// them. A file name starting with a township id (tw01_…) is for that
	// township; otherwise the rows name theirs. Empty: no drop folder.
	Dir  string        `yaml:"dir"`
	Poll time.Duration `yaml:"poll"` // default 5s
	// NoPush keeps the announced parcels on the hub: the edges then decide
	// by sort code and address keywords only, and the hub corrects their
	// decisions with the relight command. For uplinks too thin for the
	// day's manifests.
	NoPush bool `yaml:"no_push"`
}

// Store drivers.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// StoreConfig selects where the hub keeps its state besides time series:
// parcels, runs, manifests, alarms, the latest readings and the edges.
type StoreConfig struct {
	// Driver is "sqlite" (the default: data_dir/hub.db, embedded, for one
	// hub; it also keeps the time series when influx.url is empty) or
	// "postgres" (for several hubs sharing the database DSN names; time
	// series then go to InfluxDB, and one hub at a time is the alarm
	// leader).
	Driver string `yaml:"driver"`
	// DSN is the PostgreSQL database, as a URL
	// (postgres://countylink@db.county.example.cn:5432/countylink?sslmode=verify-full)
	// or key=value pairs. A password may also come from PGPASSWORD or a
	// ~/.pgpass file rather than the configuration.
	DSN string `yaml:"dsn"`
}

// MQTTConfig is the broker the hub ingests from.
type MQTTConfig struct {
	// Embedded runs a broker inside the hub on EmbeddedListen, for the demo
	// and single-site installs; Broker is then ignored.
	Embedded       bool   `yaml:"embedded"`
	EmbeddedListen string `yaml:"embedded_listen"`

	Broker       string `yaml:"broker"` // tcp://host:1883 of Mosquitto or EMQX
	ClientID     string `yaml:"client_id"`
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	TopicPrefix  string `yaml:"topic_prefix"`
	SharedGroup  string `yaml:"shared_group"` // set on every replica when several hubs share the work
	// ReplicaID names this hub among the replicas of a shared group, on
	// the live relay's topic <topic_prefix>/_hub/<replica_id>/live; empty
	// takes client_id. With shared_group set, it must be an id (1-64 of
	// a-z 0-9 - _) and differ between replicas.
	ReplicaID string `yaml:"replica_id"`
	// AutoAck acknowledges messages on receipt instead of after storing
	// them: a little faster, and a crash loses what was received but not
	// yet stored. It exists to measure what acknowledging after storage
	// costs; leave it off.
	AutoAck bool `yaml:"auto_ack"`
	// TLS is the hub's side of MQTT over TLS (broker ssl://host:8883): the
	// CA of the broker's certificate and the hub's own certificate and key
	// from "hub provision hub", whose common name _hub.<name> is its
	// identity. A hub on the broker's machine logs in on 127.0.0.1:1883
	// with username _hub.<name> and password_file instead.
	TLS TLSConfig `yaml:"tls"`
	// EmbeddedPKIDir secures the embedded broker with the files "hub
	// provision" keeps there (ca.crt, broker.crt, broker.key, crl.pem,
	// passwd; re-read within 10 s when they change): password logins on
	// embedded_listen, client certificates on EmbeddedTLSListen, the topic
	// ACL on both; the hub logs in to it by itself. Empty: the embedded
	// broker is open to anyone (the demo).
	EmbeddedPKIDir    string `yaml:"embedded_pki_dir"`
	EmbeddedTLSListen string `yaml:"embedded_tls_listen"` // host:port of the TLS listener (0.0.0.0:8883)
}

// TLSConfig is a client's TLS files.
type TLSConfig struct {
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`    // mode 0600 (or 0640): one readable by every user is refused
	ServerName string `yaml:"server_name"` // the broker's name in its certificate, when the URL's host differs
}

// Replica is the name of this hub among the replicas: ReplicaID, or
// ClientID.
func (c MQTTConfig) Replica() string {
	if c.ReplicaID != "" {
		return c.ReplicaID
	}
	return c.ClientID
}

// InfluxConfig selects InfluxDB for time series; with no URL the embedded
// store keeps them.
type InfluxConfig struct {
	URL       string        `yaml:"url"` // http://host:8086
	Token     string        `yaml:"token"`
	TokenFile string        `yaml:"token_file"`
	Org       string        `yaml:"org"`
	Bucket    string        `yaml:"bucket"` // for InfluxDB 1.8: database/retention-policy
	Gzip      bool          `yaml:"gzip"`
	Timeout   time.Duration `yaml:"timeout"`
}

// DefaultConfig is a single-site hub with an embedded broker and store.
func DefaultConfig() Config {
	return Config{
		Listen:   "127.0.0.1:8080",
		DataDir:  "/var/lib/countylink-hub",
		LogLevel: "info",
		MQTT: MQTTConfig{
			Embedded: false, EmbeddedListen: "127.0.0.1:1883",
			Broker: "tcp://127.0.0.1:1883", ClientID: "countylink-hub", TopicPrefix: contract.DefaultPrefix,
		},
		Store:         StoreConfig{Driver: DriverSQLite},
		Influx:        InfluxConfig{Timeout: 10 * time.Second},
		StaleAfter:    2 * time.Minute,
		BatchSize:     5000,
		FlushInterval: 200 * time.Millisecond,
		MaxClockSkew:  time.Minute,
		ParcelMaxKg:   30,
		EdgeRate:      100,
		EdgeBurst:     1000,
		Alarm:         alarm.DefaultConfig(),
		Notify:        notify.DefaultConfig(),
		Auth:          auth.DefaultConfig(),
	}
}

// Validate checks the configuration and names each bad field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "%q must be host:port", c.Listen)
	}
	if c.DataDir == "" {
		bad("data_dir", "must be set")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "%q must be debug, info, warn or error", c.LogLevel)
	}
	if c.MQTT.Embedded {
		if _, _, err := net.SplitHostPort(c.MQTT.EmbeddedListen); err != nil {
			bad("mqtt.embedded_listen", "%q must be host:port", c.MQTT.EmbeddedListen)
		}
	} else if u, err := url.Parse(c.MQTT.Broker); err != nil || u.Host == "" {
		bad("mqtt.broker", "%q must be a URL like tcp://host:1883", c.MQTT.Broker)
	} else if c.MQTT.TLS != (TLSConfig{}) && (u.Scheme == "tcp" || u.Scheme == "mqtt") {
		bad("mqtt.tls", "is set but mqtt.broker %q is plain MQTT: use ssl://host:8883", c.MQTT.Broker)
	}
	if (c.MQTT.TLS.CertFile == "") != (c.MQTT.TLS.KeyFile == "") {
		bad("mqtt.tls", "cert_file and key_file go together")
	}
	if c.MQTT.EmbeddedTLSListen != "" {
		if _, _, err := net.SplitHostPort(c.MQTT.EmbeddedTLSListen); err != nil || c.MQTT.EmbeddedPKIDir == "" {
			bad("mqtt.embedded_tls_listen", "%q must be host:port, with mqtt.embedded_pki_dir set", c.MQTT.EmbeddedTLSListen)
		}
	}
	if c.MQTT.ClientID == "" {
		bad("mqtt.client_id", "must be set (and differ between replicas)")
	}
	if c.MQTT.TopicPrefix == "" || strings.ContainsAny(c.MQTT.TopicPrefix, "+#") {
		bad("mqtt.topic_prefix", "%q must be set and hold no wildcard", c.MQTT.TopicPrefix)
	}
	if c.MQTT.SharedGroup != "" && !contract.ValidID(c.MQTT.SharedGroup) {
		bad("mqtt.shared_group", "%q must be 1-64 of a-z 0-9 - _", c.MQTT.SharedGroup)
	}
	if c.MQTT.SharedGroup != "" && !contract.ValidID(c.MQTT.Replica()) {
		field := "mqtt.replica_id"
		if c.MQTT.ReplicaID == "" {
			field = "mqtt.client_id"
		}
		bad(field, "%q names the replica on the live relay's topic: it must be 1-64 of a-z 0-9 - _ (or set mqtt.replica_id)", c.MQTT.Replica())
	}
	if c.Influx.URL != "" {
		if u, err := url.Parse(c.Influx.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			bad("influx.url", "%q must be http(s)://host:8086", c.Influx.URL)
		}
		if c.Influx.Bucket == "" {
			bad("influx.bucket", "must be set (InfluxDB 1.8: database/retention-policy)")
		}
	}
	switch c.Store.Driver {
	case DriverSQLite:
		if c.Store.DSN != "" {
			bad("store.dsn", "is for driver postgres; the sqlite store is data_dir/hub.db")
		}
		if c.MQTT.SharedGroup != "" {
			bad("mqtt.shared_group", "needs store.driver postgres: replicas that share the edges' messages must share their parcels, alarms and edges too (each SQLite store would hold only its replica's share)")
		}
	case DriverPostgres:
		if c.Store.DSN == "" {
			bad("store.dsn", "must be set for driver postgres (postgres://user@host:5432/database)")
		} else if _, err := pgconn.ParseConfig(c.Store.DSN); err != nil {
			bad("store.dsn", "%v", err) // pgconn leaves the password out
		}
		if c.Influx.URL == "" {
			bad("influx.url", "must be set with store.driver postgres: PostgreSQL keeps no time series, which then go to InfluxDB (only the embedded SQLite store doubles as the series store)")
		}
	default:
		bad("store.driver", "%q must be sqlite or postgres", c.Store.Driver)
	}
	if c.StaleAfter < 10*time.Second {
		bad("stale_after", "%v is below 10s", c.StaleAfter)
	}
	if c.BatchSize < 1 || c.BatchSize > 50000 {
		bad("batch_size", "%d must be 1..50000", c.BatchSize)
	}
	if c.FlushInterval <= 0 {
		bad("flush_interval", "must be positive")
	}
	if c.MaxClockSkew < time.Second {
		bad("max_clock_skew", "%v is below 1s", c.MaxClockSkew)
	}
	if c.EdgeRate > 1e6 || c.EdgeBurst < 0 || c.EdgeBurst > 1e7 {
		bad("edge_rate", "%v a second with a burst of %d is out of range", c.EdgeRate, c.EdgeBurst)
	}
	if !(c.ParcelMaxKg > 0 && c.ParcelMaxKg <= 1000) {
		bad("parcel_max_kg", "%v must be above 0 and at most 1000", c.ParcelMaxKg)
	}
	if _, err := c.Location(); err != nil {
		bad("time_zone", "%v", err)
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("public_url", "%q must be http(s)://host", c.PublicURL)
		}
	}
	if c.Manifests.Poll < 0 || (c.Manifests.Poll > 0 && c.Manifests.Poll < 100*time.Millisecond) {
		bad("manifests.poll", "%v must be at least 100ms", c.Manifests.Poll)
	}
	if err := c.Auth.Validate(); err != nil {
		errs = append(errs, err) // it names its fields under auth.
	}
	if err := c.Alarm.Validate(); err != nil {
		bad("alarm", "%v", err)
	}
	if err := c.Notify.Validate(); err != nil {
		errs = append(errs, err) // it names its fields under notify.
	}
	return errors.Join(errs...)
}

// Location is the time zone TimeZone names.
func (c *Config) Location() (*time.Location, error) {
	if c.TimeZone == "" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("%q is not a known time zone such as Asia/Shanghai", c.TimeZone)
	}
	return loc, nil
}

// LoadConfig reads a YAML file over the defaults (an empty path gives the
// defaults), reads secret files, and validates.
func LoadConfig(path string) (Config, error) {
	c := DefaultConfig()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, err
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil {
			return c, fmt.Errorf("%s: %w", path, err)
		}
	}
	// Secrets every user of the machine can read, or others than their
	// owner can change, are refused: the file itself when it holds one.
	if fields := c.inlineSecrets(); len(fields) > 0 && path != "" {
		if err := pki.CheckSecretFile(path); err != nil {
			return c, fmt.Errorf("%s (keep them in files: password_file, token_file, url_file, secret_file): %w", strings.Join(fields, ", "), err)
		}
	}
	if c.MQTT.TLS.KeyFile != "" {
		if err := pki.CheckKeyFile(c.MQTT.TLS.KeyFile); err != nil {
			return c, fmt.Errorf("%s: mqtt.tls.key_file: %w", path, err)
		}
	}
	for _, s := range c.secretFiles() {
		if err := pki.CheckSecretFile(s.file); err != nil {
			return c, fmt.Errorf("%s: %s: %w", path, s.field, err)
		}
	}
	for _, s := range []struct {
		file string
		dst  *string
	}{{c.MQTT.PasswordFile, &c.MQTT.Password}, {c.Influx.TokenFile, &c.Influx.Token}} {
		if s.file == "" {
			continue
		}
		b, err := os.ReadFile(s.file)
		if err != nil {
			return c, fmt.Errorf("%s: %w", path, err)
		}
		*s.dst = strings.TrimSpace(string(b))
	}
	if err := c.Notify.ReadSecretFiles(); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// inlineSecrets names the fields holding a secret written in the
// configuration itself rather than in a file beside it.
func (c *Config) inlineSecrets() []string {
	var out []string
	if c.MQTT.Password != "" {
		out = append(out, "mqtt.password")
	}
	if c.Influx.Token != "" {
		out = append(out, "influx.token")
	}
	if dsnHasPassword(c.Store.DSN) {
		out = append(out, "store.dsn (its password)")
	}
	for _, name := range sortedNames(c.Notify.Channels) {
		ch, f := c.Notify.Channels[name], "notify.channels."+name+"."
		if ch.URL != "" && notify.URLHoldsSecret(ch.Type, ch.URL) {
			out = append(out, f+"url")
		}
		if ch.Secret != "" {
			out = append(out, f+"secret")
		}
		if ch.Password != "" {
			out = append(out, f+"password")
		}
		if len(ch.Header) > 0 {
			out = append(out, f+"header")
		}
	}
	return out
}

// secretFiles are the files the configuration reads secrets from, with
// their fields.
func (c *Config) secretFiles() []struct{ field, file string } {
	var out []struct{ field, file string }
	add := func(field, file string) {
		if file != "" {
			out = append(out, struct{ field, file string }{field, file})
		}
	}
	add("mqtt.password_file", c.MQTT.PasswordFile)
	add("influx.token_file", c.Influx.TokenFile)
	for _, name := range sortedNames(c.Notify.Channels) {
		ch, f := c.Notify.Channels[name], "notify.channels."+name+"."
		add(f+"url_file", ch.URLFile)
		add(f+"secret_file", ch.SecretFile)
		add(f+"password_file", ch.PasswordFile)
	}
	return out
}

func sortedNames(m map[string]notify.ChannelConfig) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// dsnHasPassword reports whether a PostgreSQL DSN, as a URL or key=value
// pairs, holds a password.
func dsnHasPassword(dsn string) bool {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return true // unparsable: assume the worst
		}
		_, set := u.User.Password()
		return set || u.Query().Has("password")
	}
	return dsnPasswordRE.MatchString(dsn)
}

// dsnPasswordRE finds the password of a key=value DSN.
var dsnPasswordRE = regexp.MustCompile(`(^|\s)password\s*=`)
