package demo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/edge/config"
	"github.com/countylink/countylink/edge/uplink"
	"github.com/countylink/countylink/hub/provision"
)

// The devices that are not edge agents publish their scans themselves: a
// village point's phone (edge "vp", station "h1") and a township's
// handheld at the dock (edge "<township>-h", station "dock").
const (
	villageEdge    = "vp"
	villageStation = "h1"
	dockStation    = "dock"
)

// scanDevice is a device that publishes scans: a village point's phone,
// a township's handheld.
type scanDevice interface {
	publish(ctx context.Context, ev contract.ParcelEvent) error
}

// scanNet gives the devices by their place.
type scanNet interface {
	village(id string) scanDevice
	handheld(township string) scanDevice
	published() uint64
}

// mqttNet publishes the scans of the village points and of the township
// handhelds, one MQTT client per device, connected on first use.
type mqttNet struct {
	broker string
	prefix string
	pkiDir string // each device's credentials, when set (see Credentials)
	boot   uint64 // in every message id: ids stay unique across restarts
	log    *slog.Logger

	mu    sync.Mutex
	devs  map[string]*device
	total atomic.Uint64 // events published
}

func newMQTTNet(broker, prefix, pkiDir string, log *slog.Logger) *mqttNet {
	if prefix == "" {
		prefix = contract.DefaultPrefix
	}
	return &mqttNet{broker: broker, prefix: prefix, pkiDir: pkiDir, boot: uint64(time.Now().UnixMilli()), log: log, devs: map[string]*device{}}
}

// device is one publishing device: its identity and its connection.
type device struct {
	net      *mqttNet
	site     string
	edge     string
	station  string
	clientID string
	seq      atomic.Uint64

	mu sync.Mutex
	c  mqtt.Client
}

// village is the phone of village point id.
func (n *mqttNet) village(id string) scanDevice {
	return n.device(id, villageEdge, villageStation, id+"-vp")
}

// handheld is the dock handheld of a township.
func (n *mqttNet) handheld(township string) scanDevice {
	return n.device(township, township+"-h", dockStation, township+"-h")
}

func (n *mqttNet) device(site, edge, station, clientID string) *device {
	n.mu.Lock()
	defer n.mu.Unlock()
	d := n.devs[clientID]
	if d == nil {
		d = &device{net: n, site: site, edge: edge, station: station, clientID: clientID}
		n.devs[clientID] = d
	}
	return d
}

func (n *mqttNet) published() uint64 { return n.total.Load() }

// close disconnects every device.
func (n *mqttNet) close() {
	n.mu.Lock()
	devs := make([]*device, 0, len(n.devs))
	for _, d := range n.devs {
		devs = append(devs, d)
	}
	n.mu.Unlock()
	var wg sync.WaitGroup
	for _, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.mu.Lock()
			defer d.mu.Unlock()
			if d.c != nil {
				d.c.Disconnect(250)
				d.c = nil
			}
		}()
	}
	wg.Wait()
}

// client is the device's connection, made on first use.
func (d *device) client(ctx context.Context) (mqtt.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.c != nil {
		return d.c, nil
	}
	o := mqtt.NewClientOptions().AddBroker(d.net.broker).SetClientID(d.clientID).
		SetAutoReconnect(true).SetKeepAlive(30 * time.Second).SetConnectTimeout(10 * time.Second).
		SetMaxReconnectInterval(10 * time.Second).SetOrderMatters(false)
	if d.net.pkiDir != "" {
		// Its own certificate: the broker takes its identity from it and
		// confines it to its own topics.
		id := contract.EdgeIdentity(d.site, d.edge)
		f := Credentials(d.net.pkiDir, id)
		tc, err := uplink.TLSConfig(uplink.TLSFiles{CAFile: f.CAFile, CertFile: f.CertFile, KeyFile: f.KeyFile, ServerName: f.ServerName})
		if err != nil {
			return nil, fmt.Errorf("%s: credentials: %w", id, err)
		}
		o.SetTLSConfig(tc).SetClientID(id.String())
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return nil, fmt.Errorf("%s: connect to %s: %w", d.clientID, d.net.broker, err)
	}
	d.c = c
	return c, nil
}

