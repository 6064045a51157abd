// Figures page: the townships' figures by day over a period (the last 7
// days by default), for one township or all: a table with a totals row, a
// bar chart of the parcels dispatched each day (inline SVG, drawn here),
// and the farm produce weighed at the village points, by village and
// product; each with a link to the same data as CSV from the hub. The
// period and the township are in the page's URL, so a link keeps them.
"use strict";
(() => {
  const DEFAULT_DAYS = 7;
  const MAX_DAYS = 366; // the hub's limit of one query

  const { $, setText, setData, el, request, query, day, addDays } = CountyLink;

  const page = CountyLink.page({
    titleKey: "figures_title",
    formats: (loc, numberFormat) => ({
      day: new Intl.DateTimeFormat(loc, { year: "numeric", month: "2-digit", day: "2-digit", weekday: "short", timeZone: "UTC" }),
      date: new Intl.DateTimeFormat(loc, { year: "numeric", month: "2-digit", day: "2-digit", timeZone: "UTC" }),
      md: new Intl.DateTimeFormat(loc, { month: "numeric", day: "numeric", timeZone: "UTC" }),
      kg: numberFormat(loc, { maximumFractionDigits: 1 }),
      hours: numberFormat(loc, { minimumFractionDigits: 1, maximumFractionDigits: 1 }),
    }),
    onLang: () => { page.fillTownships($("fig-township"), sel.township, "all_townships"); render(); },
  });
  const { fmt, t, tn } = page;

  let sel = { from: "", to: "", township: "" }; // what is shown
  let figures = null, produce = null, failure = "";
  let seq = 0;

  const COLS = ["received", "sorted", "dispatched", "delivered", "exceptions", "avg_dispatch_h", "lots_collected", "kg_collected", "lots_shipped", "kg_shipped"];

  // ---- texts ----------------------------------------------------------------

  const utc = (s) => { const [y, m, d] = s.split("-").map(Number); return new Date(Date.UTC(y, m - 1, d)); };
  const dayText = (s) => (/^\d{4}-\d{2}-\d{2}$/.test(s) ? fmt.day.format(utc(s)) : s);
  const days = (from, to) => Math.round((utc(to) - utc(from)) / 864e5) + 1;

  function cell(tr, text, cls, tag) {
    const td = el(tag || "td", cls || "", tr);
    td.textContent = text;
    return td;
  }

  // value is a figure as shown; the mean wait only of a day with parcels
  // dispatched (0.0 h is a wait too short to count).
  function value(col, v, dispatched) {
    if (col === "avg_dispatch_h") return dispatched ? fmt.hours.format(v || 0) : "—";
    if (col.startsWith("kg_")) return fmt.kg.format(v || 0);
    return fmt.int.format(v || 0);
  }

  function params(format) {
    const p = new URLSearchParams({ from: sel.from, to: sel.to });
    if (sel.township) p.set("township", sel.township);
    if (format) p.set("format", format);
    return p.toString();
  }

  // ---- loading -------------------------------------------------------------

  function readForm() {
    const from = $("from").value, to = $("to").value, township = $("fig-township").value;
    for (const id of ["from", "to"]) $(id).removeAttribute("aria-invalid");
    const bad = (id, msg) => { $(id).setAttribute("aria-invalid", "true"); $(id).focus(); status("error", msg); return null; };
    if (!/^\d{4}-\d{2}-\d{2}$/.test(from)) return bad("from", t("need_date"));
    if (!/^\d{4}-\d{2}-\d{2}$/.test(to)) return bad("to", t("need_date"));
    if (to < from) return bad("to", t("bad_period"));
    if (days(from, to) > MAX_DAYS) return bad("from", t("long_period", { max: fmt.int.format(MAX_DAYS) }));
    return { from, to, township };
  }

  function status(kind, msg) {
    setData($("fig-status"), "result", kind);
    setText($("fig-status"), msg);
  }

  async function load() {
    const want = readForm();
    if (!want) return;
    sel = want;
    const u = new URL(location.href);
    u.search = params();
    history.replaceState(null, "", u.pathname + u.search + u.hash);
    const n = ++seq;
    status("busy", t("loading"));
    setData(document.body, "state", "loading");
    const [f, p] = await Promise.all([request("api/v1/figures?" + params()), request("api/v1/produce?" + params())]);
    if (n !== seq) return;
    failure = "";
    if (f.ok && Array.isArray(f.body)) figures = f.body; else failure = hubError(f);
    if (p.ok && Array.isArray(p.body)) produce = p.body; else failure = failure || hubError(p);
    status(failure ? "error" : "", failure ? t("figures_failed", { error: failure }) : "");
    render();
    setData(document.body, "state", failure ? "failed" : "loaded");
  }

  const hubError = (r) => (r.status ? "HTTP " + r.status + (r.error ? " · " + r.error : "") : t("hub_unreachable"));

  // ---- rendering -------------------------------------------------------------

  function render() {
    const date = (s) => fmt.date.format(utc(s));
    const range = sel.from ? t("range", { from: date(sel.from), to: date(sel.to) }) +
      " · " + (sel.township ? page.siteName(sel.township) : t("all_townships")) : "";
    setText($("fig-range"), range);
    setText($("produce-range"), range);
    const csv = $("fig-csv"), pcsv = $("produce-csv");
    if (sel.from) {
      csv.href = "api/v1/figures?" + params("csv");
      pcsv.href = "api/v1/produce?" + params("csv");
    }
    renderFigures();
    renderChart();
    renderProduce();
  }

  function renderFigures() {
    const rows = (figures || []).slice().sort((a, b) => CountyLink.idCmp(a.township, b.township) || (a.day < b.day ? -1 : a.day > b.day ? 1 : 0));
    setData($("figures"), "n", String(rows.length));
    $("fig-none").hidden = !figures || rows.length > 0;
    $("fig-table").hidden = rows.length === 0;
    $("fig-list").replaceChildren(...rows.map((r) => {
      const tr = el("tr", "fig-row");
      tr.dataset.township = r.township;
      tr.dataset.day = r.day;
      const th = cell(tr, page.siteName(r.township), "f-township", "th");
      th.scope = "row";
      th.title = r.township;
      cell(tr, dayText(r.day), "f-day");
      for (const c of COLS) {
        const td = cell(tr, value(c, r[c], r.dispatched), "num c-" + c);
        td.dataset.v = String(r[c] ?? 0);
      }
      return tr;
    }));
    // Totals: sums, and the mean wait over every parcel dispatched.
    const sum = {};
    for (const c of COLS) sum[c] = rows.reduce((s, r) => s + (r[c] || 0), 0);
    const n = sum.dispatched;
    sum.avg_dispatch_h = n ? rows.reduce((s, r) => s + (r.avg_dispatch_h || 0) * (r.dispatched || 0), 0) / n : 0;
    const tr = el("tr", "fig-total");
    const th = cell(tr, t("total"), "", "th");
    th.scope = "row";
    th.colSpan = 2;
    for (const c of COLS) {
      const td = cell(tr, value(c, sum[c], n), "num c-" + c);
      td.dataset.v = String(Math.round(sum[c] * 100) / 100);
    }
    $("fig-total").replaceChildren(tr);
  }

  // The parcels dispatched each day of the period, every township shown
  // together: one bar a day, days without any included.
  function renderChart() {
    const box = $("chart"), svg = $("chart-svg");
    if (!figures || !sel.from) { svg.replaceChildren(); return; }
    const n = days(sel.from, sel.to);
    const list = [];
    const by = new Map();
    for (const r of figures) by.set(r.day, (by.get(r.day) || 0) + (r.dispatched || 0));
    for (let i = 0; i < n; i++) { const d = addDays(sel.from, i); list.push({ day: d, v: by.get(d) || 0 }); }
    const max = Math.max(1, ...list.map((x) => x.v));
    // Round the scale up to an even number of units: its middle line too
    // falls on a whole number of parcels.
    const mag = Math.pow(10, Math.floor(Math.log10(max)));
    const top = [2, 4, 6, 8, 10].map((k) => k * mag).find((v) => v >= max);
    const step = Math.max(6, Math.min(110, Math.floor(1000 / n)));
    const left = 48, right = 12, topPad = 22, h = 180, bottom = 34;
    const w = left + n * step + right;
    const s = (tag, attrs, parent) => {
      // The namespace of the <svg> in the page: SVG's, without its URL here.
      const e = document.createElementNS(svg.namespaceURI, tag);
      for (const k in attrs) e.setAttribute(k, attrs[k]);
      if (parent) parent.appendChild(e);
      return e;
    };
    svg.replaceChildren();
    for (const [k, v] of Object.entries({ viewBox: `0 0 ${w} ${topPad + h + bottom}`, width: String(w), height: String(topPad + h + bottom) })) svg.setAttribute(k, v);
    s("title", { id: "chart-t" }, svg).textContent = t("chart_title");
    const total = list.reduce((a, x) => a + x.v, 0);
    s("desc", { id: "chart-d" }, svg).textContent = t("chart_desc", { n: fmt.int.format(total), from: dayText(sel.from), to: dayText(sel.to),
      max: fmt.int.format(Math.max(...list.map((x) => x.v))) });
    const y = (v) => topPad + h - (h * v) / top;
    for (const g of [0, 0.5, 1]) {
      s("line", { class: g ? "c-grid" : "c-axis", x1: left, x2: w - right, y1: y(g * top), y2: y(g * top) }, svg);
      s("text", { x: left - 6, y: y(g * top) + 4, "text-anchor": "end" }, svg).textContent = fmt.int.format(g * top);
    }
    const every = Math.ceil(n / 14);
    list.forEach((x, i) => {
      const bx = left + i * step + step * 0.15, bw = step * 0.7;
      const bar = s("rect", { class: "c-bar", x: bx.toFixed(1), y: y(x.v).toFixed(1), width: bw.toFixed(1), height: (topPad + h - y(x.v)).toFixed(1) }, svg);
      bar.dataset.day = x.day;
      bar.dataset.v = String(x.v);
      s("title", {}, bar).textContent = dayText(x.day) + ": " + tn("n_parcels", x.v, { n: fmt.int.format(x.v) });
      if (x.v && n <= 31) s("text", { class: "c-val", x: (bx + bw / 2).toFixed(1), y: (y(x.v) - 4).toFixed(1), "text-anchor": "middle" }, svg).textContent = fmt.int.format(x.v);
      if (i % every === 0) s("text", { x: (bx + bw / 2).toFixed(1), y: topPad + h + 18, "text-anchor": "middle" }, svg).textContent = fmt.md.format(utc(x.day));
    });
    setData(box, "days", String(n));
    setData(box, "total", String(total));
  }

  function renderProduce() {
    const totals = new Map(); // village/product -> {township, village, product, lots, kg}
    for (const r of produce || []) {
      const k = r.village + "\u0000" + r.product;
      let x = totals.get(k);
      if (!x) { x = { township: r.township, village: r.village, product: r.product, lots: 0, kg: 0 }; totals.set(k, x); }
      x.lots += r.lots || 0;
      x.kg += r.kg || 0;
    }
    const rows = [...totals.values()].sort((a, b) => CountyLink.idCmp(a.township, b.township) || CountyLink.idCmp(a.village, b.village) ||
      (a.product < b.product ? -1 : a.product > b.product ? 1 : 0));
    setData($("produce"), "n", String(rows.length));
    $("produce-none").hidden = !produce || rows.length > 0;
    $("produce-table").hidden = rows.length === 0;
    $("produce-list").replaceChildren(...rows.map((r) => {
      const tr = el("tr", "produce-row");
      tr.dataset.village = r.village;
      tr.dataset.product = r.product;
      cell(tr, page.siteName(r.township), "p-township");
      const th = cell(tr, page.siteName(r.village, true), "p-village", "th");
      th.scope = "row";
      th.title = r.village;
      cell(tr, r.product || "—", "p-product");
      cell(tr, fmt.int.format(r.lots), "num p-lots");
      cell(tr, t("kg", { n: fmt.kg.format(r.kg) }), "num p-kg");
      return tr;
    }));
    const tr = el("tr", "produce-total");
    const th = cell(tr, t("total"), "", "th");
    th.scope = "row";
    th.colSpan = 3;
    cell(tr, fmt.int.format(rows.reduce((s, r) => s + r.lots, 0)), "num p-lots");
    cell(tr, t("kg", { n: fmt.kg.format(rows.reduce((s, r) => s + r.kg, 0)) }), "num p-kg");
    $("produce-total").replaceChildren(tr);
  }

  // ---- start --------------------------------------------------------------------

  async function start() {
    await page.init();
    await page.loadSites();
    const today = day(new Date());
    const from = query("from"), to = query("to");
    $("to").value = /^\d{4}-\d{2}-\d{2}$/.test(to) ? to : today;
    $("from").value = /^\d{4}-\d{2}-\d{2}$/.test(from) ? from : addDays($("to").value, 1 - DEFAULT_DAYS);
    sel.township = query("township");
    page.fillTownships($("fig-township"), sel.township, "all_townships");
    $("fig-form").addEventListener("submit", (e) => { e.preventDefault(); load(); });
    $("fig-township").addEventListener("change", load);
    load();
  }

  start();
})();
