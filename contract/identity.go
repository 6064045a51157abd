package contract

import "strings"

// Identity is who a broker connection belongs to: an edge of a site, or a
// hub. Its string form is the MQTT user name the broker's ACL is keyed on:
// the common name of the client certificate (Mosquitto's
// use_identity_as_username) or the user name of a password login.
//
//	tw01.tw01-e1    the edge tw01-e1 of site tw01 (EdgeIdentity)
//	_hub.hub-a      the hub named hub-a (HubIdentity)
//
// The dot cannot occur in an id, so the two halves never blur, and the name
// holds no slash: Mosquitto's %u substitution would treat a slash as a
// topic level separator (2.0) or refuse it (2.1). An edge's identity names
// its site as well as its edge, so a broker can confine the edge to its own
// subtree <prefix>/<site>/<edge>/ from the identity alone. The hub's half
// "_hub" mirrors its topic level <prefix>/_hub/<replica>/: it starts with
// an underscore, so no site can be named so.
type Identity struct {
	Hub  bool   // a hub, named Name; otherwise the edge Edge of site Site
	Site string // the edge's site
	Edge string // the edge
	Name string // the hub's name
}

// hubIdentitySite is the first half of a hub's identity.
const hubIdentitySite = "_hub"

// EdgeIdentity is the identity of the edge edge of site site: "site.edge".
func EdgeIdentity(site, edge string) Identity { return Identity{Site: site, Edge: edge} }

// HubIdentity is the identity of the hub named name: "_hub.name".
func HubIdentity(name string) Identity { return Identity{Hub: true, Name: name} }

// String is the identity as a broker user name.
func (id Identity) String() string {
	if id.Hub {
		return hubIdentitySite + "." + id.Name
	}
	return id.Site + "." + id.Edge
}

// Valid reports whether every part of the identity is an id (and an edge
// is not the reserved SiteEdge).
func (id Identity) Valid() bool {
	if id.Hub {
		return ValidID(id.Name)
	}
	return ValidID(id.Site) && ValidID(id.Edge) && id.Edge != SiteEdge
}

// ParseIdentity reads a broker user name or certificate common name. It
// refuses anything but "<site>.<edge>" and "_hub.<name>" with valid ids.
func ParseIdentity(s string) (Identity, bool) {
	first, second, ok := strings.Cut(s, ".")
	if !ok {
		return Identity{}, false
	}
	var id Identity
	if first == hubIdentitySite {
		id = HubIdentity(second)
	} else {
		id = EdgeIdentity(first, second)
	}
	return id, id.Valid()
}
