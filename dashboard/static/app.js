// Wall screen. Runs unattended for days: one DOM node per cold room, per
// site and per village point, updated in place; the sparklines keep a
// fixed ring of quarter hours; no arrays that grow with time.
"use strict";
(() => {
  const STALE_MS = 120e3; // same rule as the hub: no reading for > 2 min
  const RESYNC_MS = 60e3; // full re-fetch, a safety net for missed events
  const SLOW_MS = 30e3; // the figures, the dispatch board and the produce
  const SOON_MS = 5e3; // after parcel events, figures and board at most this often
  const PING_TIMEOUT_MS = 90e3; // only once the hub has sent a "ping" event
  const SPARK_N = 96, SPARK_MS = 15 * 60e3; // 24 hours in quarter hours
  const LOG_REFRESH_MS = 30 * 60e3; // the rooms' logs again, for readings missed
  const LOG_PARALLEL = 2;
  const TOP_PRODUCTS = 4;
  const ALARM = { high: 1, low: 1 };
  const COLS = ["received", "sorted", "dispatched", "delivered", "exceptions", "waiting", "kg", "routes", "road"];

  const { $, setText, setData, el, query, VILLAGE_RECENT_MS } = CountyLink;
  const grid = $("tiles");
  const siteList = $("site-list");
  const idCmp = new Intl.Collator("en", { numeric: true }).compare;

  const rooms = new Map(); // "site/room" -> {d, seen, n: nodes, spark, added}
  const sites = new Map(); // id -> {d, seen, streamed, n: row nodes (county, townships) or null, dot: a village point's node or null}
  const alarms = new CountyLinkAlarms.AlarmSet(); // active and acknowledged
  let roomAlarms = new Map(); // "site/room" and "site/edge" -> its most urgent alarm
  let figures = null; // site id -> today's figures; null until the hub gives them
  let board = new Map(); // site id -> {waiting, kg, routes, road, open}
  let boardOK = false;
  let produce = []; // [{product, kg, lots}] today, the most weighed first
  let produceOK = false;

  // The language (shared with the other pages), the formats, the hub's
  // clock and the stream, as common.js keeps them for every page.
  const page = CountyLink.page({
    titleKey: "title",
    formats: (loc, numberFormat) => ({
      compact: numberFormat(loc, { notation: "compact", maximumFractionDigits: 1 }),
      hm: new Intl.DateTimeFormat(loc, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }),
      md: new Intl.DateTimeFormat(loc, { month: "numeric", day: "numeric" }),
      date: new Intl.DateTimeFormat(loc, { year: "numeric", month: "short", day: "numeric", weekday: "short" }),
      kg: numberFormat(loc, { maximumFractionDigits: 0 }),
    }),
    onLang: () => {
      for (const r of rooms.values()) { renderTile(r); renderSpark(r); }
      for (const s of sites.values()) renderSite(s);
      renderAlarms();
      renderCounts();
      renderSlow();
      renderClock();
    },
  });
  const { fmt, t, tValue, now, dur, getJSON } = page;

  // ---- numbers -----------------------------------------------------------

  // A count: in full below 10,000 ("1,234"), abbreviated above ("12.3K",
  // "1.2万") so a cell or a badge stays short.
  const count = (n) => (n < 1e4 ? fmt.int : fmt.compact).format(n);

  const isNum = (v) => typeof v === "number" && isFinite(v);
  const localName = (zh, en) => (page.lang === "en" && en) ? en : (zh || en || "");

  // Sets a title (the full text on hover) only when there is one.
  function setTitle(node, s) {
    if (s) { if (node.title !== s) node.title = s; } else if (node.hasAttribute("title")) node.removeAttribute("title");
  }
  function setAttr(node, k, v) { if (node.getAttribute(k) !== v) node.setAttribute(k, v); }

  // ---- cold-room tiles --------------------------------------------------

  const roomKey = (d) => d.site + "/" + d.room;
  const cmpRoom = (a, b) => idCmp(a.d.site, b.d.site) || idCmp(a.d.room, b.d.room);
  const tsOf = (d) => (d && d.ts ? Date.parse(d.ts) : NaN);
  const sparkTpl = $("spark-tpl");

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
    const spark = sparkTpl.content.firstElementChild.cloneNode(true);
    root.appendChild(spark);
    const [lim, line, out] = spark.querySelectorAll("path");
    const fault = el("div", "t-fault", root);
    const foot = el("div", "t-foot", root);
    const hum = el("span", "t-hum", foot);
    const mark = el("span", "t-alarm", foot);
    mark.hidden = true;
    const age = el("span", "t-age", foot);
    return { root, site, room, badge, temp, tv, tu, fault, hum, mark, age, spark, sparkTitle: spark.querySelector("title"), lim, line, out };
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
      r = { d, seen: Date.now(), n: makeTile(d), spark: makeSpark(), added: 0 };
      rooms.set(key, r);
      renderTile(r);
      let before = null; // sorted insert: at most a few dozen tiles
      for (const o of rooms.values()) {
        if (o !== r && cmpRoom(o, r) > 0 && (!before || cmpRoom(o, before) < 0)) before = o;
      }
      grid.insertBefore(r.n.root, before ? before.n.root : null);
      layoutTiles();
      logQueue.add(key);
      pumpLogs();
    }
    // The reading in the sparkline, once.
    const ts = tsOf(r.d);
    if (isNum(r.d.temperature) && isFinite(ts) && ts > r.added) {
      r.added = ts;
      sparkAdd(r.spark, ts, r.d.temperature);
    }
    renderSpark(r);
    countsSoon();
  }

  function removeRoom(key) {
    const r = rooms.get(key);
    if (!r) return;
    r.n.root.remove();
    rooms.delete(key);
    logQueue.delete(key);
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

  // ---- sparklines: the last 24 hours of a room ---------------------------

  // A ring of SPARK_N quarter hours: slot[p] is the quarter hour (since
  // the epoch) slot p holds, -1 when none; min, max and the sum of its
  // readings. Fixed size: a day of readings does not grow it.
  function makeSpark() {
    return { slot: new Float64Array(SPARK_N).fill(-1), min: new Float64Array(SPARK_N), max: new Float64Array(SPARK_N),
      sum: new Float64Array(SPARK_N), n: new Float64Array(SPARK_N) };
  }

  function sparkAdd(sp, ts, v) {
    const i = Math.floor(ts / SPARK_MS), cur = Math.floor(now() / SPARK_MS);
    if (i > cur + 1 || i <= cur - SPARK_N) return;
    const p = i % SPARK_N;
    if (sp.slot[p] !== i) {
      if (sp.slot[p] > i) return; // the slot holds a newer quarter hour
      sp.slot[p] = i; sp.min[p] = v; sp.max[p] = v; sp.sum[p] = 0; sp.n[p] = 0;
    }
    if (v < sp.min[p]) sp.min[p] = v;
    if (v > sp.max[p]) sp.max[p] = v;
    sp.sum[p] += v;
    sp.n[p]++;
  }

  const f1 = (v) => (Math.round(v * 10) / 10).toString();

  // The line of the quarter hours' means, broken where a quarter hour has
  // no reading; out of range (beyond a limit at any reading) drawn over in
  // red; the limits dashed. Coordinates in a 100 x 30 box, stretched.
  function renderSpark(r) {
    const sp = r.spark, d = r.d, n = r.n;
    const cur = Math.floor(now() / SPARK_MS), first = cur - SPARK_N + 1;
    const hasMin = isNum(d.min_c), hasMax = isNum(d.max_c);
    let lo = Infinity, hi = -Infinity, have = 0;
    for (let k = 0; k < SPARK_N; k++) {
      const i = first + k, p = i % SPARK_N;
      if (sp.slot[p] !== i) continue;
      have++;
      lo = Math.min(lo, sp.min[p]);
      hi = Math.max(hi, sp.max[p]);
    }
    const dlo = lo, dhi = hi;
    if (hasMin) { lo = Math.min(lo, d.min_c); hi = Math.max(hi, d.min_c); }
    if (hasMax) { lo = Math.min(lo, d.max_c); hi = Math.max(hi, d.max_c); }
    if (!isFinite(lo)) { lo = 0; hi = 10; }
    const pad = Math.max((hi - lo) * 0.1, 0.5);
    lo -= pad; hi += pad;
    const x = (k) => f1((k * 100) / (SPARK_N - 1));
    const y = (v) => f1(30 - ((v - lo) / (hi - lo)) * 30);
    let line = "", out = "", runLine = false, runOut = false;
    for (let k = 0; k < SPARK_N; k++) {
      const i = first + k, p = i % SPARK_N;
      if (sp.slot[p] !== i) { runLine = runOut = false; continue; }
      const m = sp.sum[p] / sp.n[p];
      const pt = x(k) + " " + y(m);
      const next = first + k + 1, np = next % SPARK_N;
      const alone = !runLine && (k === SPARK_N - 1 || sp.slot[np] !== next);
      line += (runLine ? " L" : " M") + pt + (alone ? " h0.01" : "");
      runLine = true;
      const isOut = (hasMax && sp.max[p] > d.max_c) || (hasMin && sp.min[p] < d.min_c);
      if (isOut) {
        out += (runOut ? " L" : " M") + pt + (runOut ? "" : " h0.01");
        runOut = true;
      } else runOut = false;
    }
    setAttr(n.line, "d", line.trim());
    setAttr(n.out, "d", out.trim());
    let lim = "";
    if (hasMax) lim += "M0 " + y(d.max_c) + " H100 ";
    if (hasMin) lim += "M0 " + y(d.min_c) + " H100";
    setAttr(n.lim, "d", lim.trim());
    setData(n.spark, "n", String(have));
    setText(n.sparkTitle, have ? t("spark_title", { lo: fmt.temp.format(dlo), hi: fmt.temp.format(dhi) }) : t("spark_none"));
  }

  // The rooms' temperature logs of the last 24 hours fill the sparklines:
  // on start, on every (re)connect of the stream (readings may have been
  // missed), and every LOG_REFRESH_MS; one or two requests at a time.
  const logQueue = new Set(); // room keys
  let logBusy = 0, logsOff = false;

  function queueLogs() {
    logsOff = false;
    for (const k of rooms.keys()) logQueue.add(k);
    pumpLogs();
  }

  function pumpLogs() {
    while (logBusy < LOG_PARALLEL && logQueue.size && !logsOff) {
      const k = logQueue.values().next().value;
      logQueue.delete(k);
      const r = rooms.get(k);
      if (!r) continue;
      logBusy++;
      fetchLog(r).finally(() => { logBusy--; pumpLogs(); });
    }
  }

  async function fetchLog(r) {
    const to = now(), from = (Math.floor(to / SPARK_MS) - SPARK_N + 1) * SPARK_MS;
    const iso = (ms) => encodeURIComponent(new Date(ms).toISOString());
    const url = "api/v1/coldrooms/" + encodeURIComponent(r.d.site) + "/" + encodeURIComponent(r.d.room) +
      "/log?format=json&from=" + iso(from) + "&to=" + iso(to);
    let res;
    try {
      res = await CountyLink.fetch(url);
    } catch (_) { return; }
    if (res.status === 503) { logsOff = true; return; } // no store: the live readings only
    if (!res.ok) return;
    const l = await res.json().catch(() => null);
    if (!l || !Array.isArray(l.Probes) || rooms.get(roomKey(r.d)) !== r) return;
    const sp = r.spark;
    sp.slot.fill(-1);
    for (const p of l.Probes) {
      for (const s of (p && Array.isArray(p.Log)) ? p.Log : []) {
        const ts = Date.parse(s.TS);
        if (isFinite(ts) && isNum(s.Value)) sparkAdd(sp, ts, s.Value);
      }
    }
    const ts = tsOf(r.d);
    if (isNum(r.d.temperature) && isFinite(ts) && ts > to) sparkAdd(sp, ts, r.d.temperature);
    renderSpark(r);
  }

  // ---- sites: the county centre and the townships, a row each ------------

  const isVillage = (d) => d.kind === "village";
  const siteRank = (d) => (d.kind === "county" ? 0 : 1);
  const cmpSite = (a, b) => siteRank(a.d) - siteRank(b.d) || idCmp(a.d.id, b.d.id);

  function makeSiteItem(d) {
    const li = el("li", "site");
    li.setAttribute("role", "row");
    li.dataset.site = d.id;
    const cell = el("span", "s-cell", li);
    cell.setAttribute("role", "rowheader");
    el("span", "dot", cell);
    const name = el("span", "s-name", cell);
    const note = el("span", "s-note", cell);
    const c = {};
    for (const k of COLS) {
      c[k] = el("span", "num c-" + k, li);
      c[k].setAttribute("role", "cell");
    }
    const bcell = el("span", "num c-backlog", li);
    bcell.setAttribute("role", "cell");
    const backlog = el("span", "backlog", bcell);
    backlog.hidden = true;
    const vcell = el("span", "c-villages", li);
    vcell.setAttribute("role", "cell");
    const vdots = el("span", "vdots", vcell);
    const vcount = el("span", "vcount", vcell);
    return { li, name, note, c, backlog, vdots, vcount };
  }

  // Messages the site's edges hold on disk, waiting for the uplink.
  const edgeBacklog = (e) => (e && isNum(e.backlog) && e.backlog > 0 ? e.backlog : 0);
  const siteBacklog = (d) => (Array.isArray(d.edges) ? d.edges.reduce((n, e) => n + edgeBacklog(e), 0) : 0);
  const num = (v) => (isNum(v) && v > 0 ? v : 0);

  // The row's figures: today's from the hub's figures, or (a hub without
  // them) the sorted and exception counts the site carries.
  function rowFigures(d) {
    if (figures) return figures.get(d.id) || null;
    const p = d.parcels;
    if (!p) return null;
    const exc = num(p.exceptions);
    return { sorted: Math.max(0, num(p.sorted) - exc), exceptions: exc };
  }

  function setNum(node, v, text) {
    const known = isNum(v);
    setData(node, "v", known ? String(v) : "");
    setText(node, text !== undefined ? text : known ? count(v) : "–");
  }

  function renderSite(s) {
    if (s.dot) { renderVillage(s); return; }
    const d = s.d, n = s.n;
    if (!n) return;
    setData(n.li, "online", d.online ? "true" : "false");
    setData(n.li, "kind", d.kind || "");
    const full = localName(d.name, d.name_en) || d.id;
    setText(n.name, d.kind === "county" ? t("county_row") : full);
    setTitle(n.name, full + " · " + d.id);
    const q = siteBacklog(d);
    setData(n.li, "backlog", String(q));
    n.backlog.hidden = q === 0;
    setText(n.backlog, q ? count(q) : "");
    // Per edge in the title, for a site with more than one box.
    setTitle(n.backlog, q ? d.edges.filter((e) => edgeBacklog(e)).map((e) => t("backlog_edge", { edge: e.edge, n: fmt.int.format(e.backlog) })).join("\n") : "");
    renderRowFigures(s);
    renderSiteAge(s);
  }

  function renderRowFigures(s) {
    const n = s.n, f = rowFigures(s.d), b = board.get(s.d.id);
    for (const k of ["received", "sorted", "dispatched", "delivered", "exceptions"]) {
      // With the hub's figures a site without a row has none; without
      // them, only what the site carries is known.
      const v = figures ? (f ? num(f[k]) : 0) : f && k in f ? f[k] : undefined;
      setNum(n.c[k], v);
      setData(n.li, k, isNum(v) ? String(v) : "");
    }
    const bv = (k) => (boardOK ? (b ? b[k] : 0) : undefined);
    setNum(n.c.waiting, bv("waiting"));
    setNum(n.c.kg, bv("kg"), boardOK ? fmt.kg.format(bv("kg")) : "–");
    setNum(n.c.routes, bv("routes"));
    setNum(n.c.road, bv("road"));
    setData(n.li, "waiting", boardOK ? String(bv("waiting")) : "");
    setData(n.li, "routes", boardOK ? String(bv("routes")) : "");
    setData(n.li, "road", boardOK ? String(bv("road")) : "");
    setTitle(n.c.waiting, boardOK && b ? t("waiting_detail", { n: fmt.int.format(b.waiting), kg: fmt.limit.format(b.kg),
      routes: fmt.int.format(b.routes), open: fmt.int.format(b.open), road: fmt.int.format(b.road) }) : "");
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

  // ---- village points: a dot each in their township's row -----------------

  const villageState = (s) => CountyLink.villageState(s.d, now(), s.scanned);

  function renderVillage(s) {
    const d = s.d, st = villageState(s);
    setData(s.dot, "v", st);
    setData(s.dot, "phase", String(d.phase || 0));
    const ls = Math.max(d.last_seen ? Date.parse(d.last_seen) || 0 : 0, s.scanned || 0);
    setTitle(s.dot, localName(d.name, d.name_en) + " · " + d.id + " · " + t("phase_n", { n: fmt.int.format(d.phase || 0) }) + " · " +
      (ls ? t("seen_ago", { d: dur(now() - ls) }) : t("v_none")));
  }

  // placeVillage puts a village point's dot in its township's row, in id
  // order; it stays out of the page while the township is unknown.
  function placeVillage(s) {
    const row = sites.get(s.d.parent);
    const box = row && row.n ? row.n.vdots : null;
    if (!box) { s.dot.remove(); return; }
    if (s.dot.parentNode === box) return;
    let before = null;
    for (const o of box.children) if (idCmp(o.dataset.site, s.d.id) > 0) { before = o; break; }
    box.insertBefore(s.dot, before);
  }

  // listedAt is when the list holding d was requested; undefined for d
  // from the stream. A list requested before the stream's last word on a
  // site is older than it: its copy of the site (a backlog, today's
  // parcels) would undo what the stream delivered until the next resync.
  function upsertSite(d, listedAt) {
    if (!d || typeof d.id !== "string") return;
    let s = sites.get(d.id);
    if (s && listedAt !== undefined && s.streamed > listedAt) { s.seen = Date.now(); return; }
    if (s && !!s.dot !== isVillage(d)) { removeSite(d.id); s = null; }
    const parcelsBefore = s && s.d.parcels ? s.d.parcels.last_event : undefined;
    if (s) {
      const moved = s.dot && s.d.parent !== d.parent;
      s.d = d;
      s.seen = Date.now();
      if (moved) placeVillage(s);
    } else {
      s = { d, seen: Date.now(), streamed: 0, scanned: 0, n: null, dot: null };
      sites.set(d.id, s);
      if (isVillage(d)) {
        s.dot = el("span", "vdot");
        s.dot.dataset.site = d.id;
        placeVillage(s);
      } else {
        s.n = makeSiteItem(d);
        let before = null;
        for (const o of sites.values()) {
          if (o.n && o !== s && cmpSite(o, s) > 0 && (!before || cmpSite(o, before) < 0)) before = o;
        }
        siteList.insertBefore(s.n.li, before ? before.n.li : null);
        for (const o of sites.values()) if (o.dot && o.d.parent === d.id) { placeVillage(o); }
      }
    }
    if (listedAt === undefined) {
      s.streamed = Date.now();
      // Today's counts moved: the figures follow, at most every SOON_MS.
      if (d.parcels && d.parcels.last_event !== parcelsBefore) slowSoon();
    }
    renderSite(s);
    countsSoon();
  }

  function removeSite(id) {
    const s = sites.get(id);
    if (!s) return;
    if (s.n) {
      for (const dot of [...s.n.vdots.children]) dot.remove();
      s.n.li.remove();
    }
    if (s.dot) s.dot.remove();
    sites.delete(id);
  }

  // A parcel event: a village point that scanned is seen now; the figures
  // and the board follow.
  function onParcel(ev) {
    if (!ev || typeof ev.site !== "string") return;
    const s = sites.get(ev.site);
    if (s && s.dot) {
      const ts = Date.parse(ev.ts);
      if (isFinite(ts) && ts > s.scanned) { s.scanned = Math.min(ts, now()); renderVillage(s); countsSoon(); }
    }
    slowSoon();
  }

  // ---- the county's figures, the dispatch board, the produce --------------

  async function loadFigures() {
    try {
      const list = await getJSON("api/v1/figures");
      if (!Array.isArray(list)) return;
      const m = new Map();
      const county = [...sites.values()].find((s) => s.d.kind === "county");
      for (const f of list) {
        if (!f) continue;
        const id = f.township || (county ? county.d.id : "");
        const a = m.get(id) || { received: 0, sorted: 0, dispatched: 0, delivered: 0, exceptions: 0 };
        for (const k in a) a[k] += num(f[k]);
        m.set(id, a);
      }
      figures = m;
    } catch (_) { /* the last figures stay */ }
  }

  async function loadBoard() {
    try {
      const b = await getJSON("api/v1/board");
      if (!b || !Array.isArray(b.routes)) return;
      const m = new Map();
      for (const r of b.routes) {
        if (!r || typeof r.site !== "string") continue;
        let a = m.get(r.site);
        if (!a) { a = { waiting: 0, kg: 0, routes: 0, road: 0, open: 0 }; m.set(r.site, a); }
        a.waiting += num(r.waiting);
        a.kg += num(r.waiting_kg);
        if (num(r.waiting) > 0) a.routes++;
        for (const run of Array.isArray(r.runs) ? r.runs : []) {
          if (run && run.state === "departed") a.road++;
          else if (run && run.state === "open") a.open++;
        }
      }
      board = m;
      boardOK = true;
    } catch (_) { /* the last board stays */ }
  }

  async function loadProduce() {
    try {
      const list = await getJSON("api/v1/produce");
      if (!Array.isArray(list)) return;
      const by = new Map();
      for (const r of list) {
        if (!r) continue;
        const k = r.product || "";
        const a = by.get(k) || { product: k, kg: 0, lots: 0 };
        a.kg += num(r.kg);
        a.lots += num(r.lots);
        by.set(k, a);
      }
      produce = [...by.values()].sort((a, b) => b.kg - a.kg || (a.product < b.product ? -1 : 1));
      produceOK = true;
    } catch (_) { /* the last list stays */ }
  }

  const slow = page.coalesced(() => Promise.allSettled([loadFigures(), loadBoard(), loadProduce()]).then(renderSlow));

  // slowSoon refreshes the slow panels after parcel events: at most once
  // every SOON_MS, however many events come.
  let soonTimer = 0, soonLast = 0;
  function slowSoon() {
    if (soonTimer) return;
    soonTimer = setTimeout(() => { soonTimer = 0; soonLast = Date.now(); slow(); }, Math.max(0, soonLast + SOON_MS - Date.now()));
  }

  function renderSlow() {
    for (const s of sites.values()) if (s.n) renderRowFigures(s);
    renderKPI();
    renderProduce();
  }

  function renderKPI() {
    const sum = { received: 0, sorted: 0, dispatched: 0, delivered: 0, exceptions: 0 };
    const known = new Set(); // the figures the page has
    for (const s of sites.values()) {
      const f = s.n ? rowFigures(s.d) : null;
      if (f) for (const k in f) { sum[k] += num(f[k]); known.add(k); }
    }
    if (figures) {
      // The hub's rows of sites the page does not list count too.
      for (const [id, f] of figures) if (!(sites.get(id) || {}).n) for (const k in sum) sum[k] += f[k];
      for (const k in sum) known.add(k);
    }
    for (const k in sum) {
      const v = known.has(k) ? sum[k] : undefined;
      setText($("kpi-" + k), isNum(v) ? count(v) : "–");
      setData($("kpi-" + k).parentNode, "n", isNum(v) ? String(v) : "");
    }
    let waiting = 0, road = 0, kg = 0;
    for (const b of board.values()) { waiting += b.waiting; road += b.road; kg += b.kg; }
    setText($("kpi-waiting"), boardOK ? count(waiting) : "–");
    setData($("kpi-waiting").parentNode, "n", boardOK ? String(waiting) : "");
    setTitle($("kpi-waiting").parentNode, boardOK ? t("kg", { n: fmt.kg.format(kg) }) : "");
    setText($("kpi-road"), boardOK ? count(road) : "–");
    setData($("kpi-road").parentNode, "n", boardOK ? String(road) : "");
  }

  // The products weighed most today: TOP_PRODUCTS lines, made once.
  const prodItems = [];
  function renderProduce() {
    const list = $("produce-list");
    while (prodItems.length < TOP_PRODUCTS) {
      const li = el("li", "prod", list);
      const name = el("span", "pr-name", li);
      const kg = el("span", "pr-kg", li);
      const bar = el("span", "pr-bar", li);
      const fill = el("span", "pr-fill", bar);
      prodItems.push({ li, name, kg, fill });
    }
    const top = produce.slice(0, TOP_PRODUCTS);
    const max = top.length ? Math.max(1, top[0].kg) : 1;
    prodItems.forEach((it, i) => {
      const p = top[i];
      it.li.hidden = !p;
      if (!p) return;
      setData(it.li, "product", p.product);
      setData(it.li, "kg", String(Math.round(p.kg * 10) / 10));
      setText(it.name, p.product || t("product_unknown"));
      setText(it.kg, t("kg", { n: fmt.kg.format(p.kg) }));
      setTitle(it.li, t("produce_detail", { product: p.product || t("product_unknown"), kg: fmt.limit.format(p.kg), lots: fmt.int.format(p.lots) }));
      const w = Math.round((p.kg / max) * 100) + "%";
      if (it.fill.style.width !== w) it.fill.style.width = w;
    });
    const total = produce.reduce((a, p) => a + p.kg, 0);
    setData($("produce"), "n", String(produce.length));
    setText($("produce-total"), produceOK && produce.length ? t("kg", { n: fmt.kg.format(total) }) : "");
    $("produce-none").hidden = !produceOK || produce.length > 0;
  }

  // ---- header and counts ---------------------------------------------------

  let countsQueued = false;
  function countsSoon() {
    if (countsQueued) return;
    countsQueued = true;
    queueMicrotask(() => { countsQueued = false; renderCounts(); });
  }

  const phaseItems = new Map(); // phase -> {li, label, n}

  function renderCounts() {
    let on = 0, all = 0, von = 0, vall = 0, alarmN = 0, faults = 0, queued = 0;
    const perRow = new Map(); // township -> [online, all]
    const perPhase = new Map(); // phase -> [online, all]
    for (const s of sites.values()) {
      if (s.n) { all++; if (s.d.online) on++; }
      if (s.dot) {
        vall++;
        const online = s.dot.dataset.v === "online";
        if (online) von++;
        const r = perRow.get(s.d.parent) || [0, 0];
        r[1]++; if (online) r[0]++;
        perRow.set(s.d.parent, r);
        const ph = s.d.phase || 0;
        const p = perPhase.get(ph) || [0, 0];
        p[1]++; if (online) p[0]++;
        perPhase.set(ph, p);
      }
      queued += siteBacklog(s.d);
    }
    for (const r of rooms.values()) {
      const st = roomState(r.d);
      if (ALARM[st]) alarmN++; else if (st === "fault") faults++;
    }
    setText($("online-count"), all ? fmt.int.format(on) + "/" + fmt.int.format(all) : "–");
    setData($("online-count"), "down", String(all - on));
    $("village-stat").hidden = vall === 0;
    setText($("village-count"), fmt.int.format(von) + "/" + fmt.int.format(vall));
    setText($("alarm-count"), fmt.int.format(alarmN));
    setData($("alarm-stat"), "n", String(alarmN));
    setText($("fault-count"), fmt.int.format(faults));
    setData($("fault-stat"), "n", String(faults));
    $("backlog-stat").hidden = queued === 0;
    setData($("backlog-stat"), "n", String(queued));
    setText($("backlog-count"), count(queued));

    // Each row's village points, in rows of half the most any township has.
    let most = 0;
    for (const s of sites.values()) {
      if (!s.n) continue;
      const r = perRow.get(s.d.id) || [0, 0];
      most = Math.max(most, r[1]);
      setData(s.n.li, "villages", r[0] + "/" + r[1]);
      setText(s.n.vcount, r[1] ? fmt.int.format(r[0]) + "/" + fmt.int.format(r[1]) : "");
    }
    const cols = String(Math.max(5, Math.ceil(most / 2)));
    if (siteList.style.getPropertyValue("--vcols") !== cols) siteList.style.setProperty("--vcols", cols);

    // By rollout phase.
    setText($("village-total"), vall ? fmt.int.format(von) + "/" + fmt.int.format(vall) : "");
    const list = $("phase-list");
    for (const ph of [...perPhase.keys()].sort((a, b) => a - b)) {
      let it = phaseItems.get(ph);
      if (!it) {
        const li = el("li", "phase");
        li.dataset.phase = String(ph);
        const label = el("span", "p-label", li), pn = el("span", "p-n", li);
        it = { li, label, on: el("span", "p-on", pn), of: el("small", "p-of", pn) };
        phaseItems.set(ph, it);
        let before = null;
        for (const [k, o] of phaseItems) if (k > ph && (!before || Number(before.dataset.phase) > k)) before = o.li;
        list.insertBefore(li, before);
      }
      const [pon, pall] = perPhase.get(ph);
      setData(it.li, "online", String(pon));
      setData(it.li, "n", String(pall));
      setText(it.label, ph ? t("phase_n", { n: fmt.int.format(ph) }) : t("phase_0"));
      setText(it.on, fmt.int.format(pon));
      setText(it.of, "/" + fmt.int.format(pall));
    }
    for (const [ph, it] of phaseItems) if (!perPhase.has(ph)) { it.li.remove(); phaseItems.delete(ph); }
    setText($("legend-online"), t("v_online", { d: dur(VILLAGE_RECENT_MS) }));
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
      renderSlow();
    });
  });

  // On every (re)connect: the lists, the slow panels and the rooms' logs,
  // for what the page missed while it was away.
  function reconnected() {
    resync();
    slow();
    queueLogs();
  }

  // ---- rotation (?rotate=30s) and kiosk (?kiosk=1) -----------------------

  // rotateMs reads ?rotate=: "30s", "2m" or seconds; 0 for none. At least
  // 5 s, at most an hour.
  function rotateMs(v) {
    const m = /^(\d+(?:\.\d+)?)(s|m)?$/.exec(v.trim());
    if (!m) return 0;
    const ms = Number(m[1]) * (m[2] === "m" ? 60e3 : 1e3);
    return Math.min(3600e3, Math.max(5e3, ms));
  }

  function startRotation(ms) {
    const views = ["cold", "logistics"];
    let i = 0;
    document.body.dataset.view = views[i];
    setInterval(() => {
      i = (i + 1) % views.length;
      document.body.dataset.view = views[i];
      layoutTiles(true);
      renderAlarms();
    }, ms);
  }

  // ---- every second -----------------------------------------------------

  let minute = -1;
  function tick() {
    renderClock();
    for (const r of rooms.values()) renderAge(r);
    for (const s of sites.values()) if (s.n && !s.d.online) renderSiteAge(s);
    for (const c of shown) renderAlarmAge(c);
    // Once a minute: the sparklines' window moves on, the village points'
    // "seen recently" expires.
    const m = Math.floor(now() / 60e3);
    if (m !== minute) {
      minute = m;
      for (const r of rooms.values()) renderSpark(r);
      for (const s of sites.values()) if (s.dot) renderVillage(s);
    }
    renderCounts();
    page.checkPing(PING_TIMEOUT_MS);
    setTimeout(tick, 1000 - (now() % 1000) + 20);
  }

  // ---- start ------------------------------------------------------------

  async function start() {
    // A notification's link (PUBLIC_URL/#alarm=<id>) opens the alarm page.
    if (location.hash.startsWith("#alarm=")) { location.replace("alarms.html" + location.hash); return; }
    if (/^(1|true|yes)$/i.test(query("kiosk"))) document.body.classList.add("kiosk");
    const rot = rotateMs(query("rotate"));
    if (rot) startRotation(rot);
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
      parcel: onParcel,
    }, reconnected);
    resync();
    slow();
    setInterval(resync, RESYNC_MS);
    setInterval(slow, SLOW_MS);
    setInterval(queueLogs, LOG_REFRESH_MS);
    tick();
  }

  start();
})();
