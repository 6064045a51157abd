package contract

import "testing"

func TestHubLiveTopic(t *testing.T) {
	if got := HubLiveTopic(DefaultPrefix, "hub-a"); got != "countylink/_hub/hub-a/live" {
		t.Fatalf("HubLiveTopic = %q", got)
	}
	if got := HubLiveFilter("p"); got != "p/_hub/+/live" {
		t.Fatalf("HubLiveFilter = %q", got)
	}
	if !matchFilter(HubLiveFilter(DefaultPrefix), HubLiveTopic(DefaultPrefix, "hub-a")) {
		t.Error("the live filter does not match a replica's topic")
	}
	if ValidID(HubSite) {
		t.Errorf("ValidID(%q) = true: a site could be named like the hubs' level", HubSite)
	}
}

// TestHubLiveTopicNotEdges: the replicas' topic is no edge's. The hub's
// upstream filters (shared or not) and an edge's command filter never
// match it, whatever the replica is named (even like a kind), and
// ParseTopic refuses it, so a message there is never taken for an edge's.
func TestHubLiveTopicNotEdges(t *testing.T) {
	for _, replica := range []string{"hub-a", "status", "result", "telemetry", "event", "cmd", "plan", "live", "_site"} {
		topic := HubLiveTopic(DefaultPrefix, replica)
		for _, f := range UpstreamFilters(DefaultPrefix) {
			if matchFilter(f, topic) {
				t.Errorf("upstream filter %q matches %q", f, topic)
			}
		}
		for _, f := range []string{CommandFilter(DefaultPrefix, "+", "+"), PlanTopic(DefaultPrefix, "+")} {
			if matchFilter(f, topic) {
				t.Errorf("edge filter %q matches %q", f, topic)
			}
		}
		if got, err := ParseTopic(DefaultPrefix, topic); err == nil || ReasonOf(err) != ReasonTopic {
			t.Errorf("ParseTopic(%q) = %+v, %v; want a topic rejection", topic, got, err)
		}
	}
	// Nor does the replicas' filter match any edge topic.
	for _, topic := range []string{
		StatusTopic(DefaultPrefix, "tw01", "tw01-e1"),
		TelemetryTopic(DefaultPrefix, "tw01", "tw01-e1", "live"),
		ResultTopic(DefaultPrefix, "tw01", "live"),
		PlanTopic(DefaultPrefix, "tw01"),
	} {
		if matchFilter(HubLiveFilter(DefaultPrefix), topic) {
			t.Errorf("the live filter matches the edge topic %q", topic)
		}
	}
}
