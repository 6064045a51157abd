// Cold-chain wall screen. Runs unattended for days: one DOM node per cold
// room and per site, updated in place; no arrays that grow with time.
"use strict";
(() => {
  const STALE_MS = 120e3; // same rule as the hub: no reading for > 2 min
  const RESYNC_MS = 60e3; // full re-fetch, a safety net for missed events
  const PING_TIMEOUT_MS = 90e3; // only once the hub has sent a "ping" event
  const ALARM = { high: 1, low: 1 };

  const { $, setText, setData, el } = CountyLink;
  const grid = $("tiles");
  const siteList = $("site-list");
  const idCmp = new Intl.Collator("en", { numeric: true }).compare;

  const rooms = new Map(); // "site/room" -> {d, seen, n: nodes}
  const sites = new Map(); // id -> {d, seen, streamed, n: nodes or null for villages}
  const alarms = new CountyLinkAlarms.AlarmSet(); // active and acknowledged
  let roomAlarms = new Map(); // "site/room" and "site/edge" -> its most urgent alarm

  // The language (shared with the alarm page), the formats, the hub's
  // clock and the stream, as common.js keeps them for both pages.
  const page = CountyLink.page({
    titleKey: "title",
    formats: (loc, numberFormat) => ({
      compact: numberFormat(loc, { notation: "compact", maximumFractionDigits: 1 }),
      hm: new Intl.DateTimeFormat(loc, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }),
      md: new Intl.DateTimeFormat(loc, { month: "numeric", day: "numeric" }),
      date: new Intl.DateTimeFormat(loc, { year: "numeric", month: "short", day: "numeric", weekday: "short" }),
    }),
    onLang: () => {
      for (const r of rooms.values()) renderTile(r);
      for (const s of sites.values()) renderSite(s);
      renderAlarms();
      renderCounts();
      renderClock();
    },
  });
  const { fmt, t, tValue, now, dur, getJSON } = page;

  // ---- numbers -----------------------------------------------------------

  // A count of messages: in full below 10,000 ("1,234"), abbreviated above
  // ("12.3K", "1.2万") so a badge stays short.
  const count = (n) => (n < 1e4 ? fmt.int : fmt.compact).format(n);

  const isNum = (v) => typeof v === "number" && isFinite(v);
  const localName = (zh, en) => (page.lang === "en" && en) ? en : (zh || en || "");

  // ---- cold-room tiles --------------------------------------------------

  const roomKey = (d) => d.site + "/" + d.room;
  const cmpRoom = (a, b) => idCmp(a.d.site, b.d.site) || idCmp(a.d.room, b.d.room);
  const tsOf = (d) => (d && d.ts ? Date.parse(d.ts) : NaN);

  function makeTile(d) {
    const root = el("div", "tile");
    root.dataset.site = d.site;
    root.dataset.room = d.room;
    const head = el("div", "t-head", root);
    const site = el("div", "t-site", head);
    const badge = el("div", "t-badge", head);
    const room = el("div", "t-room", root);
    const temp = el("div", "temp", root);
    const tv = el("span", "v", temp);
    const tu = el("span", "u", temp);
    const fault = el("div", "t-fault", root);
    const foot = el("div", "t-foot", root);
    const hum = el("span", "t-hum", foot);
    const mark = el("span", "t-alarm", foot);
    mark.hidden = true;
    const age = el("span", "t-age", foot);
    return { root, site, room, badge, temp, tv, tu, fault, hum, mark, age };
  }

  function roomState(d) {
    const st = d.state || "nodata";
    const ts = tsOf(d);
    if (st !== "nodata" && st !== "stale" && isFinite(ts) && now() - ts > STALE_MS) return "stale";
    return st;
  }

  function limits(d) {
    const u = " °C";
    const lo = isNum(d.min_c) ? fmt.limit.format(d.min_c) : null;
    const hi = isNum(d.max_c) ? fmt.limit.format(d.max_c) : null;
    if (lo !== null && hi !== null) return lo + " ~ " + hi + u;
    if (hi !== null) return "≤ " + hi + u;
    if (lo !== null) return "≥ " + lo + u;
    return "";
  }

  // Sets a title (the full text on hover) only when there is one.
  function setTitle(node, s) {
    if (s) { if (node.title !== s) node.title = s; } else if (node.hasAttribute("title")) node.removeAttribute("title");
  }

  // The room line may wrap to a second line, but only between its parts
  // (name · limits · class): spaces inside a part are non-breaking, and
  // the stylesheet keeps CJK words whole, so the class never ends up cut.
  const NBSP = "\u00a0";
  const keepTogether = (s) => s.replace(/ /g, NBSP);

  function renderTile(r) {
    const d = r.d, n = r.n;
    const st = roomState(d);
    setData(n.root, "state", st);
    setText(n.site, localName(d.site_name, d.site_name_en) || d.site);
    const parts = [localName(d.name, d.name_en) || d.room, limits(d), d.class ? tValue("class_", d.class) : ""].filter(Boolean);
    setText(n.room, parts.map(keepTogether).join(NBSP + "· "));
    setTitle(n.room, parts.join(" · "));
    setText(n.badge, tValue("state_", st));
    if (isNum(d.temperature)) {
      setText(n.tv, fmt.temp.format(d.temperature));
      setText(n.tu, "°C");
      setData(n.temp, "c", String(d.temperature));
    } else {
      setText(n.tv, "—");
      setText(n.tu, "");
      setData(n.temp, "c", "");
    }
    // The hub's reason for a fault ("probe open (raw 32767)"), as it sent
    // it: clipped to two lines by the stylesheet, in full in the title.
    const why = typeof d.fault === "string" ? d.fault.trim() : "";
    setText(n.fault, why);
    setTitle(n.fault, why);
    setText(n.hum, isNum(d.humidity) ? t("humidity", { v: fmt.int.format(d.humidity) }) : "");
    renderTileAlarm(r);
    renderAge(r);
  }

  // The room's most urgent alarm on its tile: data-alarm (its kind) and
  // data-alarm-state, a hazard stripe (CSS), and its kind in the foot in
  // place of the humidity. An edge's offline alarm marks the rooms whose
  // readings come through it.
  function renderTileAlarm(r) {
    const n = r.n, d = r.d;
    let a = roomAlarms.get(roomKey(d));
    const e = d.edge ? roomAlarms.get(d.site + "/" + d.edge) : undefined;
    if (e && (!a || CountyLinkAlarms.compare(e, a) < 0)) a = e;
    if (a) {
      setData(n.root, "alarm", a.kind);
      setData(n.root, "alarmState", a.state);
      setText(n.mark, t(a.state === "acknowledged" ? "tile_alarm_handled" : "tile_alarm", { kind: tValue("tkind_", a.kind) }));
      setTitle(n.mark, tValue("kind_", a.kind) + " · " + tValue("astate_", a.state));
    } else {
      if (n.root.hasAttribute("data-alarm")) { delete n.root.dataset.alarm; delete n.root.dataset.alarmState; }
      setText(n.mark, "");
      setTitle(n.mark, "");
    }
    n.mark.hidden = !a;
    n.hum.hidden = !!a;
  }

  function renderAge(r) {
    const ts = tsOf(r.d);
    setText(r.n.age, isFinite(ts) ? t("updated", { d: dur(now() - ts) }) : t("never"));
    setData(r.n.root, "state", roomState(r.d));
  }

  // Newer readings win: a list fetched while events arrive may be older
  // than what the stream already delivered.
  function mergeRoom(old, d) {
    if (!old) return d;
    const a = tsOf(old), b = tsOf(d);
    if (isFinite(a) && !(b >= a)) {
      return { ...d, temperature: old.temperature, humidity: old.humidity, fault: old.fault, ts: old.ts, state: old.state };
    }
    return d;
  }

  function upsertRoom(d) {
    if (!d || typeof d.site !== "string" || typeof d.room !== "string") return;
    const key = roomKey(d);
    let r = rooms.get(key);
    if (r) {
      r.d = mergeRoom(r.d, d);
      r.seen = Date.now();
      renderTile(r);
    } else {
      r = { d, seen: Date.now(), n: makeTile(d) };
      rooms.set(key, r);
      renderTile(r);
      let before = null; // sorted insert: at most a few dozen tiles
      for (const o of rooms.values()) {
        if (o !== r && cmpRoom(o, r) > 0 && (!before || cmpRoom(o, before) < 0)) before = o;
      }
      grid.insertBefore(r.n.root, before ? before.n.root : null);
      layoutTiles();
    }
    renderCounts();
  }

  function removeRoom(key) {
    const r = rooms.get(key);
    if (!r) return;
    r.n.root.remove();
    rooms.delete(key);
    layoutTiles();
  }

  // Picks the column count that gives the largest tiles of about 4:3 for
  // the current number of rooms, so 1 to 60 rooms fill the screen without
  // scrolling. CSS alone (auto-fill) is the fallback before the first fit.
  let fitCount = -1, fitW = 0, fitH = 0;
  function layoutTiles(force) {
    const n = rooms.size;
    grid.classList.toggle("empty", n === 0);
    const W = grid.clientWidth, H = grid.clientHeight;
    if (!force && n === fitCount && W === fitW && H === fitH) return;
    fitCount = n; fitW = W; fitH = H;
    if (n === 0 || W === 0 || H === 0) return;
    const gap = parseFloat(getComputedStyle(grid).columnGap) || 0;
    let best = 1, bestSize = -1;
    for (let c = 1; c <= n; c++) {
      const rws = Math.ceil(n / c);
      const tw = (W - (c - 1) * gap) / c, th = (H - (rws - 1) * gap) / rws;
      const size = Math.min(tw, th * 4 / 3);
      if (size > bestSize + 0.5) { best = c; bestSize = size; }
    }
    grid.style.gridTemplateColumns = `repeat(${best}, minmax(0, 1fr))`;
    grid.style.gridTemplateRows = `repeat(${Math.ceil(n / best)}, minmax(0, 1fr))`;
  }

  // ---- sites ------------------------------------------------------------

  const shownSite = (d) => d.kind !== "village";
  const siteRank = (d) => (d.kind === "county" ? 0 : 1);

  function makeSiteItem(d) {
    const li = el("li", "site");
    li.dataset.site = d.id;
    el("span", "dot", li);
    const name = el("span", "s-name", li);
    // Today's parcels and the backlog badge, at the right of the name, or
    // together on a line of their own when they do not fit beside it.
    const side = el("span", "s-side", li);
    side.hidden = true;
    const parcels = el("span", "parcels", side);
    parcels.hidden = true;
    const sorted = el("span", "p-sorted", parcels);
    const exc = el("span", "p-exc", parcels);
    exc.hidden = true;
    const backlog = el("span", "backlog", side);
    backlog.hidden = true;
    const note = el("span", "s-note", li);
    return { li, name, side, parcels, sorted, exc, backlog, note };
  }

  // The site's parcel counts of today, as the hub keeps them.
  const num = (v) => (isNum(v) && v > 0 ? v : 0);
  const parcelsOf = (d) => {
    const p = d && d.parcels;
    return p ? { sorted: num(p.sorted), confirmed: num(p.confirmed), exceptions: num(p.exceptions), kg: num(p.weight_kg) }
      : { sorted: 0, confirmed: 0, exceptions: 0, kg: 0 };
  };

  function renderParcels(s) {
    const n = s.n, p = parcelsOf(s.d);
    setData(n.li, "sorted", String(p.sorted));
    setData(n.li, "exceptions", String(p.exceptions));
    n.parcels.hidden = p.sorted === 0 && p.exceptions === 0;
    setText(n.sorted, count(p.sorted));
    n.exc.hidden = p.exceptions === 0;
    setText(n.exc, p.exceptions ? count(p.exceptions) : "");
    setTitle(n.parcels, n.parcels.hidden ? "" : t("parcels_detail", {
      sorted: fmt.int.format(p.sorted), exceptions: fmt.int.format(p.exceptions),
      confirmed: fmt.int.format(p.confirmed), kg: fmt.limit.format(p.kg),
    }));
  }

  // Messages the site's edges hold on disk, waiting for the uplink.
  const edgeBacklog = (e) => (e && isNum(e.backlog) && e.backlog > 0 ? e.backlog : 0);
  const siteBacklog = (d) => (Array.isArray(d.edges) ? d.edges.reduce((n, e) => n + edgeBacklog(e), 0) : 0);

  function renderSite(s) {
    const d = s.d, n = s.n;
    if (!n) return;
    setData(n.li, "online", d.online ? "true" : "false");
    setData(n.li, "kind", d.kind || "");
    setText(n.name, localName(d.name, d.name_en) || d.id);
    const q = siteBacklog(d);
    setData(n.li, "backlog", String(q));
    n.backlog.hidden = q === 0;
    setText(n.backlog, q ? t("backlog", { n: count(q) }) : "");
    // Per edge in the title, for a site with more than one box.
    setTitle(n.backlog, q ? d.edges.filter((e) => edgeBacklog(e)).map((e) => t("backlog_edge", { edge: e.edge, n: fmt.int.format(e.backlog) })).join("\n") : "");
    renderParcels(s);
    n.side.hidden = n.parcels.hidden && n.backlog.hidden;
    renderSiteAge(s);
  }

  function renderSiteAge(s) {
    const d = s.d;
    if (!s.n) return;
    let note = "", title = "";
    if (!d.online) {
      const ls = d.last_seen ? Date.parse(d.last_seen) : NaN;
      if (isFinite(ls)) {
        // The time of day; with the date when it was not today.
        const at = new Date(ls);
        const time = fmt.hm.format(at);
        const today = fmt.md.format(new Date(now())) === fmt.md.format(at);
        note = t("site_offline_since", { time: today ? time : fmt.md.format(at) + " " + time });
        title = t("site_offline_for", { d: dur(now() - ls) });
      } else {
        note = t("site_offline");
      }
    }
    setText(s.n.note, note);
    setTitle(s.n.note, title);
  }

  // listedAt is when the list holding d was requested; undefined for d
  // from the stream. A list requested before the stream's last word on a
  // site is older than it: its copy of the site (a backlog, today's
  // parcels) would undo what the stream delivered until the next resync.
  function upsertSite(d, listedAt) {
    if (!d || typeof d.id !== "string") return;
    let s = sites.get(d.id);
    if (s && listedAt !== undefined && s.streamed > listedAt) { s.seen = Date.now(); return; }
    if (s && !!s.n !== shownSite(d)) { removeSite(d.id); s = null; }
    if (s) {
      s.d = d;
      s.seen = Date.now();
    } else {
      s = { d, seen: Date.now(), n: shownSite(d) ? makeSiteItem(d) : null };
      sites.set(d.id, s);
      if (s.n) {
        let before = null;
        for (const o of sites.values()) {
          if (o.n && o !== s && cmpSite(o, s) > 0 && (!before || cmpSite(o, before) < 0)) before = o;
        }
        siteList.insertBefore(s.n.li, before ? before.n.li : null);
      }
    }
    if (listedAt === undefined) s.streamed = Date.now();
    renderSite(s);
    renderCounts();
  }

  const cmpSite = (a, b) => siteRank(a.d) - siteRank(b.d) || idCmp(a.d.id, b.d.id);

  function removeSite(id) {
    const s = sites.get(id);
    if (!s) return;
    if (s.n) s.n.li.remove();
    sites.delete(id);
  }

  // ---- alarms -----------------------------------------------------------

  // The band under the tiles: the active alarms, most urgent first, as
  // many cards as fit on one row and "+M" for the rest. Rebuilt when the
  // alarms change (a handful of nodes); the ages move every second.
  const alarmList = $("alarm-list");
  let shown = []; // [{a, age}] on screen
  const cardMinRem = 19.5, moreRem = 7; // as in style.css

  function alarmTexts() { return CountyLinkAlarms.texts(t, tValue, fmt, page.lang); }

  // alarmCapacity returns how many cards fit beside each other: all, and
  // when not all fit, beside the "+M" box.
  function alarmCapacity() {
    const W = alarmList.clientWidth;
    if (!W) return { all: 4, some: 3 };
    const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 18;
    const gap = parseFloat(getComputedStyle(alarmList).columnGap) || 0;
    const card = cardMinRem * rem + gap;
    return { all: Math.max(1, Math.floor((W + gap) / card)), some: Math.max(1, Math.floor((W - moreRem * rem) / card)) };
  }

  function makeCard(a, tx, siteNames, roomNames) {
    const li = el("li", "alarm");
    li.dataset.id = a.id;
    li.dataset.kind = a.kind;
    li.dataset.severity = a.severity || "";
    li.dataset.state = a.state;
    li.dataset.site = a.site;
    li.dataset.room = a.room || "";
    if (a.suppressed) li.dataset.suppressed = "true";
    const top = el("div", "a-top", li);
    setText(el("span", "a-kind", top), tx.kind(a));
    setText(el("span", "a-value", top), tx.reading(a));
    const p = CountyLinkAlarms.place(a, siteNames, roomNames, page.lang);
    const where = el("div", "a-place", li);
    setText(where, p.room ? p.site + " · " + p.room : p.site);
    const foot = el("div", "a-foot", li);
    setText(el("span", "a-sev", foot), tx.severity(a));
    const age = el("span", "a-age", foot);
    const st = el("span", "a-state", foot);
    setText(st, a.state === "acknowledged" && a.acked ? t("acked_by", { by: a.acked.by }) : tx.state(a));
    setTitle(li, tx.message(a));
    return { a, li, age };
  }

  function renderAlarmAge(c) {
    const r = Date.parse(c.a.raised);
    setText(c.age, isFinite(r) ? t("raised_ago", { d: dur(now() - r) }) : "");
  }

  function renderAlarms() {
    const list = alarms.sorted();
    // The tiles' marks.
    const by = new Map();
    for (const a of list) {
      const k = a.site + "/" + (a.room || a.edge || "");
      if (!by.has(k)) by.set(k, a); // sorted: the first is the most urgent
    }
    roomAlarms = by;
    for (const r of rooms.values()) renderTileAlarm(r);
    // The band.
    const panel = $("alarm-panel");
    setData(panel, "n", String(list.length));
    setData(panel, "waiting", String(list.filter((a) => !CountyLinkAlarms.handled(a)).length));
    setText($("alarm-total"), fmt.int.format(list.length));
    $("alarm-none").hidden = list.length > 0;
    const cap = alarmCapacity();
    const n = list.length > cap.all ? cap.some : list.length;
    const tx = alarmTexts();
    const siteNames = new Map([...sites.values()].map((s) => [s.d.id, s.d]));
    const roomNames = new Map([...rooms.values()].map((r) => [roomKey(r.d), r.d]));
    shown = list.slice(0, n).map((a) => makeCard(a, tx, siteNames, roomNames));
    alarmList.replaceChildren(...shown.map((c) => c.li));
    for (const c of shown) renderAlarmAge(c);
    const more = $("alarm-more"), rest = list.length - n;
    more.hidden = rest === 0;
    setData(more, "n", String(rest));
    setText(more, rest ? t("alarms_more", { n: fmt.int.format(rest) }) : "");
  }

  // An alarm event from the stream.
  function onAlarm(ev) {
    if (alarms.event(ev)) renderAlarms();
  }

  // ---- header -----------------------------------------------------------

  function renderCounts() {
    let on = 0, all = 0, von = 0, vall = 0, alarms = 0, faults = 0, queued = 0;
    for (const s of sites.values()) {
      if (s.n) { all++; if (s.d.online) on++; } else { vall++; if (s.d.online) von++; }
      queued += siteBacklog(s.d);
    }
    for (const r of rooms.values()) {
      const st = roomState(r.d);
      if (ALARM[st]) alarms++; else if (st === "fault") faults++;
    }
    setText($("online-count"), all ? fmt.int.format(on) + "/" + fmt.int.format(all) : "–");
    setData($("online-count"), "down", String(all - on));
    $("village-stat").hidden = vall === 0;
    setText($("village-count"), fmt.int.format(von) + "/" + fmt.int.format(vall));
    setText($("alarm-count"), fmt.int.format(alarms));
    setData($("alarm-stat"), "n", String(alarms));
    setText($("fault-count"), fmt.int.format(faults));
    setData($("fault-stat"), "n", String(faults));
    $("backlog-stat").hidden = queued === 0;
    setData($("backlog-stat"), "n", String(queued));
    setText($("backlog-count"), count(queued));
    // The column's legend, once some site has parcels today.
    let parcels = false;
    for (const s of sites.values()) if (s.n && !s.n.parcels.hidden) { parcels = true; break; }
    $("parcels-legend").hidden = !parcels;
  }

  function renderClock() {
    const d = new Date(now());
    setText($("clock-time"), fmt.time.format(d));
    setText($("clock-date"), fmt.date.format(d));
  }

  // ---- lists ------------------------------------------------------------

  const resync = page.coalesced(() => {
    const started = Date.now();
    const one = (url, upsert, remove, map) => getJSON(url).then((list) => {
      if (!Array.isArray(list)) return;
      const keep = new Set();
      for (const d of list) { upsert(d, started); if (d) keep.add(map === rooms ? roomKey(d) : d.id); }
      for (const [k, v] of map) if (!keep.has(k) && v.seen < started) remove(k);
    });
    return Promise.allSettled([
      one("api/v1/sites", upsertSite, removeSite, sites),
      one("api/v1/coldrooms", upsertRoom, removeRoom, rooms),
      getJSON("api/v1/alarms").then((list) => alarms.list(list, started)),
    ]).then(() => {
      renderAlarms();
      renderCounts();
    });
  });

  // ---- every second -----------------------------------------------------

  function tick() {
    renderClock();
    for (const r of rooms.values()) renderAge(r);
    for (const s of sites.values()) if (s.n && !s.d.online) renderSiteAge(s);
    for (const c of shown) renderAlarmAge(c);
    renderCounts();
    page.checkPing(PING_TIMEOUT_MS);
    setTimeout(tick, 1000 - (now() % 1000) + 20);
  }

  // ---- start ------------------------------------------------------------

  async function start() {
    // A notification's link (PUBLIC_URL/#alarm=<id>) opens the alarm page.
    if (location.hash.startsWith("#alarm=")) { location.replace("alarms.html" + location.hash); return; }
    await page.init();
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(() => layoutTiles()).observe(grid);
      let cap = ""; // the cards that fit change with the band's width only
      new ResizeObserver(() => {
        const c = JSON.stringify(alarmCapacity());
        if (c !== cap) { cap = c; renderAlarms(); }
      }).observe(alarmList);
    } else {
      addEventListener("resize", () => { layoutTiles(); renderAlarms(); });
    }
    page.stream({
      coldroom: upsertRoom,
      site: (d) => upsertSite(d),
      alarm: onAlarm,
    }, resync);
    resync();
    setInterval(resync, RESYNC_MS);
    tick();
  }

  start();
})();
