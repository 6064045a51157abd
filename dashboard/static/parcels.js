// Parcel page: find a parcel (or a farm product lot) by its waybill, typed
// or scanned (a USB scanner types it and Enter), or given as ?waybill= in
// the URL: its state, its flags in words, where it is and its timeline,
// oldest first. Below, the day's exception parcels of a township, each
// linking to its search.
"use strict";
(() => {
  const TOWNSHIP_KEY = "countylink.township"; // shared with the dispatch page
  const EXC_LIMIT = 500;
  const EXC_REFRESH_MS = 30e3;
  const FLAGS = ["unannounced", "other_site", "scanned_twice", "wrong_bin", "wrong_route", "wrong_village", "overweight", "corrected"];
  // Event kinds by where they happen, for the timeline's colours.
  const GROUP = {
    announced: "", received: "township", sorted: "township", confirmed: "township", corrected: "township", unloaded: "township",
    loaded: "road", dispatched: "road", arrived: "village", picked_up: "village", damaged: "trouble", returned: "trouble",
    lot_weighed: "village", lot_received: "township", lot_packed: "township", lot_shipped: "road",
  };

  const { $, setText, setData, el, request, query, pref } = CountyLink;

  const page = CountyLink.page({
    titleKey: "parcels_title",
    formats: (loc, numberFormat) => ({
      when: new Intl.DateTimeFormat(loc, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }),
      short: new Intl.DateTimeFormat(loc, { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }),
      kg: numberFormat(loc, { maximumFractionDigits: 2 }),
    }),
    onLang: () => { renderTownships(); render(); renderExceptions(); },
  });
  const { fmt, t, tn, tValue } = page;

  let shown = null; // {wb, status: "busy"|"ok"|"notfound"|"error", view, plan, error}
  let exc = { tw: "", items: null, plan: null, status: "" };
  let searchSeq = 0;

  // ---- texts ------------------------------------------------------------

  const ms = (s) => { const v = s ? Date.parse(s) : NaN; return isFinite(v) && v > 0 ? v : NaN; };
  const when = (s) => { const v = ms(s); return isFinite(v) ? fmt.when.format(new Date(v)) : ""; };
  const kg = (w) => (typeof w === "number" && isFinite(w) ? t("kg", { n: fmt.kg.format(w) }) : "");
  const placeName = (id) => (id ? page.siteName(id, true) + " · " + id : "");

  function routeLabel(plan, id) {
    if (!id) return "";
    const r = plan && plan.routes.find((x) => x.id === id);
    return r && r.name ? id + " · " + r.name : id;
  }

  function time(parent, cls, s, format) {
    const e = el("time", cls, parent);
    const v = ms(s);
    if (isFinite(v)) e.dateTime = new Date(v).toISOString();
    e.textContent = isFinite(v) ? format.format(new Date(v)) : "—";
    return e;
  }

  // ---- the search ---------------------------------------------------------

  function status(kind, msg) {
    const s = $("search-status");
    setData(s, "result", kind);
    setText(s, msg);
  }

  async function search(raw, how) {
    const wb = String(raw || "").trim().toUpperCase();
    const input = $("waybill");
    if (!wb) {
      status("error", t("search_need_waybill"));
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    input.removeAttribute("aria-invalid");
    input.value = wb;
    if (how !== "history") {
      const u = new URL(location.href);
      u.searchParams.set("waybill", wb);
      if (u.href !== location.href) history[how === "replace" ? "replaceState" : "pushState"](null, "", u.pathname + u.search + u.hash);
    }
    const seq = ++searchSeq;
    shown = { wb, status: "busy" };
    render();
    const r = await request("api/v1/items/" + encodeURIComponent(wb));
    if (seq !== searchSeq) return; // a later search won
    if (r.ok && r.body) {
      const v = r.body;
      const tw = (v.item && v.item.township) || (v.announced && v.announced.site) || "";
      shown = { wb, status: "ok", view: v, plan: await page.sortPlan(tw) };
      if (seq !== searchSeq) return;
    } else if (r.status === 404) {
      shown = { wb, status: "notfound" };
    } else {
      shown = { wb, status: "error", error: r.status ? "HTTP " + r.status + (r.error ? " · " + r.error : "") : t("hub_unreachable") };
    }
    render();
    // Ready for the next scan: the scanner's text replaces the selection.
    if (document.activeElement === input || document.activeElement === $("search-go") || how === "click") input.select();
  }

  // ---- rendering the item ---------------------------------------------------

  function render() {
    const result = $("result");
    if (!shown) { result.hidden = true; status("", ""); return; }
    result.hidden = shown.status === "busy";
    setData(result, "status", shown.status);
    setData(result, "waybill", shown.wb);
    $("notfound").hidden = shown.status !== "notfound";
    $("item").hidden = shown.status !== "ok";
    $("timeline-panel").hidden = shown.status !== "ok";
    switch (shown.status) {
      case "busy": status("busy", t("search_busy", { waybill: shown.wb })); return;
      case "notfound":
        status("notfound", t("search_notfound", { waybill: shown.wb }));
        setText($("notfound"), t("search_notfound_long", { waybill: shown.wb }));
        return;
      case "error": status("error", t("search_failed", { error: shown.error })); return;
    }
    status("ok", "");
    renderItem(shown.view, shown.plan);
    renderTimeline(shown.view, shown.plan);
  }

  function renderItem(v, plan) {
    const it = v.item || {};
    const a = v.announced || null;
    setText($("item-id"), v.waybill);
    const badge = $("item-state");
    setData(badge, "state", v.state || "unknown");
    setText(badge, v.state ? tValue("istate_", v.state) : t("istate_unknown"));
    setText($("item-kind"), it.lot ? t("item_lot") : t("item_parcel"));

    const flags = Array.isArray(v.flags) ? v.flags : [];
    $("item-flags").replaceChildren(...flags.map((f) => {
      const li = el("li", "flag");
      li.dataset.flag = f;
      const chip = el("span", "chip", li);
      chip.dataset.flag = f;
      chip.textContent = tValue("flag_", f);
      el("span", "flag-why", li).textContent = FLAGS.includes(f) ? t("flagwhy_" + f) : "";
      return li;
    }));

    const facts = [];
    const fact = (label, value, cls) => { if (value) facts.push([label, value, cls]); };
    fact(t("fact_township"), placeName(it.township || (a && a.site)), "f-township");
    fact(t("fact_route"), routeLabel(plan, it.route), "f-route");
    fact(t("fact_bin"), it.bin, "f-bin");
    fact(t("fact_run"), it.run, "f-run");
    fact(it.lot ? t("fact_origin") : t("fact_village"), placeName(it.village || (a && a.village)), "f-village");
    fact(t("fact_last_site"), it.site && it.site !== it.township ? placeName(it.site) : "", "f-site");
    fact(t("fact_carrier"), it.carrier || (a && a.carrier) ? tValue("carrier_", it.carrier || a.carrier) : "", "f-carrier");
    fact(t("fact_weight"), kg(it.weight_kg ?? (a && a.weight_kg)), "f-weight");
    fact(t("fact_producer"), it.producer, "f-producer");
    fact(t("fact_product"), [it.product, it.grade].filter(Boolean).join(" · "), "f-product");
    fact(t("fact_announced"), a ? when(a.announced) : "", "f-announced");
    fact(t("fact_address"), a && a.address, "f-address");
    fact(t("fact_sort_code"), a && a.sort_code, "f-sortcode");
    fact(t("fact_arrived"), when(it.arrived), "f-arrived");
    fact(t("fact_dispatched"), when(it.dispatched), "f-dispatched");
    fact(t("fact_delivered"), when(it.delivered), "f-delivered");
    fact(t("fact_last"), when(it.last), "f-last");
    $("item-facts").replaceChildren(...facts.map(([label, value, cls]) => {
      const div = el("div", cls);
      el("dt", "", div).textContent = label;
      el("dd", "", div).textContent = value;
      return div;
    }));
  }

  // The timeline: the manifest's announcement (not an event the hub
  // stores, so it comes first, from the manifest), then every event.
  function renderTimeline(v, plan) {
    const entries = [];
    if (v.announced && isFinite(ms(v.announced.announced))) {
      entries.push({ kind: "announced", ts: v.announced.announced, site: v.announced.site, village: v.announced.village,
        weight_kg: v.announced.weight_kg, synthetic: true });
    }
    for (const e of Array.isArray(v.events) ? v.events : []) entries.push(e);
    const list = entries.map((e) => timelineEntry(e, plan));
    $("timeline").replaceChildren(...list);
    $("timeline").hidden = list.length === 0;
    $("timeline-none").hidden = list.length > 0;
    setData($("timeline-panel"), "n", String(list.length));
    setText($("timeline-count"), tn("n_entries", list.length, { n: fmt.int.format(list.length) }));
  }

  function timelineEntry(e, plan) {
    const li = el("li", "ev");
    li.dataset.kind = e.kind;
    const trouble = e.kind === "sorted" && e.exception;
    li.dataset.group = trouble ? "trouble" : GROUP[e.kind] || "";
    const head = el("div", "ev-head", li);
    time(head, "ev-at", e.ts, fmt.when);
    const kind = el("span", "ev-kind", head);
    kind.textContent = trouble ? t("pev_sorted_exception", { why: tValue("excr_", e.exception) }) : tValue("pev_", e.kind);
    if (e.site) el("span", "ev-site", head).textContent = page.siteName(e.site, true);

    const detail = el("div", "ev-detail", li);
    const part = (label, value) => {
      if (!value) return;
      const s = el("span", "", detail);
      s.append(label + " ");
      el("b", "", s).textContent = value;
    };
    if (!e.synthetic) {
      part(t("tl_station"), e.station === "handheld" ? t("station_handheld") : e.station === "dispatch" ? t("station_dispatch") : e.station);
      part(t("tl_by"), e.by);
    } else {
      part(t("tl_village"), e.village ? page.siteName(e.village, true) : "");
    }
    part(t("tl_bin"), e.bin);
    part(t("tl_route"), routeLabel(plan, e.route));
    part(t("tl_run"), e.run);
    part(t("tl_weight"), kg(e.weight_kg) || (e.weigh_error ? t("weigh_error", { why: e.weigh_error }) : ""));
    part(t("tl_rule"), e.rule && e.rule !== "none" ? tValue("rule_", e.rule) : "");
    part(t("tl_producer"), e.producer);
    part(t("tl_product"), [e.product, e.grade].filter(Boolean).join(" · "));
    if (!detail.childElementCount) detail.remove();
    if (e.note) el("p", "ev-note", li).textContent = t("tl_note", { note: e.note });
    if (e.clock_fault) el("p", "ev-note muted", li).textContent = t("tl_clock_fault", { why: e.clock_fault });
    return li;
  }

  // ---- the day's exceptions of a township -----------------------------------

  function renderTownships() {
    const tw = page.fillTownships($("exc-township"), exc.tw);
    if (!exc.tw && tw) exc.tw = tw;
  }

  const loadExceptions = page.coalesced(async () => {
    const tw = exc.tw;
    if (!tw) return;
    const base = "api/v1/items?township=" + encodeURIComponent(tw) + "&limit=" + EXC_LIMIT;
    const [a, b, plan] = await Promise.all([
      request(base + "&state=exception,damaged,returned"),
      request(base + "&flag=wrong_village"),
      page.sortPlan(tw),
    ]);
    if (tw !== exc.tw) return;
    if (!a.ok || !b.ok) {
      const bad = !a.ok ? a : b;
      exc.status = bad.status ? "HTTP " + bad.status + (bad.error ? " · " + bad.error : "") : t("hub_unreachable");
      renderExceptions();
      return;
    }
    // Today, in this browser's time zone: parcels whose latest event is today.
    const today = new Date();
    today.setHours(0, 0, 0, 0);
    const byID = new Map();
    for (const it of [...a.body, ...b.body]) if (it && ms(it.last) >= today.getTime()) byID.set(it.id, it);
    exc.items = [...byID.values()].sort((x, y) => (ms(y.last) || 0) - (ms(x.last) || 0));
    exc.plan = plan;
    exc.status = "";
    renderExceptions();
  });

  function renderExceptions() {
    const s = $("exc-status");
    setData(s, "result", exc.status ? "error" : "");
    setText(s, exc.status ? t("exc_failed", { error: exc.status }) : "");
    const items = exc.items;
    const sec = $("exceptions");
    setData(sec, "township", exc.tw);
    setData(sec, "n", items ? String(items.length) : "");
    setText($("exc-count"), items ? fmt.int.format(items.length) : "–");
    $("exc-none").hidden = !items || items.length > 0;
    $("exc-table").hidden = !items || items.length === 0;
    if (!items) return;
    $("exc-list").replaceChildren(...items.map((it) => {
      const tr = el("tr", "exc-row");
      tr.dataset.id = it.id;
      tr.dataset.state = it.state;
      const a = el("a", "wb", el("td", "", tr));
      a.href = "parcels.html?waybill=" + encodeURIComponent(it.id);
      a.textContent = it.id;
      const st = el("span", "badge", el("td", "", tr));
      st.dataset.state = it.state;
      st.textContent = tValue("istate_", it.state);
      const chips = el("span", "chips", el("td", "", tr));
      for (const f of it.flags || []) {
        const c = el("span", "chip", chips);
        c.dataset.flag = f;
        c.textContent = tValue("flag_", f);
        if (FLAGS.includes(f)) c.title = t("flagwhy_" + f);
      }
      el("td", "", tr).textContent = routeLabel(exc.plan, it.route) || "—";
      el("td", "", tr).textContent = it.village ? page.siteName(it.village, true) : "—";
      time(el("td", "", tr), "", it.last, fmt.short);
      return tr;
    }));
  }

  // ---- start ------------------------------------------------------------------

  async function start() {
    await page.init();
    const input = $("waybill");
    $("search").addEventListener("submit", (e) => { e.preventDefault(); search(input.value, "push"); });
    addEventListener("popstate", () => {
      const wb = query("waybill");
      if (wb) search(wb, "history");
      else { shown = null; input.value = ""; render(); }
    });
    // A waybill of the exception list: searched here, the list kept.
    $("exc-list").addEventListener("click", (e) => {
      const a = e.target.closest("a.wb");
      if (!a || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      scrollTo(0, 0);
      input.focus();
      search(a.textContent, "click");
    });
    $("exc-form").addEventListener("submit", (e) => { e.preventDefault(); loadExceptions(); });
    $("exc-township").addEventListener("change", () => {
      exc = { tw: $("exc-township").value, items: null, plan: null, status: "" };
      pref(TOWNSHIP_KEY, exc.tw);
      renderExceptions();
      loadExceptions();
    });

    await page.loadSites();
    exc.tw = query("township") || pref(TOWNSHIP_KEY);
    renderTownships();
    exc.tw = $("exc-township").value;
    renderExceptions();
    loadExceptions();
    setInterval(loadExceptions, EXC_REFRESH_MS);

    const wb = query("waybill");
    if (wb) search(wb, "replace");
    else input.focus();
  }

  start();
})();
