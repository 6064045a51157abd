// Cold-room history: a room's temperature log over a period (the last 24
// hours by default) from the hub's log (GET api/v1/coldrooms/<site>/<room>
// /log?format=json), drawn here as inline SVG: a line per probe, broken
// where the log has a gap, the room's limits as dashed lines, each
// excursion shaded; a cursor that reads the probes' values out at a time,
// by mouse or keyboard; each probe's figures and its excursions; links to
// the printable log and its CSV. The room and the period are in the page's
// URL, so a link keeps them.
"use strict";
(() => {
  const DAY_MS = 864e5;
  const MAX_DAYS = 92; // the hub's longest log
  const COLORS = ["#7cc4ff", "#fbbf24", "#c084fc", "#4ade80", "#f472b6", "#2dd4bf"];

  const { $, setText, setData, el, request, query } = CountyLink;

  const page = CountyLink.page({
    titleKey: "history_title",
    formats: (loc) => ({
      full: new Intl.DateTimeFormat(loc, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }),
      hm: new Intl.DateTimeFormat(loc, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }),
      md: new Intl.DateTimeFormat(loc, { month: "numeric", day: "numeric" }),
      pct: new Intl.NumberFormat(loc, { style: "percent", maximumFractionDigits: 1 }),
      two: new Intl.NumberFormat(loc, { minimumFractionDigits: 2, maximumFractionDigits: 2 }),
    }),
    onLang: () => { fillRooms(); render(); },
  });
  const { fmt, t, tValue } = page;

  let rooms = []; // the hub's cold rooms
  let sel = { site: "", room: "", from: 0, to: 0 }; // what is shown
  let log = null; // the log shown, null before the first
  let failure = "";
  let seq = 0;
  let view = null; // the chart's scales and data, for the cursor
  let cursor = -1; // index into view.times, -1 when hidden

  // ---- texts ----------------------------------------------------------------

  const deg = (v) => fmt.temp.format(v) + " °C";
  const ms = (s) => { const v = Date.parse(s); return isFinite(v) ? v : NaN; };
  const nsToMs = (ns) => (typeof ns === "number" ? ns / 1e6 : 0);

  // span is a duration in words: "1 小时 5 分钟", "45 s".
  function span(msv) {
    const s = Math.round(msv / 1000);
    if (s < 60) return t("dur_s", { n: fmt.int.format(s) });
    const m = Math.round(s / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
    if (h === 0) return t("dur_m", { n: fmt.int.format(m) });
    if (d === 0) return t("dur_h", { n: fmt.int.format(h) }) + (m % 60 ? " " + t("dur_m", { n: fmt.int.format(m % 60) }) : "");
    return t("dur_d", { n: fmt.int.format(d) }) + (h % 24 ? " " + t("dur_h", { n: fmt.int.format(h % 24) }) : "");
  }

  const localName = (zh, en) => (page.lang === "en" && en) ? en : (zh || en || "");
  const roomLabel = (r) => (localName(r.site_name, r.site_name_en) || r.site) + " · " + (localName(r.name, r.name_en) || r.room);

  function limitsText(lo, hi) {
    if (lo !== null && hi !== null) return fmt.limit.format(lo) + " ~ " + fmt.limit.format(hi) + " °C";
    if (hi !== null) return "≤ " + fmt.limit.format(hi) + " °C";
    if (lo !== null) return "≥ " + fmt.limit.format(lo) + " °C";
    return "";
  }

  // The datetime-local inputs hold local times, "2026-11-29T08:00".
  function toInput(msv) {
    const d = new Date(msv), p = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + "T" + p(d.getHours()) + ":" + p(d.getMinutes());
  }
  const fromInput = (v) => (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(v) ? new Date(v).getTime() : NaN);

  // ---- rooms and the form -------------------------------------------------------

  function fillRooms() {
    const s = $("h-room"), want = sel.site + "/" + sel.room;
    s.replaceChildren(...rooms.map((r) => {
      const o = el("option");
      o.value = r.site + "/" + r.room;
      o.textContent = roomLabel(r) + " (" + limitsText(r.min_c ?? null, r.max_c ?? null) + ")";
      return o;
    }));
    if (rooms.some((r) => r.site + "/" + r.room === want)) s.value = want;
  }

  function status(kind, msg) {
    setData($("h-status"), "result", kind);
    setText($("h-status"), msg);
  }

  function readForm() {
    const [site, room] = ($("h-room").value || "/").split("/");
    const from = fromInput($("h-from").value), to = fromInput($("h-to").value);
    for (const id of ["h-from", "h-to"]) $(id).removeAttribute("aria-invalid");
    const bad = (id, msg) => { $(id).setAttribute("aria-invalid", "true"); $(id).focus(); status("error", msg); return null; };
    if (!site || !room) { status("error", t("need_room")); return null; }
    if (!isFinite(from)) return bad("h-from", t("need_time"));
    if (!isFinite(to)) return bad("h-to", t("need_time"));
    if (to <= from) return bad("h-to", t("bad_period"));
    if (to - from > MAX_DAYS * DAY_MS) return bad("h-from", t("long_period", { max: fmt.int.format(MAX_DAYS) }));
    return { site, room, from, to };
  }

  function logURL(format) {
    const p = new URLSearchParams({ from: new Date(sel.from).toISOString(), to: new Date(sel.to).toISOString() });
    if (format) p.set("format", format);
    return "api/v1/coldrooms/" + encodeURIComponent(sel.site) + "/" + encodeURIComponent(sel.room) + "/log?" + p;
  }

  async function load() {
    const want = readForm();
    if (!want) return;
    sel = want;
    const u = new URL(location.href);
    u.search = new URLSearchParams({ site: sel.site, room: sel.room, from: new Date(sel.from).toISOString(), to: new Date(sel.to).toISOString() }).toString();
    history.replaceState(null, "", u.pathname + u.search + u.hash);
    const n = ++seq;
    status("busy", t("loading"));
    setData(document.body, "state", "loading");
    const r = await request(logURL("json"));
    if (n !== seq) return;
    if (r.ok && r.body && Array.isArray(r.body.Probes)) {
      log = r.body;
      failure = "";
      status("", "");
    } else {
      log = null;
      failure = r.status ? "HTTP " + r.status + (r.error ? " · " + r.error : "") : t("hub_unreachable");
      status("error", t("history_failed", { error: failure }));
    }
    cursor = -1;
    render();
    setData(document.body, "state", failure ? "failed" : "loaded");
  }

  // ---- rendering ----------------------------------------------------------------

  function render() {
    const r = rooms.find((x) => x.site === sel.site && x.room === sel.room);
    setText($("hc-room"), r ? roomLabel(r) : sel.site ? sel.site + " · " + sel.room : t("hc_title"));
    setText($("hc-range"), sel.from ? t("range", { from: fmt.full.format(new Date(sel.from)), to: fmt.full.format(new Date(sel.to)) }) : "");
    if (sel.site) {
      $("h-print").href = logURL("");
      $("h-csv").href = logURL("csv");
    }
    renderChart();
    renderSummary();
    renderExcursions();
  }

  function probesOf(l) { return l && Array.isArray(l.Probes) ? l.Probes : []; }

  // The chart. The SVG is as wide as its box (redrawn on resize) so its
  // text keeps its size.
  function renderChart() {
    const svg = $("h-svg"), box = $("h-chart");
    const ns = svg.namespaceURI; // SVG's, without its URL here
    const s = (tag, attrs, parent) => {
      const e = document.createElementNS(ns, tag);
      for (const k in attrs) e.setAttribute(k, attrs[k]);
      if (parent) parent.appendChild(e);
      return e;
    };
    const title = $("h-svg-t"), desc = $("h-svg-d");
    svg.replaceChildren(title, desc);
    view = null;
    if (!log) { setText(title, t("hc_title")); setText(desc, ""); setData(box, "probes", "0"); renderReadout(); return; }
    const W = Math.max(480, Math.round(box.clientWidth || 900)), H = 380;
    const left = 56, right = 18, top = 14, bottom = 40;
    const plotW = W - left - right, plotH = H - top - bottom;
    for (const [k, v] of Object.entries({ viewBox: `0 0 ${W} ${H}`, width: String(W), height: String(H) })) svg.setAttribute(k, v);

    const P = log.Params || {};
    const from = ms(P.From), to = ms(P.To), period = to - from;
    const lo0 = typeof P.Low === "number" ? P.Low : null, hi0 = typeof P.High === "number" ? P.High : null;
    const maxGap = nsToMs(P.MaxGap) || 5 * 60e3;
    const probes = probesOf(log).map((p, i) => {
      const ts = [], vs = [];
      for (const x of Array.isArray(p.Log) ? p.Log : []) {
        const tm = ms(x.TS);
        if (isFinite(tm) && typeof x.Value === "number") { ts.push(tm); vs.push(x.Value); }
      }
      return { device: p.Device || "", color: COLORS[i % COLORS.length], ts, vs, report: p.Report || {} };
    });

    // The value axis holds the readings and the limits.
    let lo = Infinity, hi = -Infinity;
    for (const p of probes) for (const v of p.vs) { if (v < lo) lo = v; if (v > hi) hi = v; }
    for (const l of [lo0, hi0]) if (l !== null) { lo = Math.min(lo, l); hi = Math.max(hi, l); }
    if (!isFinite(lo)) { lo = 0; hi = 10; }
    const pad = Math.max((hi - lo) * 0.08, 0.5);
    lo -= pad; hi += pad;
    const x = (tm) => left + (plotW * (tm - from)) / period;
    const y = (v) => top + (plotH * (hi - v)) / (hi - lo);
    const r1 = (v) => (Math.round(v * 10) / 10).toString();

    // Grid and value ticks.
    const ystep = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50].find((st) => (hi - lo) / st <= 8) || 100;
    const grid = s("g", { class: "h-grid" }, svg);
    for (let v = Math.ceil(lo / ystep) * ystep; v <= hi; v += ystep) {
      const vv = Math.round(v / ystep) * ystep + 0;
      s("line", { x1: left, x2: left + plotW, y1: r1(y(vv)), y2: r1(y(vv)) }, grid);
      s("text", { x: left - 6, y: r1(y(vv) + 4), "text-anchor": "end" }, grid).textContent = fmt.limit.format(vv);
    }
    s("text", { x: 4, y: top + 4, class: "h-unit" }, grid).textContent = "°C";
    // Time ticks on round local times.
    const steps = [60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3, 10800e3, 21600e3, 43200e3, DAY_MS, 2 * DAY_MS, 7 * DAY_MS, 14 * DAY_MS];
    const most = Math.max(2, Math.floor(plotW / 95));
    const step = steps.find((st) => period / st <= most) || 28 * DAY_MS;
    const d0 = new Date(from);
    let tick = new Date(d0.getFullYear(), d0.getMonth(), d0.getDate()).getTime();
    if (step >= DAY_MS) { while (tick < from) tick += DAY_MS; } else { while (tick < from) tick += step; }
    for (let n = 0; tick <= to && n < 100; n++) {
      const d = new Date(tick);
      const midnight = d.getHours() === 0 && d.getMinutes() === 0;
      const label = step >= DAY_MS || (midnight && period > 6 * 3600e3) ? fmt.md.format(d) : fmt.hm.format(d);
      s("line", { x1: r1(x(tick)), x2: r1(x(tick)), y1: top, y2: top + plotH, class: midnight ? "h-day" : "" }, grid);
      s("text", { x: r1(x(tick)), y: top + plotH + 18, "text-anchor": "middle", class: midnight ? "h-day" : "" }, grid).textContent = label;
      if (step >= DAY_MS) { const nd = new Date(tick); nd.setDate(nd.getDate() + Math.round(step / DAY_MS)); tick = nd.getTime(); } else tick += step;
    }
    s("rect", { class: "h-frame", x: left, y: top, width: plotW, height: plotH }, svg);

    // Gaps and excursions, under the lines.
    let nGaps = 0, nExc = 0;
    const bands = s("g", { class: "h-bands" }, svg);
    for (const p of probes) {
      for (const g of Array.isArray(p.report.Gaps) ? p.report.Gaps : []) {
        const a = Math.max(from, ms(g.From)), b = Math.min(to, ms(g.To));
        if (!(b > a)) continue;
        const rc = s("rect", { class: "h-gap", x: r1(x(a)), y: top, width: r1(Math.max(1, x(b) - x(a))), height: plotH }, bands);
        rc.dataset.probe = p.device;
        s("title", {}, rc).textContent = t("gap_title", { probe: p.device, from: fmt.full.format(new Date(a)), to: fmt.full.format(new Date(b)), d: span(b - a) });
        nGaps++;
      }
      for (const e of Array.isArray(p.report.Excursions) ? p.report.Excursions : []) {
        const a = Math.max(from, ms(e.Start)), b = Math.min(to, ms(e.End));
        if (!(b >= a)) continue;
        const rc = s("rect", { class: "h-exc", x: r1(x(a)), y: top, width: r1(Math.max(2, x(b) - x(a))), height: plotH }, bands);
        rc.dataset.kind = e.Kind;
        rc.dataset.probe = p.device;
        s("title", {}, rc).textContent = t("exc_title_band", { kind: tValue("kind_", e.Kind), probe: p.device, from: fmt.full.format(new Date(a)),
          d: span(nsToMs(e.Duration)), peak: deg(e.Peak) });
        nExc++;
      }
    }

    // The limits.
    for (const [k, v] of [["high", hi0], ["low", lo0]]) {
      if (v === null) continue;
      const ln = s("line", { class: "h-limit", x1: left, x2: left + plotW, y1: r1(y(v)), y2: r1(y(v)) }, svg);
      ln.dataset.limit = k;
      ln.dataset.v = String(v);
      s("text", { class: "h-limit-label", x: left + plotW - 4, y: r1(y(v) + (k === "high" ? -5 : 14)), "text-anchor": "end" }, svg).textContent =
        t(k === "high" ? "limit_high" : "limit_low", { v: deg(v) });
    }

    // A line per probe: broken where two readings are further apart than
    // the log's longest step; at most two points per pixel column.
    let drawn = 0;
    for (const p of probes) {
      let d = "", segStart = 0;
      const flush = (a, b) => {
        if (b <= a) return;
        if (b - a === 1) { d += "M" + r1(x(p.ts[a])) + " " + r1(y(p.vs[a])) + "h0.5"; drawn++; return; }
        let col = -1, cmin = -1, cmax = -1, first = true;
        const emit = (j) => { d += (first ? "M" : "L") + r1(x(p.ts[j])) + " " + r1(y(p.vs[j])); first = false; drawn++; };
        const out = () => {
          if (cmin < 0) return;
          if (cmin === cmax) emit(cmin); else if (cmin < cmax) { emit(cmin); emit(cmax); } else { emit(cmax); emit(cmin); }
        };
        for (let j = a; j < b; j++) {
          const c = Math.floor(x(p.ts[j]));
          if (c !== col) { out(); col = c; cmin = cmax = j; continue; }
          if (p.vs[j] < p.vs[cmin]) cmin = j;
          if (p.vs[j] > p.vs[cmax]) cmax = j;
        }
        out();
      };
      for (let j = 1; j <= p.ts.length; j++) {
        if (j === p.ts.length || p.ts[j] - p.ts[j - 1] > maxGap) { flush(segStart, j); segStart = j; }
      }
      const path = s("path", { class: "h-line", d, stroke: p.color }, svg);
      path.dataset.probe = p.device;
      path.dataset.n = String(p.ts.length);
    }
    if (!probes.length) {
      s("text", { class: "h-nodata", x: left + plotW / 2, y: top + plotH / 2, "text-anchor": "middle" }, svg).textContent = t("no_data_period");
    }

    // The cursor, hidden until used.
    const cur = s("g", { class: "h-cursor", visibility: "hidden" }, svg);
    const cline = s("line", { x1: 0, x2: 0, y1: top, y2: top + plotH }, cur);
    const dots = probes.map((p) => s("circle", { r: 4.5, fill: p.color }, cur));

    // The times the cursor stops at: every reading of every probe.
    const all = new Set();
    for (const p of probes) for (const tm of p.ts) all.add(tm);
    const times = [...all].sort((a, b) => a - b);
    view = { probes, times, x, y, from, to, left, plotW, W, maxGap, lo0, hi0, cur, cline, dots };

    setText(title, t("hc_svg_title", { room: $("hc-room").textContent, from: fmt.full.format(new Date(from)), to: fmt.full.format(new Date(to)) }));
    setText(desc, t("hc_svg_desc", { probes: fmt.int.format(probes.length), exc: fmt.int.format(nExc), gaps: fmt.int.format(nGaps),
      limits: limitsText(lo0, hi0) }));
    setData(box, "probes", String(probes.length));
    setData(box, "points", String(drawn));
    setData(box, "excursions", String(nExc));
    setData(box, "gaps", String(nGaps));
    renderLegend(probes);
    if (cursor >= times.length) cursor = times.length - 1;
    renderReadout();
  }

  function renderLegend(probes) {
    $("h-legend").replaceChildren(...probes.map((p) => {
      const li = el("li");
      li.dataset.probe = p.device;
      const sw = el("span", "swatch", li);
      sw.dataset.color = p.color;
      sw.style.background = p.color;
      el("span", "", li).textContent = p.device;
      return li;
    }));
  }

  // valueAt is a probe's reading at tm: the nearest within the log's
  // longest step, null in a gap.
  function valueAt(p, tm, maxGap) {
    let a = 0, b = p.ts.length - 1;
    if (b < 0) return null;
    while (a < b) { const m = (a + b) >> 1; if (p.ts[m] < tm) a = m + 1; else b = m; }
    let j = a;
    if (j > 0 && Math.abs(p.ts[j - 1] - tm) <= Math.abs(p.ts[j] - tm)) j--;
    return Math.abs(p.ts[j] - tm) <= maxGap ? { v: p.vs[j], at: p.ts[j] } : null;
  }

  function renderReadout() {
    const out = $("readout");
    if (!view || cursor < 0 || !view.times.length) {
      if (view) view.cur.setAttribute("visibility", "hidden");
      setText(out, "");
      setData(out, "t", "");
      return;
    }
    const tm = view.times[cursor], px = (Math.round(view.x(tm) * 10) / 10).toString();
    view.cline.setAttribute("x1", px);
    view.cline.setAttribute("x2", px);
    const parts = [];
    view.probes.forEach((p, i) => {
      const r = valueAt(p, tm, view.maxGap), dot = view.dots[i];
      if (r) {
        dot.setAttribute("cx", px);
        dot.setAttribute("cy", (Math.round(view.y(r.v) * 10) / 10).toString());
        dot.setAttribute("visibility", "visible");
        const out = (view.hi0 !== null && r.v > view.hi0) || (view.lo0 !== null && r.v < view.lo0);
        parts.push(p.device + " " + deg(r.v) + (out ? " " + t("out_of_range") : ""));
      } else {
        dot.setAttribute("visibility", "hidden");
        parts.push(p.device + " " + t("no_reading"));
      }
    });
    view.cur.setAttribute("visibility", "visible");
    setText(out, fmt.full.format(new Date(tm)) + " · " + parts.join(" · "));
    setData(out, "t", new Date(tm).toISOString());
  }

  // nearest is the index in view.times of the reading time closest to tm.
  function nearest(tm) {
    const ts = view.times;
    let a = 0, b = ts.length - 1;
    while (a < b) { const m = (a + b) >> 1; if (ts[m] < tm) a = m + 1; else b = m; }
    return a > 0 && Math.abs(ts[a - 1] - tm) <= Math.abs(ts[a] - tm) ? a - 1 : a;
  }

  function onMove(e) {
    if (!view || !view.times.length) return;
    const r = $("h-svg").getBoundingClientRect();
    const px = ((e.clientX - r.left) * view.W) / r.width;
    const tm = view.from + ((px - view.left) / view.plotW) * (view.to - view.from);
    cursor = nearest(Math.min(view.to, Math.max(view.from, tm)));
    renderReadout();
  }

  function onKey(e) {
    if (!view || !view.times.length) return;
    const n = view.times.length;
    let i = cursor < 0 ? n - 1 : cursor;
    switch (e.key) {
      case "ArrowLeft": i = e.shiftKey ? nearest(view.times[i] - 3600e3) : i - 1; break;
      case "ArrowRight": i = e.shiftKey ? nearest(view.times[i] + 3600e3) : i + 1; break;
      case "Home": i = 0; break;
      case "End": i = n - 1; break;
      case "Escape": cursor = -1; renderReadout(); return;
      default: return;
    }
    e.preventDefault();
    cursor = Math.max(0, Math.min(n - 1, i));
    renderReadout();
  }

  function cell(tr, text, cls, tag) {
    const td = el(tag || "td", cls || "", tr);
    td.textContent = text;
    return td;
  }

  function renderSummary() {
    const rows = probesOf(log).map((p) => {
      const r = p.Report || {}, tr = el("tr", "h-probe");
      tr.dataset.probe = p.Device || "";
      tr.dataset.compliant = r.Compliant ? "true" : "false";
      const th = cell(tr, p.Device || "", "", "th");
      th.scope = "row";
      const none = !r.Count;
      cell(tr, fmt.int.format(r.Count || 0), "num");
      cell(tr, none ? "—" : deg(r.Min.Value), "num").title = none ? "" : fmt.full.format(new Date(ms(r.Min.TS)));
      cell(tr, none ? "—" : deg(r.Max.Value), "num").title = none ? "" : fmt.full.format(new Date(ms(r.Max.TS)));
      cell(tr, none ? "—" : fmt.two.format(r.Mean) + " °C", "num");
      cell(tr, none ? "—" : fmt.two.format(r.MKT) + " °C", "num");
      cell(tr, nsToMs(r.TimeOutOfRange) ? span(nsToMs(r.TimeOutOfRange)) : "—", "num");
      cell(tr, fmt.int.format((r.Excursions || []).length), "num");
      const gaps = r.Gaps || [];
      cell(tr, gaps.length ? t("gaps_n", { n: fmt.int.format(gaps.length), d: span(gaps.reduce((a, g) => a + ms(g.To) - ms(g.From), 0)) }) : "—", "num");
      cell(tr, fmt.pct.format(r.Coverage || 0), "num");
      const res = cell(tr, none ? t("result_nodata") : r.Compliant ? t("result_ok") : t("result_not_ok"), "h-result");
      res.dataset.result = none ? "nodata" : r.Compliant ? "ok" : "bad";
      return tr;
    });
    if (!rows.length && log) {
      const tr = el("tr");
      const td = cell(tr, t("no_data_period"), "muted");
      td.colSpan = 11;
      rows.push(tr);
    }
    $("h-summary-rows").replaceChildren(...rows);
  }

  function renderExcursions() {
    const rows = [];
    for (const p of probesOf(log)) {
      for (const e of (p.Report && p.Report.Excursions) || []) {
        const tr = el("tr", "h-exc-row");
        tr.dataset.kind = e.Kind;
        tr.dataset.probe = p.Device || "";
        cell(tr, p.Device || "", "", "th").scope = "row";
        cell(tr, tValue("kind_", e.Kind), "");
        cell(tr, fmt.full.format(new Date(ms(e.Start))), "");
        cell(tr, e.Ongoing ? t("exc_ongoing") : fmt.full.format(new Date(ms(e.End))) + (e.EndsInGap ? " " + t("exc_in_gap") : ""), "");
        cell(tr, span(nsToMs(e.Duration)), "num");
        cell(tr, deg(e.Peak) + " · " + fmt.hm.format(new Date(ms(e.PeakAt))), "num");
        rows.push(tr);
      }
    }
    $("h-exc-rows").replaceChildren(...rows);
    $("h-exc-table").hidden = rows.length === 0;
    $("h-exc-none").hidden = !log || rows.length > 0;
    setData($("exc-panel"), "n", String(rows.length));
  }

  // ---- start ----------------------------------------------------------------------

  async function start() {
    await page.init();
    const r = await request("api/v1/coldrooms");
    if (r.ok && Array.isArray(r.body)) rooms = r.body.filter((x) => x && typeof x.site === "string" && typeof x.room === "string");
    else status("error", t("history_failed", { error: r.status ? "HTTP " + r.status : t("hub_unreachable") }));
    sel.site = query("site");
    sel.room = query("room");
    if (!rooms.some((x) => x.site === sel.site && x.room === sel.room) && rooms.length) { sel.site = rooms[0].site; sel.room = rooms[0].room; }
    fillRooms();
    const qf = Date.parse(query("from")), qt = Date.parse(query("to"));
    const to = isFinite(qt) ? qt : Math.ceil(Date.now() / 60e3) * 60e3;
    const from = isFinite(qf) && qf < to ? qf : to - DAY_MS;
    $("h-from").value = toInput(from);
    $("h-to").value = toInput(to);
    $("h-form").addEventListener("submit", (e) => { e.preventDefault(); load(); });
    $("h-room").addEventListener("change", load);
    for (const b of document.querySelectorAll(".presets button[data-hours]")) {
      b.addEventListener("click", () => {
        const end = Math.ceil(Date.now() / 60e3) * 60e3;
        $("h-to").value = toInput(end);
        $("h-from").value = toInput(end - Number(b.dataset.hours) * 3600e3);
        load();
      });
    }
    const svg = $("h-svg");
    svg.addEventListener("pointermove", onMove);
    svg.addEventListener("pointerleave", () => { if (document.activeElement !== svg) { cursor = -1; renderReadout(); } });
    svg.addEventListener("keydown", onKey);
    svg.addEventListener("focus", () => { if (cursor < 0 && view && view.times.length) { cursor = view.times.length - 1; renderReadout(); } });
    let w = 0;
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(() => { const nw = $("h-chart").clientWidth; if (nw !== w) { w = nw; renderChart(); } }).observe($("h-chart"));
    }
    if (sel.site) load();
  }

  start();
})();
