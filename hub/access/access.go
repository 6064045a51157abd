// Package access is who may do what on the broker: the topic ACL of every
// identity (an edge, a hub), defined once here and used twice, to write
// Mosquitto's acl_file (MosquittoACL) and to decide in the embedded
// broker's hooks (Allowed); and Mosquitto's password file (passwd.go),
// written by the provisioning command and read by the embedded broker.
//
// An edge may publish only its own status, telemetry, parcel events and
// command results under <prefix>/<site>/<edge>/, and read only its own
// commands and its site's retained sort plan. A hub reads everything under
// the prefix and writes commands, sort plans and the replicas' live relay.
// Nobody else may do anything: a connection without an identity gets no
// rule.
package access

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/countylink/countylink/contract"
)

// Access is what a rule allows: reading (subscribing and receiving),
// writing (publishing), or both.
type Access uint8

// Accesses.
const (
	Read Access = 1 << iota
	Write
	ReadWrite = Read | Write
)

// String is Access as Mosquitto's acl_file spells it.
func (a Access) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	case ReadWrite:
		return "readwrite"
	}
	return fmt.Sprintf("access(%d)", uint8(a))
}

// Rule allows Access on the topics Filter matches (an MQTT filter: + and
// # are wildcards).
type Rule struct {
	Access Access
	Filter string
}

// hubLevel is the topic level of the hub replicas' own topics,
// <prefix>/_hub/<replica>/live (the relay between replicas).
const hubLevel = "_hub"

// Rules is the ACL of id under the topic prefix: what it may publish and
// read. An invalid identity gets none.
func Rules(prefix string, id contract.Identity) []Rule {
	if !id.Valid() {
		return nil
	}
	if id.Hub {
		return []Rule{
			// Everything the edges send, results included, and the
			// other replicas' live relay.
			{Read, prefix + "/#"},
			// Commands to any edge, the sites' retained sort plans, the
			// live relay to the other replicas.
			{Write, prefix + "/+/+/" + string(contract.KindCommand) + "/+"},
			{Write, contract.PlanTopic(prefix, "+")},
			{Write, prefix + "/" + hubLevel + "/+/live"},
		}
	}
	s, e := id.Site, id.Edge
	return []Rule{
		{Write, contract.StatusTopic(prefix, s, e)},
		{Write, contract.TelemetryTopic(prefix, s, e, "+")},
		{Write, contract.EventTopic(prefix, s, e, "+")},
		{Write, contract.ResultTopic(prefix, s, e)},
		{Read, contract.CommandFilter(prefix, s, e)},
		{Read, contract.PlanTopic(prefix, s)},
	}
}

// Allowed reports whether rules let their holder publish on topic (write)
// or subscribe to the filter topic, or receive a message on topic (read).
//
// A publish topic holding a wildcard is refused. A subscription filter is
// allowed only when every topic it can match is allowed: a rule's + covers
// a filter's + or one level, its # anything below; a shared subscription
// ($share/<group>/<filter>) is judged by its filter. Mosquitto 2.0 is more
// lenient with subscriptions (it grants them and checks each message as
// it delivers it), so the two brokers differ in what a refused
// subscription looks like (no messages, or a SUBACK failure), never in
// what reaches the subscriber.
func Allowed(rules []Rule, topic string, write bool) bool {
	if topic == "" {
		return false
	}
	want := Read
	if write {
		want = Write
		if strings.ContainsAny(topic, "+#") {
			return false
		}
	} else if rest, ok := strings.CutPrefix(topic, "$share/"); ok {
		group, filter, ok := strings.Cut(rest, "/")
		if !ok || group == "" || filter == "" {
			return false
		}
		topic = filter
	}
	for _, r := range rules {
		if r.Access&want != 0 && covers(r.Filter, topic) {
			return true
		}
	}
	return false
}

// covers reports whether every topic the filter f matches is matched by
// the rule's filter r. A topic without wildcards is a filter matching
// itself, so this is also plain topic matching.
func covers(r, f string) bool {
	// Topics starting with $ are never matched by a wildcard in the first
	// level (MQTT 4.7.2); no rule starts with a wildcard anyway.
	for {
		rl, rrest, rmore := strings.Cut(r, "/")
		if rl == "#" {
			return true // the remaining levels, and none (a/# matches a)
		}
		fl, frest, fmore := strings.Cut(f, "/")
		if fl == "#" || (rl != "+" && rl != fl) {
			return false // only a rule's # covers a filter's #; a literal only itself
		}
		switch {
		case rmore && fmore:
			r, f = rrest, frest
		case !rmore && !fmore:
			return true
		case rmore:
			return rrest == "#" // the filter ends where the rule says "/#"
		default:
			return false // the filter is longer than the rule
		}
	}
}

// MosquittoACL is the acl_file for Mosquitto granting each of ids its
// Rules under prefix, one "user" block per identity, sorted by name so the
// file changes only when the identities do. Anonymous clients get nothing:
// the file has no rule before the first "user" line.
func MosquittoACL(prefix string, ids []contract.Identity) []byte {
	sorted := validSorted(ids)
	var b strings.Builder
	b.WriteString("# CountyLink topic ACL for Mosquitto, generated by \"hub provision\" from the\n")
	b.WriteString("# table in hub/access: do not edit, it is rewritten at every change.\n")
	b.WriteString("# Each identity (the client certificate's common name, or the user name of\n")
	b.WriteString("# a password login) gets its own block; anyone else gets nothing.\n")
	for _, id := range sorted {
		fmt.Fprintf(&b, "\nuser %s\n", id)
		for _, r := range Rules(prefix, id) {
			fmt.Fprintf(&b, "topic %s %s\n", r.Access, r.Filter)
		}
	}
	return []byte(b.String())
}

// EMQXACL is the same table as EMQX 5's file authorization source
// (acl.conf, Erlang terms): for each of ids, sorted, an allow rule per
// action with its topic filters, then a deny of everything else. The
// identity is the client's user name (with certificates:
// mqtt.peer_cert_as_username = cn). A rule's filter is matched as a
// filter, so an edge may publish under telemetry/+ and subscribe to its
// own cmd/+ exactly as in Mosquitto's file.
func EMQXACL(prefix string, ids []contract.Identity) []byte {
	sorted := validSorted(ids)
	var b strings.Builder
	b.WriteString("%% CountyLink topic ACL for EMQX 5 (authorization source type = file),\n")
	b.WriteString("%% generated by \"hub provision\" from the table in hub/access: do not edit.\n")
	for _, id := range sorted {
		var pub, sub []string
		for _, r := range Rules(prefix, id) {
			q := strconv.Quote(r.Filter)
			if r.Access&Write != 0 {
				pub = append(pub, q)
			}
			if r.Access&Read != 0 {
				sub = append(sub, q)
			}
		}
		user := strconv.Quote(id.String())
		if len(pub) > 0 {
			fmt.Fprintf(&b, "{allow, {username, %s}, publish, [%s]}.\n", user, strings.Join(pub, ", "))
		}
		if len(sub) > 0 {
			fmt.Fprintf(&b, "{allow, {username, %s}, subscribe, [%s]}.\n", user, strings.Join(sub, ", "))
		}
	}
	b.WriteString("{deny, all}.\n")
	return []byte(b.String())
}

// validSorted is the valid identities of ids sorted by name, so a file
// rendered from them changes only when they do.
func validSorted(ids []contract.Identity) []contract.Identity {
	sorted := make([]contract.Identity, 0, len(ids))
	for _, id := range ids {
		if id.Valid() {
			sorted = append(sorted, id)
		}
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].String() < sorted[j].String() })
	return sorted
}
