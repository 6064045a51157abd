// Package dashboard holds the wall screen, the page a TV in the hub office
// shows all day, and the coordinators' pages: the alarm page, where they
// acknowledge alarms, a cold room's temperature history, parcel search,
// dispatch, daily figures, and the sites with their edges and village
// points.
//
// The pages are static HTML, CSS and JavaScript embedded in the binary (no
// build step, no framework, nothing loaded from another origin: warehouses
// and the hub office may be offline). They run under a strict Content
// Security Policy: no inline script, handler or style attribute. The hub
// serves FS or Handler at "/" beside its JSON API and reads nothing from
// here; the pages read, from the same origin and by relative URL, the API
// that api/v1/openapi.json describes.
//
// # The wall screen
//
// index.html, read from across the room: dark, large type, and it never
// scrolls: the root font size follows the smaller of the viewport's width
// and height (18 px at 1920x1080, 36 px at 3840x2160), every size is in rem
// or em, and each panel shares out the room it has (the tiles' grid, the
// table's rows). On the left the cold rooms, a tile each with its
// temperature, its state, a sparkline of the last 24 hours and its alarm,
// and under them the band of active alarms; on the right the county's
// parcels today in big numbers, then a table of the county centre and the
// townships, a row each: its edge online or not, today's parcels (received,
// sorted, dispatched, delivered, exceptions), its dispatch board (parcels
// waiting in the bins, their weight, the routes with some, the runs on
// the road), its edges' backlog and its village points as dots; under the
// table the village points online by rollout phase and the farm products
// weighed today, the most first.
//
// It reads:
//
//   - GET api/v1/sites, api/v1/coldrooms and api/v1/alarms: on start, on
//     every (re)connect of the stream and once a minute as a safety net
//     against missed events;
//   - GET api/v1/stream: server-sent events "coldroom" and "site", each
//     with one object of the list's shape, "alarm" ({transition, at,
//     alarm}), "parcel" (a stored parcel event) and "hello" on connect. A
//     "ping" event, if the hub sends one, arms a watchdog that reopens a
//     stream that stopped delivering;
//   - GET api/v1/figures, api/v1/board and api/v1/produce (today's, in the
//     county's time zone): every 30 s, on every (re)connect, and after
//     parcel events (a "parcel" event, or a "site" event with new counts)
//     at most every 5 s;
//   - GET api/v1/coldrooms/<site>/<room>/log?format=json for the last 24
//     hours, a room or two at a time: the sparklines' history, on start,
//     on every (re)connect and every 30 minutes; between these the
//     stream's readings go into them as they come. A hub without a
//     temperature store (503) leaves them to the stream's readings.
//
// The page keeps one DOM node per cold room, per site and per village
// point, updated in place, and each sparkline is a fixed ring of 96
// quarter hours (each with the min, max and mean of its readings), so it
// runs for days without growing.
//
// Each site's edges (its "edges" member) carry a backlog: messages an edge
// holds on disk while its uplink is down. The row shows their sum as an
// amber badge, and the header their sum over all edges; both are hidden
// when it is 0. A site's copy in a list requested before the stream last
// updated it is ignored, so a resync cannot undo a newer count.
//
// The figures are the hub's (GET api/v1/figures: parcels counted once a
// day each, the exception bin apart from the sorted ones); the county's
// totals add up every row. A hub without them gives 503, and the rows show
// the sorted and exception counts each site carries (its "parcels"
// member) instead.
//
// A village point's phone sends nothing while idle, so a point counts as
// online when the hub heard from it in the last two hours (its
// "last_seen", or a scan of it on the stream); a dot is green then, dim
// green when it was heard from earlier today, grey otherwise.
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
// Two settings come in the URL: ?kiosk=1 hides what can be clicked (the
// link to the alarm page, the pointer) and keeps the language switch for
// the keyboard: it shows when Tab reaches it. ?rotate=30s (or 2m, at least
// 5 s) shows the cold chain (tiles and alarms) and the logistics (the
// table, larger) in turn, for a screen too small for both.
//
// Hooks for browser tests: tiles are .tile[data-site][data-room][data-state]
// with the temperature in .temp (its data-c holds the raw value) and the
// sparkline svg.spark[data-n] (the quarter hours with a reading) holding
// path.s-line, path.s-out (out of range) and path.s-lim (the limits); the
// table is #site-list, its rows li.site[data-site][data-kind][data-online]
// [data-backlog][data-received][data-sorted][data-dispatched]
// [data-delivered][data-exceptions][data-waiting][data-routes][data-road]
// [data-villages] ("" while unknown; data-villages "online/all") with the
// cells .c-received, .c-sorted, .c-dispatched, .c-delivered,
// .c-exceptions, .c-waiting, .c-kg, .c-routes, .c-road (each data-v), the
// badge .backlog (hidden when 0) and the village points
// .vdots > .vdot[data-site][data-phase][data-v] ("online", "today",
// "none"); the county's totals #kpi .k[data-k][data-n]; the phases
// #phase-list > li.phase[data-phase][data-online][data-n]; the products
// #produce[data-n] > #produce-list > li.prod[data-product][data-kg]; the
// header's backlog #backlog-stat[data-n] (hidden when 0); the stream
// state #conn[data-state] ("live" or "down"); the language switch #lang;
// the disconnected banner #banner; the view body[data-view] ("all",
// "cold" or "logistics") and body.kiosk. The alarm band is
// #alarm-panel[data-n][data-waiting] (all active alarms, and those neither
// acknowledged nor suppressed) with its count in #alarm-total, the "none"
// line #alarm-none, the cards #alarm-list > li.alarm[data-id][data-kind]
// [data-severity][data-state][data-site][data-room] (data-suppressed="true"
// when suppressed) holding .a-kind, .a-value ("7.0 °C > 4 °C"), .a-place,
// .a-sev, .a-age and .a-state, and the rest #alarm-more[data-n]; a tile with
// an alarm has data-alarm (the kind) and data-alarm-state, and the kind in
// .t-alarm.
//
// # The coordinators' pages
//
// They share a nav bar (nav.css) and the wall screen's language choice
// (localStorage); what all pages do alike (the dictionary and language
// switch, number and date formats, the hub's clock, JSON requests, the
// stream with its reconnects and the "disconnected since" banner, the
// village points' online rule) is static/common.js, loaded before the
// page's own script.
//
// The alarm page, alarms.html (linked from the wall screen's header as
// #alarms-link), lists the active alarms, each with a form to acknowledge
// it (name required, comment optional, as the hub wants them: at most 64
// and 512 bytes) and its audit trail (GET api/v1/alarms/<id>/history,
// loaded when opened), and the last 50 alarms of any state, cleared ones
// included (GET api/v1/alarms?state=all&limit=50), live from the same
// stream. It remembers the last name that acknowledged. Its stream state is
// #conn[data-state] and the switch #lang as on the wall screen; the active
// alarms are #active[data-n][data-waiting] > #active-list >
// li.alarm-card[data-id][data-state][data-kind][data-severity][data-site]
// [data-room][data-suppressed] with .a-kind, .a-place and .a-state, the
// form form.ack-form (hidden unless the alarm is active) with
// input[name="by"] and input[name="comment"], the outcome in
// .ack-result[data-result] ("ok", "error" or "sending") and the trail in
// details.history[data-state][data-n] > ol > li.h-entry[data-event];
// #active-none shows when there is none; the recent alarms are
// #recent-list > tr.recent-row[data-id][data-state][data-kind], each with
// its details.history.
//
// The history page, history.html?site=&room=&from=&to= (RFC 3339), draws
// a room's temperature log over a period (the last 24 hours by default,
// presets for 7 and 30 days, at most 92) from GET
// api/v1/coldrooms/<site>/<room>/log?format=json, as inline SVG: a line
// per probe (path.h-line[data-probe]), broken where two readings are
// further apart than the log's longest step; the room's limits
// (line.h-limit[data-limit="high"|"low"][data-v]); each excursion shaded
// (rect.h-exc[data-kind][data-probe]) and each gap in a probe's data
// (rect.h-gap[data-probe]); at most two points per pixel column. The
// cursor stops at every reading: the mouse, or the keyboard on the
// focused chart (← →, Shift for an hour, Home, End, Escape), reads each
// probe's value out in #readout[data-t]. Each probe's figures (the hub's:
// min, max, mean, MKT, time out of range, excursions, gaps, coverage) are
// #h-summary-rows > tr.h-probe[data-probe][data-compliant], the excursions
// #h-exc-rows > tr.h-exc-row; #h-print and #h-csv link the printable log
// and its CSV; #h-chart carries data-probes, data-points, data-excursions
// and data-gaps, body data-state ("loading", "loaded", "failed").
//
// The sites page, sites.html?township=, lists the county centre and the
// townships with each edge's state, agent version, backlog and last
// contact (#site-rows > tr.site-row[data-site][data-kind][data-online]
// [data-edge], one per edge, with .s-agent, .s-backlog and .badge
// [data-state]) and the cold-room probes whose last reading came through
// the edge: the API does not give the devices an edge reports in its
// status, so the probes are those of GET api/v1/coldrooms (each room's
// last reading names its device and edge). The village points follow, by
// township (#village-groups > section.vgroup[data-township][data-n]
// [data-online] > li.vp[data-site][data-phase][data-v]), with their count
// online by phase (#phase-sum > li.ph[data-phase][data-online][data-n]).
// It is refreshed every 15 s.
//
// The parcel, dispatch and figures pages (parcels.js, dispatch.js,
// figures.js) are described in their scripts.
//
// # Signing in
//
// Every page but login.html signs in before its first request
// (common.js): a session cookie the hub set at the login, or, on a wall
// screen, its kiosk token. A kiosk URL, /?kiosk=1#kiosk=clk_…, carries
// the token in its fragment, which no server or proxy log sees; the page
// keeps it in localStorage, clears the fragment, and trades it for a
// read-only session again whenever the session ends, so the TV needs no
// keyboard. A person whose session ended, or a revoked screen, goes to
// login.html?next=<page>, and back after the login. Every unsafe request
// carries the CSRF token (the countylink_csrf cookie as X-CSRF-Token).
// The header shows who is signed in (#who .who-name) and a logout button
// (#logout), except on a kiosk; a viewer (a wall screen's account) on a
// coordinators' page is sent to the wall screen. Acknowledgements and
// dispatch actions are the signed-in person's: no name is typed. Hooks:
// #login-form, #login-name, #login-password, #login-result[data-result]
// ("error", "sending", "ok").
//
// All user-visible strings live in static/i18n.json, one dictionary per
// language (zh first, en); numbers, dates and times are formatted for the
// page's language (zh-CN or en-GB).
package dashboard
