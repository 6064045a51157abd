// Package dashboard holds the wall screen: the page a TV in the hub office
// shows all day, with one tile per cold room, the active cold-chain alarms,
// and the online state and the day's sorted parcels of the county centre
// and the township stations; and the alarm page, where coordinators
// acknowledge alarms.
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
//   - GET api/v1/alarms: the active cold-chain alarms (active or
//     acknowledged), fetched with the lists above;
//   - GET api/v1/stream: server-sent events "coldroom" and "site", each with
//     one object of the list's shape, "alarm" ({transition, at, alarm}),
//     and "hello" on connect; the hub's other events ("parcel") are not
//     used here. A "ping" event, if the hub sends one, arms a watchdog that
//     reopens a stream that stopped delivering.
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
// The active alarms are a band under the tiles, most urgent first: those
// nobody has taken on before those acknowledged (or suppressed behind an
// offline edge), which are shown subdued, then by severity, then the
// newest; as many cards as fit on one row, and "+M" for the rest. A slim
// line says so when there is none. The tile of a room with an alarm (or
// behind an edge with an offline alarm) carries a hazard stripe and the
// alarm's kind in its foot, grey once acknowledged. The band follows the
// "alarm" events and is replaced by the list on every (re)connect and
// resync; a list requested before an event on the same alarm does not undo
// it (static/alarm.js, shared with the alarm page, keeps that set). A
// notification's link, PUBLIC_URL/#alarm=<id>, is sent on to the alarm
// page.
//
// The alarm page, alarms.html (linked from the wall screen's header as
// #alarms-link), lists the active alarms, each with a form to acknowledge
// it (name required, comment optional, as the hub wants them: at most 64
// and 512 bytes) and its audit trail (GET api/v1/alarms/<id>/history,
// loaded when opened), and the last 50 alarms of any state, cleared ones
// included (GET api/v1/alarms?state=all&limit=50), live from the same
// stream. It shares the wall screen's language choice (localStorage) and
// remembers the last name that acknowledged. What both pages do alike (the
// dictionary and language switch, number and date formats, the hub's
// clock, JSON requests, the stream with its reconnects and the
// "disconnected since" banner) is static/common.js, loaded before
// static/alarm.js and the page's own script.
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
// disconnected banner is #banner. The alarm band is
// #alarm-panel[data-n][data-waiting] (all active alarms, and those neither
// acknowledged nor suppressed) with its count in #alarm-total, the "none"
// line #alarm-none, the cards #alarm-list > li.alarm[data-id][data-kind]
// [data-severity][data-state][data-site][data-room] (data-suppressed="true"
// when suppressed) holding .a-kind, .a-value ("7.0 °C > 4 °C"), .a-place,
// .a-sev, .a-age and .a-state, and the rest #alarm-more[data-n]; a tile with
// an alarm has data-alarm (the kind) and data-alarm-state, and the kind in
// .t-alarm.
//
// On the alarm page the stream state is #conn[data-state] and the switch
// #lang as on the wall screen; the active alarms are #active[data-n]
// [data-waiting] > #active-list > li.alarm-card[data-id][data-state]
// [data-kind][data-severity][data-site][data-room][data-suppressed] with
// .a-kind, .a-place and .a-state, the form form.ack-form (hidden unless the
// alarm is active) with input[name="by"] and input[name="comment"], the
// outcome in .ack-result[data-result] ("ok", "error" or "sending") and the
// trail in details.history[data-state][data-n] > ol > li.h-entry[data-event];
// #active-none shows when there is none; the recent alarms are
// #recent-list > tr.recent-row[data-id][data-state][data-kind], each with
// its details.history.
package dashboard
