package provisiontest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub/access"
	"github.com/countylink/countylink/hub/provision"
)

// Observer is the hub identity CheckCases watches the broker with; the
// county must have provisioned it with a password (ProvisionCases does).
var Observer = contract.HubIdentity("observer")

// ProvisionCases provisions the identities of access.Cases (certificates
// for the edges, a certificate and a password for the hub) and Observer.
func (c *County) ProvisionCases(t testing.TB) {
	t.Helper()
	for _, id := range []contract.Identity{access.CaseEdge, access.CaseSameSite, access.CaseOtherSite} {
		c.Issue(t, id, provision.IssueOptions{Cert: true})
	}
	c.Issue(t, access.CaseHub, provision.IssueOptions{Cert: true, Password: true})
	c.Issue(t, Observer, provision.IssueOptions{Password: true})
}

// Broker is a broker CheckCases puts access.Cases to.
type Broker struct {
	Name string
	// URL is where id connects (its certificate on an ssl:// URL, its
	// password otherwise).
	URL func(id contract.Identity) string
	// GrantsAll says the broker grants every subscription and checks each
	// message it would deliver (Mosquitto 2.0); otherwise a refused
	// subscription gets 0x80 in its SUBACK (the embedded broker).
	GrantsAll bool
	// DeniedPublish reports whether the broker refused the publish of
	// payload on topic (its log, or a hook). It must not wait: the publish
	// was handled.
	DeniedPublish func(topic, payload string) bool
}

