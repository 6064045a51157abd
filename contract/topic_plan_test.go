package contract

import (
	"strings"
	"testing"
)

func TestPlanTopicRoundTrip(t *testing.T) {
	topic := PlanTopic(DefaultPrefix, "tw01")
	if topic != "countylink/tw01/_site/plan" {
		t.Fatalf("PlanTopic = %q", topic)
	}
	got, err := ParseTopic(DefaultPrefix, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := Topic{Prefix: DefaultPrefix, Site: "tw01", Edge: SiteEdge, Kind: KindPlan}
	if got != want {
		t.Fatalf("ParseTopic(%q) = %+v, want %+v", topic, got, want)
	}
	if got.String() != topic {
		t.Fatalf("String() = %q, want %q", got.String(), topic)
	}
	if p := PlanTopic("p", "s"); p != "p/s/_site/plan" {
		t.Fatalf("PlanTopic(p, s) = %q", p)
	}
}

// TestPlanTopicRefusals: plan lives only on the site level, the site
// level carries only plan, and no edge can be named like it.
func TestPlanTopicRefusals(t *testing.T) {
	for _, topic := range []string{
		"countylink/tw01/tw01-e1/plan",      // plan on an edge's own level
		"countylink/tw01/e1/plan",           // ditto
		"countylink/tw01/_site/plan/x",      // a name level
		"countylink/tw01/_site/status",      // another kind on the site level
		"countylink/tw01/_site/cmd/ping",    // commands go to one edge
		"countylink/tw01/_site/telemetry/d", // nothing comes up from _site
		"countylink/tw01/_site",             // too few levels
		"countylink/+/_site/plan",           // a filter, not a topic
		"countylink/_site/_site/plan",       // _site is no site either
		"countylink/TW01/_site/plan",        // bad site
		"countylink/tw01/_other/plan",       // no other reserved level
		"countylink/tw01/_site/plans",       // unknown kind
	} {
		got, err := ParseTopic(DefaultPrefix, topic)
		if err == nil {
			t.Errorf("ParseTopic(%q) = %+v, accepted", topic, got)
			continue
		}
		if ReasonOf(err) != ReasonTopic {
			t.Errorf("ParseTopic(%q) reason %q, want topic", topic, ReasonOf(err))
		}
	}
	if ValidID(SiteEdge) {
		t.Errorf("ValidID(%q) = true: an edge could be named like the site level", SiteEdge)
	}
	// The edges' upward filters do not catch the plan.
	for _, f := range UpstreamFilters(DefaultPrefix) {
		if matchFilter(f, PlanTopic(DefaultPrefix, "tw01")) {
			t.Errorf("upstream filter %q matches the plan topic", f)
		}
	}
	if matchFilter(CommandFilter(DefaultPrefix, "tw01", "tw01-e1"), PlanTopic(DefaultPrefix, "tw01")) {
		t.Error("the command filter matches the plan topic")
	}
}

// matchFilter is MQTT topic matching with + and #, for the test.
func matchFilter(filter, topic string) bool {
	fs, ts := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, f := range fs {
		if f == "#" {
			return true
		}
		if i >= len(ts) || (f != "+" && f != ts[i]) {
			return false
		}
	}
	return len(fs) == len(ts)
}
