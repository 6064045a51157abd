package contract

import "strings"

// Kind is the kind of message a topic carries, its third level after the prefix.
type Kind string

// Message kinds. Status, Telemetry, Event and Result flow up from the
// edge; Command and Plan flow down to it.
const (
	KindStatus    Kind = "status"    // retained edge status; last will "offline"
	KindTelemetry Kind = "telemetry" // readings of one device: .../telemetry/<device>
	KindEvent     Kind = "event"     // parcel events of one scanner station: .../event/<station>
	KindResult    Kind = "result"    // the outcome of a command
	KindCommand   Kind = "cmd"       // a command to the edge: .../cmd/<name>
	KindPlan      Kind = "plan"      // the site's retained sort plan: <prefix>/<site>/_site/plan
)

// SiteEdge is the reserved edge level of topics meant for every edge of a
// site: <prefix>/<site>/_site/plan. ValidID refuses it (an id starts with
// a letter or digit), so no edge can be named so.
const SiteEdge = "_site"

// HubSite is the reserved site level of the hub replicas' own topics:
// <prefix>/_hub/<replica>/live (HubLiveTopic). ValidID refuses it (an id
// starts with a letter or digit), so no site is named so and ParseTopic
// refuses every topic under it: no edge may publish there, and the
// broker's ACL lets only the hub read and write it.
const HubSite = "_hub"

// Topic is a parsed contract topic: <prefix>/<site>/<edge>/<kind>[/<name>].
type Topic struct {
	Prefix string
	Site   string
	Edge   string
	Kind   Kind
	Name   string // device for telemetry, station for events, command name for commands; empty otherwise
}

// String builds the topic's wire form.
func (t Topic) String() string {
	var b strings.Builder
	b.Grow(len(t.Prefix) + len(t.Site) + len(t.Edge) + len(t.Kind) + len(t.Name) + 4)
	b.WriteString(t.Prefix)
	b.WriteByte('/')
	b.WriteString(t.Site)
	b.WriteByte('/')
	b.WriteString(t.Edge)
	b.WriteByte('/')
	b.WriteString(string(t.Kind))
	if t.Name != "" {
		b.WriteByte('/')
		b.WriteString(t.Name)
	}
	return b.String()
}

// StatusTopic is where an edge publishes its retained status.
func StatusTopic(prefix, site, edge string) string {
	return Topic{Prefix: prefix, Site: site, Edge: edge, Kind: KindStatus}.String()
}

// TelemetryTopic is where an edge publishes the readings of one device.
func TelemetryTopic(prefix, site, edge, device string) string {
	return Topic{Prefix: prefix, Site: site, Edge: edge, Kind: KindTelemetry, Name: device}.String()
}

// EventTopic is where an edge publishes the parcel events of one station.
func EventTopic(prefix, site, edge, station string) string {
	return Topic{Prefix: prefix, Site: site, Edge: edge, Kind: KindEvent, Name: station}.String()
}

// ResultTopic is where an edge publishes command results.
func ResultTopic(prefix, site, edge string) string {
	return Topic{Prefix: prefix, Site: site, Edge: edge, Kind: KindResult}.String()
}

// CommandTopic is where the hub sends the command name to one edge.
func CommandTopic(prefix, site, edge, name string) string {
	return Topic{Prefix: prefix, Site: site, Edge: edge, Kind: KindCommand, Name: name}.String()
}

// PlanTopic is where the hub keeps the site's sort plan, retained, for
// every edge of the site: <prefix>/<site>/_site/plan. The payload is a
// SortPlan; an empty retained payload clears it.
func PlanTopic(prefix, site string) string {
	return Topic{Prefix: prefix, Site: site, Edge: SiteEdge, Kind: KindPlan}.String()
}

// HubLiveTopic is where the hub replica named replica publishes the live
// updates it applied (readings, edge states, parcel events, alarm
// acknowledgements) for the other replicas: <prefix>/_hub/<replica>/live.
// The layout follows <prefix>/<site>/<edge>/<kind>, and its kind level,
// live, is none of the edges' kinds, so no edge's filter matches it,
// whatever the replica is named.
func HubLiveTopic(prefix, replica string) string {
	return prefix + "/" + HubSite + "/" + replica + "/live"
}

// HubLiveFilter is the subscription every hub replica makes, unshared, to
// the replicas' live updates (its own included: it ignores those).
func HubLiveFilter(prefix string) string {
	return HubLiveTopic(prefix, "+")
}

// CommandFilter is the subscription an edge makes for its own commands.
func CommandFilter(prefix, site, edge string) string {
	return prefix + "/" + site + "/" + edge + "/cmd/+"
}

// UpstreamFilters are the subscriptions a consumer of every edge makes.
func UpstreamFilters(prefix string) []string {
	return []string{
		prefix + "/+/+/" + string(KindStatus),
		prefix + "/+/+/" + string(KindTelemetry) + "/+",
		prefix + "/+/+/" + string(KindEvent) + "/+",
		prefix + "/+/+/" + string(KindResult),
	}
}

// ParseTopic parses topic under prefix. It fails with ReasonTopic when the
// topic is not a contract topic: wrong prefix, wrong number of levels,
// an unknown kind or an identifier that ValidID refuses. The edge level
// SiteEdge is accepted only with KindPlan, and KindPlan only with it.
func ParseTopic(prefix, topic string) (Topic, error) {
	rest, ok := strings.CutPrefix(topic, prefix)
	if !ok || len(rest) == 0 || rest[0] != '/' {
		return Topic{}, reject(ReasonTopic, "topic %q is not under prefix %q", clip(topic), prefix)
	}
	var parts [5]string
	n := 0
	for s := rest[1:]; ; {
		if n == len(parts) {
			return Topic{}, reject(ReasonTopic, "topic %q has too many levels", clip(topic))
		}
		i := strings.IndexByte(s, '/')
		if i < 0 {
			parts[n] = s
			n++
			break
		}
		parts[n] = s[:i]
		n++
		s = s[i+1:]
	}
	if n < 3 {
		return Topic{}, reject(ReasonTopic, "topic %q has too few levels", clip(topic))
	}
	t := Topic{Prefix: prefix, Site: parts[0], Edge: parts[1], Kind: Kind(parts[2])}
	if n == 4 {
		t.Name = parts[3]
	}
	if t.Edge == SiteEdge || t.Kind == KindPlan {
		if !ValidID(t.Site) || t.Edge != SiteEdge || t.Kind != KindPlan || n != 3 {
			return Topic{}, reject(ReasonTopic, "topic %q: the site level %s carries only %s, and %s only <site>/%s/%s",
				clip(topic), SiteEdge, KindPlan, KindPlan, SiteEdge, KindPlan)
		}
		return t, nil
	}
	if !ValidID(t.Site) || !ValidID(t.Edge) {
		return Topic{}, reject(ReasonTopic, "topic %q: site and edge must match [a-z0-9][a-z0-9_-]*", clip(topic))
	}
	switch t.Kind {
	case KindStatus, KindResult:
		if n != 3 {
			return Topic{}, reject(ReasonTopic, "topic %q: %s takes no name level", clip(topic), t.Kind)
		}
	case KindTelemetry, KindEvent, KindCommand:
		if n != 4 || !ValidID(t.Name) {
			return Topic{}, reject(ReasonTopic, "topic %q: %s needs a valid name level", clip(topic), t.Kind)
		}
	default:
		return Topic{}, reject(ReasonTopic, "topic %q: unknown kind %q", clip(topic), clip(string(t.Kind)))
	}
	return t, nil
}

// clip shortens untrusted text for error messages and logs.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
