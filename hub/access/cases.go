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
	e, o := CaseEdge, CaseOtherSite
	p := prefix
	return []Case{
		// An edge publishes what it owns...
		{"edge status", e, contract.StatusTopic(p, e.Site, e.Edge), true, true},
		{"edge telemetry", e, contract.TelemetryTopic(p, e.Site, e.Edge, "cr1-th"), true, true},
		{"edge event", e, contract.EventTopic(p, e.Site, e.Edge, "s1"), true, true},
		{"edge result", e, contract.ResultTopic(p, e.Site, e.Edge), true, true},
		// ...and nothing as another edge, another site, or the hub.
		{"as another edge of its site", e, contract.TelemetryTopic(p, e.Site, CaseSameSite.Edge, "cr1-th"), true, false},
		{"as an edge of another site", e, contract.TelemetryTopic(p, o.Site, o.Edge, "cr1-th"), true, false},
		{"its own edge id under another site", e, contract.TelemetryTopic(p, o.Site, e.Edge, "cr1-th"), true, false},
		{"status of another edge", e, contract.StatusTopic(p, o.Site, o.Edge), true, false},
		{"a command to itself", e, contract.CommandTopic(p, e.Site, e.Edge, "write"), true, false},
		{"a command to another edge", e, contract.CommandTopic(p, e.Site, CaseSameSite.Edge, "write"), true, false},
		{"its site's sort plan", e, contract.PlanTopic(p, e.Site), true, false},
		{"the hub relay", e, p + "/_hub/hub/live", true, false},
		{"below its telemetry", e, contract.TelemetryTopic(p, e.Site, e.Edge, "cr1-th") + "/x", true, false},
		{"outside the prefix", e, "other/" + e.Site + "/" + e.Edge + "/status", true, false},
		// It reads its commands and its site's plan...
		{"edge commands", e, contract.CommandFilter(p, e.Site, e.Edge), false, true},
		{"edge one command", e, contract.CommandTopic(p, e.Site, e.Edge, "ping"), false, true},
		{"edge site plan", e, contract.PlanTopic(p, e.Site), false, true},
		// ...and nothing else.
		{"commands of another edge", e, contract.CommandFilter(p, e.Site, CaseSameSite.Edge), false, false},
		{"commands of every edge of its site", e, p + "/" + e.Site + "/+/cmd/+", false, false},
		{"plan of another site", e, contract.PlanTopic(p, o.Site), false, false},
		{"every plan", e, contract.PlanTopic(p, "+"), false, false},
		{"its own commands and deeper", e, p + "/" + e.Site + "/" + e.Edge + "/cmd/#", false, false},
		{"everything", e, "#", false, false},
		{"everything under the prefix", e, p + "/#", false, false},
		{"telemetry of its site", e, p + "/" + e.Site + "/+/telemetry/+", false, false},
		{"the hub relay, read", e, p + "/_hub/+/live", false, false},
		// The hub reads everything and writes commands, plans and relay.
		{"hub reads all", CaseHub, p + "/#", false, true},
		{"hub upstream filter", CaseHub, p + "/+/+/telemetry/+", false, true},
		{"hub shared subscription", CaseHub, "$share/hubs/" + p + "/+/+/telemetry/+", false, true},
		{"hub command", CaseHub, contract.CommandTopic(p, o.Site, o.Edge, "ping"), true, true},
		{"hub plan", CaseHub, contract.PlanTopic(p, o.Site), true, true},
		{"hub relay", CaseHub, p + "/_hub/hub/live", true, true},
		{"hub forging a reading", CaseHub, contract.TelemetryTopic(p, e.Site, e.Edge, "cr1-th"), true, false},
		{"hub outside the prefix", CaseHub, "other/x", true, false},
	}
}
