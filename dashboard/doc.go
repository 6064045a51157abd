// Package dashboard holds the wall screen: the page a TV in the hub office
// shows all day, with one tile per cold room, and the online state and the
// day's sorted parcels of the county centre and the township stations.
//
// The page is static HTML, CSS and JavaScript embedded in the binary (no
// build step, no framework, nothing loaded from another origin: warehouses
// and the hub office may be offline). The hub serves FS or Handler at "/"
// beside its JSON API and reads nothing from here; the page reads, from the
// same origin and by relative URL:
//
//   - GET api/v1/sites and GET api/v1/coldrooms: JSON arrays, fetched on
//     start, on every (re)connect of the stream and once a minute as a
//     safety net against missed events;
//   - GET api/v1/stream: server-sent events "coldroom" and "site", each with
//     one object of the list's shape, and "hello" on connect; the hub's
//     other events ("parcel") are not used here. A "ping" event, if the hub
//     sends one, arms a watchdog that reopens a stream that stopped
//     delivering.
//
// All user-visible strings live in static/i18n.json, one dictionary per
// language (zh first, en). The page keeps one DOM node per cold room and
// per site, updated in place, so it runs for days without growing.
//
// Each site's edges (its "edges" member) carry a backlog: messages an edge
// holds on disk while its uplink is down. The site list shows their sum per
// site as an amber badge, and the header their sum over all edges; both
// are hidden when it is 0.
//
// Each site carries its parcel counts of the day (its "parcels" member:
// sorted, confirmed, exceptions, weight_kg, last_event), which the hub
// updates with a "site" event as scanner stations' events are stored. The
// site list shows at the right of each township the parcels sorted today
// and, in a red badge, how many of them went to the exception bin; the
// full counts are in the title. Both are hidden while the site has none,
// and so is the column's legend over the list until some site has one. A
// site's copy in a list requested before the stream last updated it is
// ignored, so a resync cannot undo a newer count.
//
// Hooks for browser tests: tiles are .tile[data-site][data-room][data-state]
// with the temperature in .temp (its data-c holds the raw value); site list
// items are li.site[data-site][data-online][data-backlog][data-sorted]
// [data-exceptions] (data-backlog: the sum of the site's edges' backlog,
// "0" when none; data-sorted and data-exceptions: today's counts, "0" when
// none) with the badge in .backlog (hidden when the sum is 0) and today's
// parcels in .parcels (hidden when none) holding .p-sorted and .p-exc
// (hidden when 0); the column's legend is #parcels-legend; the header's
// total is #backlog-stat[data-n] (hidden when 0); the stream state is
// #conn[data-state] ("live" or "down"); the language switch is #lang; the
// disconnected banner is #banner.
package dashboard
