package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/deploy/testenv"
	"github.com/countylink/countylink/hub/server"
	"github.com/countylink/countylink/hub/state"
)

// fakeEdge answers the hub's commands as an edge agent does, keeping the
// manifest it is sent.
type fakeEdge struct {
	mu       sync.Mutex
	manifest map[string]string
	commands []string
}

func startFakeEdge(t *testing.T, url, site, edge string) *fakeEdge {
	t.Helper()
	f := &fakeEdge{manifest: map[string]string{}}
	c := mqttClient(t, url, "fake-"+edge)
	tok := c.Subscribe(contract.CommandFilter(contract.DefaultPrefix, site, edge), 1, func(c mqtt.Client, m mqtt.Message) {
		tp, err := contract.ParseTopic(contract.DefaultPrefix, m.Topic())
		if err != nil {
			return
		}
		cmd, err := contract.DecodeCommand(tp, m.Payload())
		if err != nil {
			return
		}
		f.mu.Lock()
		f.commands = append(f.commands, cmd.Name)
		if cmd.Name == "manifest" {
			var a struct{ Parcels map[string]string }
			json.Unmarshal(cmd.Args, &a)
			for k, v := range a.Parcels {
				f.manifest[k] = v
			}
		}
		f.mu.Unlock()
		res := contract.Result{Header: contract.Header{V: contract.SchemaVersion, ID: contract.MessageID(edge, uint64(testBoot), publishSeq.Add(1)),
			Site: site, Edge: edge, TS: time.Now().UTC()}, Command: cmd.ID, OK: true}
		b, _ := contract.Encode(res)
		go c.Publish(contract.ResultTopic(contract.DefaultPrefix, site, edge), 1, false, b)
	})
	tok.Wait()
	return f
}

func (f *fakeEdge) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.commands {
		if c == name {
			n++
		}
	}
	return n
}

