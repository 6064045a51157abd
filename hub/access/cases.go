package access

import "github.com/countylink/countylink/contract"

// Case is one question to the ACL, with its answer: may Who publish on
// Topic (Write) or subscribe to it? The same cases are put to Allowed, to
// a real Mosquitto running MosquittoACL and to the embedded broker, so
// that the three agree.
type Case struct {
	Name    string
	Who     contract.Identity
	Topic   string // a topic to publish on, or a filter to subscribe to
	Write   bool
	Allowed bool
	// Probe, for a subscription, is a topic the filter matches that
	// ProbeBy may publish on: Who receives it if and only if Allowed. A
	// broker that grants every subscription (Mosquitto 2.0) is judged by
	// it. Empty when no such topic exists (nobody may publish where the
	// filter reaches beyond the rules).
	Probe   string
	ProbeBy contract.Identity
}

// Case identities: two edges of one site, one of another, and a hub.
var (
	CaseEdge      = contract.EdgeIdentity("tw01", "tw01-e1")
	CaseSameSite  = contract.EdgeIdentity("tw01", "tw01-e2")
	CaseOtherSite = contract.EdgeIdentity("tw02", "tw02-e1")
	CaseHub       = contract.HubIdentity("hub")
)

// Cases are the ACL's cases under prefix.
func Cases(prefix string) []Case {
	pub := func(name string, who contract.Identity, topic string, allowed bool) Case {
		return Case{Name: name, Who: who, Topic: topic, Write: true, Allowed: allowed}
	}
	sub := func(name string, who contract.Identity, filter string, allowed bool, probe string, by contract.Identity) Case {
		return Case{Name: name, Who: who, Topic: filter, Allowed: allowed, Probe: probe, ProbeBy: by}
	}
	e, o, h := CaseEdge, CaseOtherSite, CaseHub
	p := prefix
	return []Case{
		// An edge publishes what it owns...
		pub("edge status", e, contract.StatusTopic(p, e.Site, e.Edge), true),
		pub("edge telemetry", e, contract.TelemetryTopic(p, e.Site, e.Edge, "cr1-th"), true),
		pub("edge event", e, contract.EventTopic(p, e.Site, e.Edge, "s1"), true),
		pub("edge result", e, contract.ResultTopic(p, e.Site, e.Edge), true),
		// ...and nothing as another edge, another site, or the hub.
		pub("as another edge of its site", e, contract.TelemetryTopic(p, e.Site, CaseSameSite.Edge, "cr1-th"), false),
		pub("as an edge of another site", e, contract.TelemetryTopic(p, o.Site, o.Edge, "cr1-th"), false),
		pub("its own edge id under another site", e, contract.TelemetryTopic(p, o.Site, e.Edge, "cr1-th"), false),
		pub("status of another edge", e, contract.StatusTopic(p, o.Site, o.Edge), false),
		pub("a command to itself", e, contract.CommandTopic(p, e.Site, e.Edge, "write"), false),
		pub("a command to another edge", e, contract.CommandTopic(p, e.Site, CaseSameSite.Edge, "write"), false),
		pub("its site's sort plan", e, contract.PlanTopic(p, e.Site), false),
		pub("the hub relay", e, p+"/_hub/hub/live", false),
		pub("below its telemetry", e, contract.TelemetryTopic(p, e.Site, e.Edge, "cr1-th")+"/x", false),
		pub("outside the prefix", e, "other/"+e.Site+"/"+e.Edge+"/status", false),
		// It reads its commands and its site's plan...
		sub("edge commands", e, contract.CommandFilter(p, e.Site, e.Edge), true, contract.CommandTopic(p, e.Site, e.Edge, "ping"), h),
		sub("edge one command", e, contract.CommandTopic(p, e.Site, e.Edge, "ping"), true, contract.CommandTopic(p, e.Site, e.Edge, "ping"), h),
		sub("edge site plan", e, contract.PlanTopic(p, e.Site), true, contract.PlanTopic(p, e.Site), h),
		// ...and nothing else.
		sub("commands of another edge", e, contract.CommandFilter(p, e.Site, CaseSameSite.Edge), false, contract.CommandTopic(p, e.Site, CaseSameSite.Edge, "ping"), h),
		sub("commands of every edge of its site", e, p+"/"+e.Site+"/+/cmd/+", false, contract.CommandTopic(p, e.Site, CaseSameSite.Edge, "ping"), h),
		sub("plan of another site", e, contract.PlanTopic(p, o.Site), false, contract.PlanTopic(p, o.Site), h),
		sub("every plan", e, contract.PlanTopic(p, "+"), false, contract.PlanTopic(p, o.Site), h),
		sub("its own commands and deeper", e, p+"/"+e.Site+"/"+e.Edge+"/cmd/#", false, "", contract.Identity{}),
		sub("everything", e, "#", false, contract.CommandTopic(p, o.Site, o.Edge, "ping"), h),
		sub("everything under the prefix", e, p+"/#", false, contract.TelemetryTopic(p, o.Site, o.Edge, "cr1-th"), o),
		sub("telemetry of its site", e, p+"/"+e.Site+"/+/telemetry/+", false, contract.TelemetryTopic(p, e.Site, CaseSameSite.Edge, "cr1-th"), CaseSameSite),
		sub("the hub relay, read", e, p+"/_hub/+/live", false, p+"/_hub/hub/live", h),
		// The hub reads everything and writes commands, plans and relay.
		sub("hub reads all", h, p+"/#", true, contract.TelemetryTopic(p, e.Site, e.Edge, "cr1-th"), e),
		sub("hub upstream filter", h, p+"/+/+/telemetry/+", true, contract.TelemetryTopic(p, o.Site, o.Edge, "cr1-th"), o),
		sub("hub shared subscription", h, "$share/hubs/"+p+"/+/+/telemetry/+", true, contract.TelemetryTopic(p, e.Site, e.Edge, "cr1-th"), e),
		pub("hub command", h, contract.CommandTopic(p, o.Site, o.Edge, "ping"), true),
		pub("hub plan", h, contract.PlanTopic(p, o.Site), true),
		pub("hub relay", h, p+"/_hub/hub/live", true),
		pub("hub forging a reading", h, contract.TelemetryTopic(p, e.Site, e.Edge, "cr1-th"), false),
		pub("hub outside the prefix", h, "other/x", false),
	}
}