// CheckCases puts every case of access.Cases to b with real clients:
// a publish is accepted (the Observer receives it) or refused (it does
// not, and DeniedPublish says so), a subscription receives its probe or
// does not (and is refused in its SUBACK unless GrantsAll).
func CheckCases(t *testing.T, c *County, b Broker) {
	prefix := c.Registry.Prefix()
	var mu sync.Mutex
	seen := map[string]int{}
	observer := c.connect(t, Observer, b.URL(Observer))
	defer observer.Disconnect(50)
	if tok := observer.Subscribe(prefix+"/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		seen[m.Topic()+" "+string(m.Payload())]++
		mu.Unlock()
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("%s: observer subscription: %v", b.Name, tok.Error())
	}
	observed := func(topic, payload string) bool {
		mu.Lock()
		defer mu.Unlock()
		return seen[topic+" "+payload] > 0
	}
	waitObserved := func(topic, payload string) bool {
		deadline := time.Now().Add(5 * time.Second)
		for !observed(topic, payload) {
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(5 * time.Millisecond)
		}
		return true
	}
	sentinel := 0
	// flush makes sure what the broker accepted before now has reached
	// the observer: a message published after it, by another client,
	// arrives after it.
	flush := func() {
		t.Helper()
		sentinel++
		topic := contract.StatusTopic(prefix, access.CaseSameSite.Site, access.CaseSameSite.Edge)
		p := fmt.Sprintf("sentinel-%d", sentinel)
		pub := c.connect(t, access.CaseSameSite, b.URL(access.CaseSameSite))
		defer pub.Disconnect(50)
		if tok := pub.Publish(topic, 1, false, p); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("sentinel: %v", tok.Error())
		}
		if !waitObserved(topic, p) {
			t.Fatal("the sentinel never reached the observer")
		}
	}

	for i, cs := range access.Cases(prefix) {
		t.Run(cs.Name, func(t *testing.T) {
			payload := fmt.Sprintf("case-%d", i)
			if cs.Write {
				cl := c.connect(t, cs.Who, b.URL(cs.Who))
				defer cl.Disconnect(50)
				tok := cl.Publish(cs.Topic, 1, false, payload)
				done := tok.WaitTimeout(5 * time.Second)
				if cs.Allowed {
					if !done || tok.Error() != nil {
						t.Fatalf("%s publishing on %s: %v", cs.Who, cs.Topic, tok.Error())
					}
					if !waitObserved(cs.Topic, payload) {
						t.Fatalf("%s publishing on %s: not delivered", cs.Who, cs.Topic)
					}
					return
				}
				// Refused: acknowledged and dropped, or the connection
				// closed; either way handled before the sentinel.
				flush()
				if strings.HasPrefix(cs.Topic, prefix+"/") && observed(cs.Topic, payload) {
					t.Fatalf("%s publishing on %s: delivered", cs.Who, cs.Topic)
				}
				if !b.DeniedPublish(cs.Topic, payload) {
					t.Fatalf("%s publishing on %s: the broker does not say it refused it", cs.Who, cs.Topic)
				}
				return
			}

			// Only the probe counts: paho hands a message to every handler
			// whose filter matches, refused subscriptions included.
			got := make(chan string, 16)
			cl := c.connect(t, cs.Who, b.URL(cs.Who))
			defer cl.Disconnect(50)
			tok := cl.Subscribe(cs.Topic, 1, func(_ mqtt.Client, m mqtt.Message) {
				if string(m.Payload()) == payload {
					got <- m.Topic() + " " + string(m.Payload())
				}
			})
			if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatalf("subscribe %s: %v", cs.Topic, tok.Error())
			}
			key := cs.Topic // paho keys a shared subscription's result by its filter
			if rest, ok := strings.CutPrefix(key, "$share/"); ok {
				_, key, _ = strings.Cut(rest, "/")
			}
			code := tok.(*mqtt.SubscribeToken).Result()[key]
			switch {
			case cs.Allowed && code != 1:
				t.Fatalf("%s subscribing to %s: SUBACK %#x, want QoS 1", cs.Who, cs.Topic, code)
			case !cs.Allowed && !b.GrantsAll && code != 0x80:
				t.Fatalf("%s subscribing to %s: SUBACK %#x, want 0x80 (refused)", cs.Who, cs.Topic, code)
			}
			if cs.Probe == "" {
				return
			}
			by := c.connect(t, cs.ProbeBy, b.URL(cs.ProbeBy))
			defer by.Disconnect(50)
			if pt := by.Publish(cs.Probe, 1, false, payload); !pt.WaitTimeout(5*time.Second) || pt.Error() != nil {
				t.Fatalf("probe by %s on %s: %v", cs.ProbeBy, cs.Probe, pt.Error())
			}
			want := cs.Probe + " " + payload
			if cs.Allowed {
				select {
				case m := <-got:
					if m != want {
						t.Fatalf("got %q, want %q", m, want)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("%s subscribed to %s: the probe %s never came", cs.Who, cs.Topic, cs.Probe)
				}
				return
			}
			// Refused: a command to Who sent after the probe, by the hub,
			// comes through its own subscription after where the probe
			// would have come.
			mark := contract.CommandTopic(prefix, cs.Who.Site, cs.Who.Edge, "mark")
			marked := make(chan struct{})
			if st := cl.Subscribe(mark, 1, func(mqtt.Client, mqtt.Message) { close(marked) }); !st.WaitTimeout(5*time.Second) || st.Error() != nil {
				t.Fatalf("mark subscription: %v", st.Error())
			}
			hub := c.connect(t, access.CaseHub, b.URL(access.CaseHub))
			defer hub.Disconnect(50)
			if pt := hub.Publish(mark, 1, false, "mark"); !pt.WaitTimeout(5*time.Second) || pt.Error() != nil {
				t.Fatalf("mark: %v", pt.Error())
			}
			select {
			case <-marked:
			case m := <-got:
				t.Fatalf("%s subscribed to %s: received %q", cs.Who, cs.Topic, m)
			case <-time.After(5 * time.Second):
				t.Fatal("the mark never came")
			}
			select {
			case m := <-got:
				t.Fatalf("%s subscribed to %s: received %q", cs.Who, cs.Topic, m)
			default:
			}
		})
	}
}

// connect connects id to url and fails the test if it cannot.
func (c *County) connect(t testing.TB, id contract.Identity, url string) mqtt.Client {
	t.Helper()
	cl := mqtt.NewClient(c.Options(t, id, url).SetClientID(fmt.Sprintf("%s-%d", id, time.Now().UnixNano())))
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("%s connecting to %s: %v", id, url, tok.Error())
	}
	return cl
}