// TestManifestImport: a courier's CSV manifest imported through the API is
// validated row by row and pushed to the township's edge; the same file
// again changes nothing and sends nothing; a file dropped in the folder is
// imported too; an edge that was offline gets what it missed when it
// comes online.
func TestManifestImport(t *testing.T) {
	skipShort(t)
	broker := testenv.StartMosquitto(t)
	drop := t.TempDir()
	hub := startHub(t, func(c *server.Config) {
		c.MQTT.Broker = broker.URL()
		c.Manifests.Dir, c.Manifests.Poll = drop, 100*time.Millisecond
	})
	base := "http://" + hub.HTTPAddr
	pub := mqttClient(t, broker.URL(), "manifest-status")
	edge := startFakeEdge(t, broker.URL(), "tw01", "tw01-e1")
	publishStatus(t, pub, "tw01", "tw01-e1", contract.StateOnline, 0)
	waitFor(t, 5*time.Second, "the rules sent to the edge as it came online", func() error {
		if edge.count("rules") == 0 {
			return fmt.Errorf("no rules command")
		}
		return nil
	})

	csv := "运单号,快递公司,目的村,三段码,重量(kg)\n" +
		"SF1234567890123,顺丰,tw01-v01,,1.25\n" +
		"75984643426333,中通,tw01-v02,,0.8\n" +
		"YT7461461061170,圆通,tw01-v03,,2\n" +
		"SF1234567890124,中通,tw01-v04,,1\n" + // the number is SF's: rejected
		"JT0001234567890,极兔,tw01-v05,,250\n" // 250 kg: rejected
	post := func(body string) (int, map[string]any) {
		resp, err := http.Post(base+"/api/v1/manifests?site=tw01&format=csv", "text/csv", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, out := post(csv)
	rep, _ := out["report"].(map[string]any)
	if code != http.StatusOK || rep["accepted"] != 3.0 || rep["rejected"] != 2.0 {
		t.Fatalf("import: %d %v", code, out)
	}
	waitFor(t, 5*time.Second, "the accepted parcels on the edge", func() error {
		edge.mu.Lock()
		defer edge.mu.Unlock()
		if len(edge.manifest) != 3 || edge.manifest["SF1234567890123"] != "tw01-v01" || edge.manifest["YT7461461061170"] != "tw01-v03" {
			return fmt.Errorf("edge manifest %v", edge.manifest)
		}
		return nil
	})
	pushes := edge.count("manifest")
	code, out = post(csv)
	if saved, _ := out["saved"].(map[string]any); code != http.StatusOK || saved["repeat"] != true {
		t.Errorf("the same manifest again: %d %v", code, out)
	}
	var p struct {
		Waybill, Carrier, Village string
		WeightKg                  *float64 `json:"WeightKg"`
	}
	if err := getJSON(t, base+"/api/v1/manifests/parcels/sf1234567890123", &p); err != nil || p.Village != "tw01-v01" {
		t.Errorf("announced parcel: %+v %v", p, err)
	}
	if code, _ := post("not,a,manifest\n1,2,3\n"); code != http.StatusBadRequest && code != http.StatusUnprocessableEntity {
		t.Errorf("a file with no manifest columns: %d", code)
	}

	// The edge goes offline; a manifest dropped in the folder meanwhile
	// reaches it when it is back.
	publishStatus(t, pub, "tw01", "tw01-e1", contract.StateOffline, 0)
	waitFor(t, 10*time.Second, "the hub sees the edge offline", func() error {
		var sites []state.SiteView
		if err := getJSON(t, base+"/api/v1/sites", &sites); err != nil {
			return err
		}
		for _, s := range sites {
			for _, e := range s.Edges {
				if s.ID == "tw01" && e.Edge == "tw01-e1" && !e.Online {
					return nil
				}
			}
		}
		return fmt.Errorf("tw01-e1 still online")
	})
	if err := os.WriteFile(filepath.Join(drop, "tw01_zto-1129.csv"), []byte("waybill,carrier,village\n731234567890,ZTO,tw01-v06\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the dropped file imported", func() error {
		if _, err := os.Stat(filepath.Join(drop, "done", "tw01_zto-1129.csv")); err != nil {
			return err
		}
		return nil
	})
	if n := edge.count("manifest"); n != pushes {
		t.Errorf("%d manifest commands to an offline edge", n-pushes)
	}
	publishStatus(t, pub, "tw01", "tw01-e1", contract.StateOnline, 0)
	waitFor(t, 5*time.Second, "the missed parcel pushed on reconnection", func() error {
		edge.mu.Lock()
		defer edge.mu.Unlock()
		if edge.manifest["731234567890"] != "tw01-v06" || len(edge.manifest) != 4 {
			return fmt.Errorf("edge manifest %v", edge.manifest)
		}
		return nil
	})
}

// TestSortPlanPushed: a township's plan saved through the API goes to its
// edge at once, and again when the edge comes back online; a plan that
// fails its check, or names another township, is refused with the reason.
func TestSortPlanPushed(t *testing.T) {
	skipShort(t)
	broker := testenv.StartMosquitto(t)
	hub := startHub(t, func(c *server.Config) { c.MQTT.Broker = broker.URL() })
	base := "http://" + hub.HTTPAddr
	pub := mqttClient(t, broker.URL(), "plan-status")
	edge := startFakeEdge(t, broker.URL(), "tw04", "tw04-e1")
	publishStatus(t, pub, "tw04", "tw04-e1", contract.StateOnline, 0)
	waitFor(t, 5*time.Second, "edge known online", func() error {
		if edge.count("rules") == 0 {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if edge.count("sortplan") != 0 {
		t.Fatal("a plan sent before any was saved")
	}
	put := func(body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPut, base+"/api/v1/sites/tw04/sortplan", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	plan := `{"v":1,"site":"tw04","version":"2026-11-29.2","routes":[{"id":"r01","name":"东线","villages":["v01","v02"]},{"id":"r02","name":"西线","villages":["v03"]}],` +
		`"stations":{"s1":{"r01":"b01","r02":"b02"}},"exception_bin":{"s1":"b99"}}`
	if code, body := put(plan); code != http.StatusOK || !strings.Contains(body, `"sent_to":["tw04-e1"]`) {
		t.Fatalf("put plan: %d %s", code, body)
	}
	waitFor(t, 5*time.Second, "the plan on the edge", func() error {
		if edge.count("sortplan") != 1 {
			return fmt.Errorf("%d sortplan commands", edge.count("sortplan"))
		}
		return nil
	})
	var got struct{ Version string }
	if err := getJSON(t, base+"/api/v1/sites/tw04/sortplan", &got); err != nil || got.Version != "2026-11-29.2" {
		t.Errorf("get plan: %+v %v", got, err)
	}
	if code, body := put(strings.Replace(plan, `"r02":"b02"`, `"r02":"b01"`, 1)); code != http.StatusBadRequest || !strings.Contains(body, "bin b01 serves both") {
		t.Errorf("a bin for two routes: %d %s", code, body)
	}
	if code, body := put(strings.Replace(plan, `"site":"tw04"`, `"site":"tw05"`, 1)); code != http.StatusBadRequest || !strings.Contains(body, "another site") {
		t.Errorf("a plan of another township: %d %s", code, body)
	}
	publishStatus(t, pub, "tw04", "tw04-e1", contract.StateOffline, 0)
	time.Sleep(200 * time.Millisecond)
	publishStatus(t, pub, "tw04", "tw04-e1", contract.StateOnline, 0)
	waitFor(t, 5*time.Second, "the plan sent again on reconnection", func() error {
		if edge.count("sortplan") != 2 {
			return fmt.Errorf("%d sortplan commands", edge.count("sortplan"))
		}
		return nil
	})
}