// publish sends one event of the device, QoS 1, with its header filled in
// (the real time: the hub refuses times ahead of its clock).
func (d *device) publish(ctx context.Context, ev contract.ParcelEvent) error {
	c, err := d.client(ctx)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	ev.Header = contract.Header{V: contract.SchemaVersion, ID: contract.MessageID(d.clientID, d.net.boot, d.seq.Add(1)),
		Site: d.site, Edge: d.edge, TS: now, Sent: now}
	ev.Station = d.station
	b, err := contract.Encode(ev)
	if err != nil {
		return err
	}
	topic := contract.EventTopic(d.net.prefix, d.site, d.edge, d.station)
	tok := c.Publish(topic, 1, false, b)
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errors.New(d.clientID + ": publish not acknowledged within 15 s")
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("%s: publish: %w", d.clientID, err)
	}
	d.net.total.Add(1)
	return nil
}

// Names and goods of a county in the north (the plates are Shanxi's, 晋).

var (
	// farmers bring produce to the village points; keepers run them.
	people = []string{"张桂兰", "王建国", "李秀英", "刘玉梅", "陈德福", "杨树林", "赵金花", "黄志强", "周福贵", "吴春花",
		"孙长顺", "马秀珍", "郭保平", "何玉兰", "高建军", "罗凤英", "郑宝山", "梁淑芬", "谢有才", "韩翠花",
		"冯满仓", "曹桂芳", "彭国庆", "董金莲", "郝二虎", "薛春梅", "武志明", "贾秀兰", "任富贵", "乔月娥",
		"阎宝成", "段彩霞", "裴长青", "温海燕", "牛占魁", "白玉珍"}
	drivers = []string{"李建军", "张志刚", "刘海涛", "王永强", "赵建伟", "陈立新", "杨保国", "郝红兵", "薛志勇",
		"武宏伟", "贾建平", "任国栋", "乔振华", "阎立军", "段学文", "裴海龙"}
	damages = []string{"外包装破损", "纸箱挤压变形", "内有液体渗漏", "外箱受潮"}
	returns = []string{"收件人拒收", "超期未取", "收件人不在本村，联系不上"}
)

// product is a farm product the village points collect, with the weights
// its lots come in.
type product struct {
	name       string
	minKg      float64
	maxKg      float64
	weight     int // how often it comes, against the others
	gradeShare [3]int
}

var products = []product{
	{"苹果", 20, 120, 20, [3]int{35, 45, 20}},
	{"小米", 10, 60, 16, [3]int{40, 45, 15}},
	{"核桃", 10, 50, 12, [3]int{30, 50, 20}},
	{"红枣", 10, 60, 12, [3]int{30, 50, 20}},
	{"土鸡蛋", 5, 25, 12, [3]int{50, 40, 10}},
	{"香菇", 5, 30, 8, [3]int{30, 50, 20}},
	{"土豆", 30, 120, 10, [3]int{20, 50, 30}},
	{"花椒", 5, 20, 4, [3]int{40, 40, 20}},
	{"黄花菜", 5, 30, 4, [3]int{30, 50, 20}},
	{"蜂蜜", 5, 30, 2, [3]int{50, 40, 10}},
}

var grades = [3]string{"A", "B", "C"}

// pick is a stable choice from a list for a name: a village point's
// keeper, a township's dock clerk.
func pick(list []string, name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	return list[h.Sum32()%uint32(len(list))]
}

// Credentials are the TLS files of a simulated client in the hub's PKI
// directory pkiDir (hub -demo's data/pki): the bundle the hub wrote for
// identity id, its CA, certificate and key.
func Credentials(pkiDir string, id contract.Identity) config.TLS {
	dir := provision.LocalBundle(pkiDir, id)
	return config.TLS{CAFile: filepath.Join(dir, provision.CACert), CertFile: filepath.Join(dir, provision.EdgeCert),
		KeyFile: filepath.Join(dir, provision.EdgeKey)}
}

// waitCredentials waits until id's bundle is written (its edge.yaml comes
// last), or ctx ends.
func waitCredentials(ctx context.Context, pkiDir string, id contract.Identity) error {
	last := filepath.Join(provision.LocalBundle(pkiDir, id), provision.EdgeConfig)
	for {
		_, err := os.Stat(last)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("credentials of %s: %w", id, cmp.Or(err, ctx.Err()))
		case <-time.After(200 * time.Millisecond):
		}
	}
}
