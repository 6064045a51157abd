package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/pki"
	"github.com/countylink/countylink/hub/provision"
	"github.com/countylink/countylink/hub/state"
)

// TestDemo starts what `make run` starts: the hub binary with -demo (its
// embedded broker and store, an admin whose login it prints, a kiosk URL
// for the wall screen, an API token for devsim) and devsim simulating
// every township with a real edge agent each, calling the API with that
// token. All 19 townships come online with live cold rooms; Ctrl-C stops
// both cleanly; the data survives a hub restart. The broker is secured:
// every simulated client logs in over TLS with the certificate the hub
// made for it, and neither an anonymous client nor one with another
// edge's certificate gets a message in.
func TestDemo(t *testing.T) {
	skipShort(t)
	hubBin := binary(t, "./hub/cmd/hub", "amd64")
	simBin := binary(t, "./edge/cmd/devsim", "amd64")
	dir := t.TempDir()
	httpAddr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	brokerAddr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	tlsAddr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	base := "http://" + httpAddr

	startHubProc := func() *agentProc {
		return startProc(t, dir, hubBin, "-demo", "-listen", httpAddr, "-broker-listen", brokerAddr, "-broker-tls-listen", tlsAddr)
	}
	start := time.Now()
	hubProc := startHubProc()
	tokenFile := filepath.Join(dir, "data", "demo-api-token")
	pkiDir := filepath.Join(dir, "data", "pki")
	simProc := startProc(t, "", simBin, "-county", "-hub", base, "-broker", "ssl://"+tlsAddr, "-pki", pkiDir,
		"-state", filepath.Join(dir, "data", "edges"), "-interval", "500ms", "-token-file", tokenFile)
	authorizeFile(t, httpAddr, tokenFile)

	// The console shows the admin's login once, and the wall screen's URL.
	var password string
	waitFor(t, 10*time.Second, "the login on the hub's console", func() error {
		out := hubProc.log.String()
		_, after, ok := strings.Cut(out, "Login: admin / ")
		if !ok || !strings.Contains(out, "Wall screen (kiosk, no login): "+base+"/?kiosk=1#kiosk=clk_") {
			return fmt.Errorf("console: %s", out)
		}
		password, _, _ = strings.Cut(after, " ")
		return nil
	})
	if b, err := os.ReadFile(filepath.Join(dir, "data", "admin-password")); err != nil || strings.TrimSpace(string(b)) != password {
		t.Errorf("data/admin-password %q, the console said %q (%v)", b, password, err)
	}
	if st, err := os.Stat(filepath.Join(dir, "data", "admin-password")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("data/admin-password: %v %v, want mode 0600", st.Mode(), err)
	}
	// It says where the edges connect and where their credentials are;
	// the keys are its user's only.
	for _, want := range []string{"Edges connect to ssl://" + tlsAddr + " with client certificates", "County CA (ca.key, keep it): data/pki",
		"Edge credentials (341, keys 0600): data/pki/edges/<site>.<edge>/"} {
		if !strings.Contains(hubProc.log.String(), want) {
			t.Errorf("the console does not say %q: %s", want, hubProc.log.String())
		}
	}
	for _, key := range []string{provision.CAKey, provision.BrokerKey, filepath.Join(provision.LocalEdges, "tw01.tw01-e1", provision.EdgeKey),
		filepath.Join(provision.LocalEdges, "tw01-v01.vp", provision.EdgeKey)} {
		if st, err := os.Stat(filepath.Join(pkiDir, key)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("data/pki/%s: %v, want mode 0600", key, err)
		}
	}
	login, err := http.Post(base+"/api/v1/auth/login", "application/json", strings.NewReader(`{"name": "admin", "password": "`+password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	login.Body.Close()
	if login.StatusCode != http.StatusOK {
		t.Errorf("the admin's login with the printed password: %s", login.Status)
	}

	var rooms []state.RoomView
	waitFor(t, 30*time.Second, "every cold room live", func() error {
		rooms = nil
		if err := getJSON(t, base+"/api/v1/coldrooms", &rooms); err != nil {
			return err
		}
		for _, r := range rooms {
			if r.TS == nil {
				return fmt.Errorf("%s/%s has no reading", r.Site, r.Room)
			}
		}
		return nil
	})
	var sites []state.SiteView
	waitFor(t, 10*time.Second, "county and 19 townships online", func() error {
		sites = nil
		if err := getJSON(t, base+"/api/v1/sites", &sites); err != nil {
			return err
		}
		online, warehouses := 0, 0
		for _, s := range sites {
			if s.Kind == hub.Village {
				continue // a phone-class device at most, not an edge box of the demo
			}
			warehouses++
			if s.Online {
				online++
			}
		}
		if warehouses != 20 || online != warehouses {
			return fmt.Errorf("%d of %d county and township sites online", online, warehouses)
		}
		return nil
	})
	t.Logf("demo: %d sites online and %d cold rooms live %v after start", len(sites), len(rooms), time.Since(start).Round(time.Millisecond))
	if len(rooms) < 19 {
		t.Fatalf("%d cold rooms, want at least one per township", len(rooms))
	}

	// Every township's staff sort parcels into lit bins and confirm them.
	waitFor(t, 60*time.Second, "every township sorting parcels", func() error {
		sites = nil
		if err := getJSON(t, base+"/api/v1/sites", &sites); err != nil {
			return err
		}
		for _, s := range sites {
			if s.Kind == "township" && (s.Parcels.Sorted == 0 || s.Parcels.Confirmed == 0) {
				return fmt.Errorf("%s: %+v", s.ID, s.Parcels)
			}
		}
		return nil
	})
	var evs []struct {
		Kind, Waybill, Bin, Route, Carrier string
		WeightKg                           *float64 `json:"weight_kg"`
	}
	if err := getJSON(t, base+"/api/v1/parcels/events?site=tw05&limit=20", &evs); err != nil || len(evs) == 0 {
		t.Fatalf("events of tw05: %v %v", evs, err)
	}
	weighed := 0
	for _, e := range evs {
		if e.WeightKg != nil {
			weighed++
		}
	}
	if weighed == 0 {
		t.Errorf("no event of tw05 carries a weight: %+v", evs)
	}
	// The parcel's timeline: announced by the demo's manifest through the
	// hub, then sorted at the station.
	var p struct {
		State     string
		Flags     []string
		Announced *struct{ Village string }
		Events    []struct{ Kind string }
	}
	for _, e := range evs {
		if e.Route == "" {
			continue // an exception: unknown codes are in no manifest
		}
		if err := getJSON(t, base+"/api/v1/parcels/"+e.Waybill, &p); err != nil {
			t.Fatal(err)
		}
		if p.Announced == nil || p.Announced.Village == "" || len(p.Events) == 0 || (p.State != "sorted" && p.State != "confirmed") {
			t.Errorf("parcel %s: %+v", e.Waybill, p)
		}
		break
	}

	// Every edge holds its rooms' alarm rules, pushed by the hub as it came
	// online, for its signal on site.
	waitFor(t, 30*time.Second, "room rules on every edge", func() error {
		for _, s := range sites {
			if s.Kind != "township" {
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, "data", "edges", s.ID+"-e1", "rules.json")); err != nil {
				ents, _ := os.ReadDir(filepath.Join(dir, "data", "edges", s.ID+"-e1"))
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				return fmt.Errorf("%v (the directory holds %v)", err, names)
			}
		}
		return nil
	})

	// A coordinator sets cold room 1's setpoint at tw03: the hub publishes the
	// command, the agent writes the controller on its RS-485 line and reads
	// the value back.
	resp, err := http.Post(base+"/api/v1/sites/tw03/edges/tw03-e1/commands/write?wait=20s", "application/json",
		strings.NewReader(`{"device":"cr1-ctl","field":"setpoint","value":1.5}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"value":1.5`) {
		t.Errorf("write command: %s %s", resp.Status, body)
	}
	resp, err = http.Post(base+"/api/v1/sites/tw03/edges/tw03-e1/commands/write", "application/json",
		strings.NewReader(`{"device":"cr1-ctl","field":"temperature","value":1.5}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "not writable") {
		t.Errorf("write of a read-only field: %s %s", resp.Status, body)
	}

	// Ctrl-C: both exit cleanly (exit status 0).
	if err := simProc.stop(os.Interrupt); err != nil {
		t.Errorf("devsim after SIGINT: %v\n%s", err, simProc.log.String())
	}

	// With the simulation stopped (an identity is one session at a time),
	// outsiders try the demo's broker.
	demoBrokerRefuses(t, pkiDir, brokerAddr, tlsAddr)
	if err := hubProc.stop(os.Interrupt); err != nil {
		t.Errorf("hub after SIGINT: %v", err)
	}

	// The data directory brings the rooms back at once, before any edge
	// speaks; the password is not printed again.
	again := startHubProc()
	waitFor(t, 15*time.Second, "readings restored after restart", func() error {
		var again []state.RoomView
		if err := getJSON(t, base+"/api/v1/coldrooms", &again); err != nil {
			return err
		}
		for _, r := range again {
			if r.TS == nil {
				return fmt.Errorf("%s/%s lost its reading", r.Site, r.Room)
			}
		}
		if len(again) != len(rooms) {
			return fmt.Errorf("%d rooms after restart, %d before", len(again), len(rooms))
		}
		return nil
	})
	if out := again.log.String(); strings.Contains(out, password) || !strings.Contains(out, "Login: admin, password in ") {
		t.Errorf("the restarted hub's console: %s", out)
	}
}

// demoBrokerRefuses checks that the demo's broker lets in no anonymous
// client, on either listener, and that an edge logged in with its own
// certificate cannot publish as another: the broker disconnects it.
func demoBrokerRefuses(t *testing.T, pkiDir, plainAddr, tlsAddr string) {
	t.Helper()
	caOnly, err := pki.ClientTLS(pki.ClientFiles{CAFile: filepath.Join(pkiDir, provision.CACert)})
	if err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]*mqtt.ClientOptions{
		"anonymous":                  mqtt.NewClientOptions().AddBroker("tcp://" + plainAddr).SetClientID("anon"),
		"anonymous, a guessed login": mqtt.NewClientOptions().AddBroker("tcp://" + plainAddr).SetClientID("tw01.tw01-e1").SetUsername("tw01.tw01-e1").SetPassword("tw01"),
		"TLS without a certificate":  mqtt.NewClientOptions().AddBroker("ssl://" + tlsAddr).SetClientID("anon-tls").SetTLSConfig(caOnly),
	} {
		if cl, err := tryConnect(t, o); err == nil {
			cl.Disconnect(50)
			t.Errorf("%s: connected to the demo broker", name)
		}
	}

	// tw02's edge, with its own certificate, publishes as tw01's.
	own := provision.LocalBundle(pkiDir, contract.EdgeIdentity("tw02", "tw02-e1"))
	tc, err := pki.ClientTLS(pki.ClientFiles{CAFile: filepath.Join(own, provision.CACert), CertFile: filepath.Join(own, provision.EdgeCert),
		KeyFile: filepath.Join(own, provision.EdgeKey)})
	if err != nil {
		t.Fatal(err)
	}
	lost := make(chan error, 1)
	cl, err := tryConnect(t, mqtt.NewClientOptions().AddBroker("ssl://"+tlsAddr).SetClientID("tw02.tw02-e1").SetTLSConfig(tc).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err }))
	if err != nil {
		t.Fatalf("tw02's edge with its own certificate: %v", err)
	}
	defer cl.Disconnect(50)
	now := time.Now().UTC()
	st, err := contract.Encode(contract.Status{Header: contract.Header{V: contract.SchemaVersion, ID: "forged-1", Site: "tw01", Edge: "tw01-e1", TS: now, Sent: now},
		State: contract.StateOnline})
	if err != nil {
		t.Fatal(err)
	}
	tok := cl.Publish(contract.StatusTopic(contract.DefaultPrefix, "tw01", "tw01-e1"), 1, false, st)
	select {
	case err := <-lost:
		t.Logf("tw02's edge publishing as tw01's: disconnected by the broker (%v)", err)
	case <-tok.Done():
		if tok.Error() == nil {
			t.Error("tw02's edge published on tw01's status topic: acknowledged")
		} else {
			t.Logf("tw02's edge publishing as tw01's: refused (%v)", tok.Error())
		}
	case <-time.After(10 * time.Second):
		t.Error("tw02's edge publishing as tw01's: neither acknowledged nor disconnected in 10 s")
	}
}
