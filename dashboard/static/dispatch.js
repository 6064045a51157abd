// Dispatch page: a township's board of village routes, each with the
// parcels waiting in its bins and its runs open or on the road, and what
// a coordinator does with them: open a run for a route, load it by bin or
// by scanning waybills (a USB scanner types each and Enter), send it off,
// close it when it is back. Refreshed every 10 s and after every action;
// one DOM node per route and per run, updated in place, so a form being
// filled in is never rebuilt under the coordinator's fingers.
"use strict";
(() => {
  const REFRESH_MS = 10e3;
  const TOWNSHIP_KEY = "countylink.township"; // shared with the parcel page
  const MAX_WAYBILLS = 500; // the hub's limit of one load
  const LIST_MAX = 50; // parcels listed in a result, the rest counted

  const { $, setText, setData, el, request, query, pref } = CountyLink;

  const page = CountyLink.page({
    titleKey: "dispatch_title",
    formats: (loc, numberFormat) => ({
      hm: new Intl.DateTimeFormat(loc, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }),
      hms: new Intl.DateTimeFormat(loc, { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }),
      short: new Intl.DateTimeFormat(loc, { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }),
      kg: numberFormat(loc, { maximumFractionDigits: 1 }),
    }),
    onLang: () => {
      page.fillTownships($("township"), tw);
      render();
      for (const c of cards.values()) renderResult(c);
    },
  });
  const { fmt, t, tn, tValue, now, dur } = page;

  let tw = ""; // the township shown
  let board = null; // its board, or null before the first answer
  let plan = null; // its sort plan, null when it has none
  let updated = 0; // when the board last came
  let failure = ""; // why the last refresh failed, "" when it did not
  const cards = new Map(); // route id -> card
  let seq = 0;
  let focusRun = ""; // a run just opened: its load button gets the focus

  // ---- texts --------------------------------------------------------------

  const ms = (s) => { const v = s ? Date.parse(s) : NaN; return isFinite(v) && v > 0 ? v : NaN; };
  const hubError = (r) => (r.status ? "HTTP " + r.status + (r.error ? " · " + r.error : "") : t("hub_unreachable"));
  const kgText = (v) => t("kg", { n: fmt.kg.format(v || 0) });

  function planRoute(id) { return plan ? plan.routes.find((r) => r.id === id) || null : null; }
  function routeLabel(id) {
    if (!id) return t("route_none");
    const r = planRoute(id);
    return r && r.name ? id + " · " + r.name : id;
  }

  // binsOf lists a route's bins from the plan's stations: [{bin, stations}].
  function binsOf(route) {
    const out = new Map();
    if (plan && plan.stations) {
      for (const st of Object.keys(plan.stations).sort(CountyLink.idCmp)) {
        const bin = plan.stations[st][route];
        if (!bin) continue;
        if (!out.has(bin)) out.set(bin, []);
        out.get(bin).push(st);
      }
    }
    return [...out].map(([bin, stations]) => ({ bin, stations }));
  }

  // The hub words its load warnings and the details of its refusals in
  // English sentences without a code: the known ones are said here in the
  // page's language, any other as the hub wrote it.
  const WARNINGS = [
    [/^bin (\S+) has no parcel waiting$/, "w_bin_empty", ["bin"]],
    [/^(\S+) is on this run already$/, "w_already", ["waybill"]],
    [/^(\S+) is for route (\S+): loaded anyway, flagged$/, "w_other_route", ["waybill", "route"]],
    [/^the run is full \((\d+) parcels, ([\d.]+) kg\): parcels stay in bin (\S+)$/, "w_full", ["parcels", "kg", "bin"]],
    [/^(\S+) loaded past the run's capacity \((\d+) parcels, ([\d.]+) kg\)$/, "w_over", ["waybill", "parcels", "kg"]],
  ];
  const DETAILS = [
    [/^never scanned at a township$/, "rd_never", []],
    [/^(\S+) is a farm product lot$/, "rd_lot", ["waybill"]],
    [/^at (.+), not at (\S+)$/, "rd_elsewhere", ["at", "here"]],
    [/^loaded on run (\S+)$/, "rd_other_run", ["run"]],
    [/^is (\S+), not waiting in a bin$/, "rd_state", ["state"]],
    [/^sorted to route (\S+), the run is for (\S+)$/, "rd_wrong_route", ["route", "run_route"]],
    [/^the run holds (\d+) parcels, ([\d.]+) kg of (\d+), ([\d.]+) kg$/, "rd_capacity", ["parcels", "kg", "cap_parcels", "cap_kg"]],
  ];
  function say(table, s) {
    for (const [re, key, names] of table) {
      const m = re.exec(s);
      if (!m) continue;
      const vars = {};
      names.forEach((n, i) => {
        let v = m[i + 1];
        if (n === "state") v = tValue("istate_", v);
        else if (n === "at" || n === "here") v = v === "no township" ? t("rd_no_township") : page.siteName(v);
        else if (/^(kg|cap_kg)$/.test(n)) v = fmt.kg.format(Number(v));
        vars[n] = v;
      });
      return t(key, vars);
    }
    return s;
  }

  // ---- the board ------------------------------------------------------------

  const refresh = page.coalesced(async () => {
    const want = tw;
    if (!want) return;
    const [r, p] = await Promise.all([request("api/v1/sites/" + encodeURIComponent(want) + "/board"), page.sortPlan(want)]);
    if (want !== tw) return;
    plan = p;
    if (r.ok && r.body && Array.isArray(r.body.routes)) {
      board = r.body;
      updated = Date.now();
      failure = "";
    } else {
      failure = hubError(r);
    }
    render();
  });

  function render() {
    setData(document.body, "township", tw);
    const st = $("board-status");
    setData(st, "result", failure ? "error" : "");
    setText(st, failure ? t("board_failed", { error: failure }) : "");
    setText($("updated"), updated ? t("updated_at", { time: fmt.hms.format(new Date(updated)) }) : "");
    $("no-plan").hidden = !board || !!plan;
    const ex = $("exc-link");
    ex.href = "parcels.html?township=" + encodeURIComponent(tw) + "#exceptions";
    if (!board) {
      for (const id of ["sum-waiting", "sum-open", "sum-road", "sum-exc"]) setText($(id), "–");
      return;
    }
    const byRoute = new Map(board.routes.filter((b) => b.site === tw || !b.site).map((b) => [b.route, b]));
    const ids = [];
    for (const r of plan ? plan.routes : []) ids.push(r.id);
    for (const id of byRoute.keys()) if (!ids.includes(id)) ids.push(id);

    let waiting = 0, open = 0, road = 0;
    const list = $("routes");
    for (const [id, c] of cards) if (!ids.includes(id)) { c.li.remove(); cards.delete(id); }
    ids.forEach((id, i) => {
      let c = cards.get(id);
      if (!c) { c = makeCard(id); cards.set(id, c); }
      const b = byRoute.get(id) || { route: id, waiting: 0, waiting_kg: 0, runs: [] };
      renderCard(c, b);
      waiting += b.waiting || 0;
      for (const run of b.runs || []) { if (run.state === "open") open++; else if (run.state === "departed") road++; }
      if (list.children[i] !== c.li) list.insertBefore(c.li, list.children[i] || null);
    });
    $("routes-none").hidden = ids.length > 0;
    setText($("sum-waiting"), tn("n_parcels", waiting, { n: fmt.int.format(waiting) }));
    setText($("sum-open"), fmt.int.format(open));
    setText($("sum-road"), fmt.int.format(road));
    setText($("sum-exc"), fmt.int.format(board.exceptions || 0));
    setData($("controls"), "waiting", String(waiting));
    if (focusRun) {
      const btn = document.querySelector('li.run[data-run="' + CSS.escape(focusRun) + '"] button.load-btn');
      if (btn) { btn.focus(); focusRun = ""; }
    }
  }

  // ---- a route's card -------------------------------------------------------

  function makeCard(id) {
    const c = { id, runs: new Map(), result: null };
    const li = el("li", "route");
    li.dataset.route = id;
    c.li = li;
    const head = el("div", "route-head", li);
    c.title = el("h3", "", head);
    c.nvillages = el("span", "muted", head);
    c.villages = el("p", "route-villages", li);
    const facts = el("dl", "route-facts", li);
    const fact = (cls) => { const d = el("div", cls, facts); return { dt: el("dt", "", d), dd: el("dd", "", d) }; };
    c.fWaiting = fact("f-waiting");
    c.fKg = fact("f-kg");
    c.fOldest = fact("f-oldest");
    const actions = el("div", "route-actions", li);
    c.openBtn = el("button", "open-run", actions);
    c.openBtn.type = "button";
    c.openBtn.setAttribute("aria-expanded", "false");
    c.openForm = makeOpenForm(c, li);
    c.openBtn.addEventListener("click", () => toggle(c.openForm, c.openBtn));
    c.runsList = el("ul", "runs", li);
    c.res = el("div", "result", li);
    c.res.setAttribute("role", "status");
    c.res.tabIndex = -1;
    return c;
  }

  function renderCard(c, b) {
    const pr = planRoute(c.id);
    setData(c.li, "waiting", String(b.waiting || 0));
    setText(c.title, routeLabel(c.id));
    const vs = pr ? pr.villages || [] : [];
    setText(c.nvillages, vs.length ? tn("n_villages", vs.length, { n: fmt.int.format(vs.length) }) : "");
    setText(c.villages, vs.map((v) => page.siteName(v)).join(" → "));
    c.villages.hidden = vs.length === 0;
    setText(c.fWaiting.dt, t("f_waiting"));
    setText(c.fWaiting.dd, tn("n_parcels", b.waiting || 0, { n: fmt.int.format(b.waiting || 0) }));
    setText(c.fKg.dt, t("f_waiting_kg"));
    setText(c.fKg.dd, kgText(b.waiting_kg));
    const oldest = ms(b.oldest);
    setText(c.fOldest.dt, t("f_oldest"));
    setText(c.fOldest.dd, isFinite(oldest) ? t("oldest_at", { time: fmt.short.format(new Date(oldest)), d: dur(now() - oldest) }) : "—");
    setText(c.openBtn, t("open_run"));
    renderOpenForm(c);

    const runs = b.runs || [];
    for (const [id, r] of c.runs) if (!runs.some((x) => x.id === id)) { r.li.remove(); c.runs.delete(id); }
    runs.forEach((run, i) => {
      let r = c.runs.get(run.id);
      if (!r) { r = makeRun(c, run); c.runs.set(run.id, r); }
      r.run = run;
      renderRun(c, r);
      if (c.runsList.children[i] !== r.li) c.runsList.insertBefore(r.li, c.runsList.children[i] || null);
    });
    c.runsList.hidden = runs.length === 0;
  }

  // toggle shows or hides a sub-form, its opener saying so.
  function toggle(form, opener, show) {
    const open = show !== undefined ? show : form.hidden;
    form.hidden = !open;
    opener.setAttribute("aria-expanded", String(open));
    if (open) {
      const f = [...form.querySelectorAll("input:not([type=radio]):not([type=checkbox]), textarea, select, button")].find((e) => e.offsetParent !== null);
      if (f) f.focus();
    }
  }

  // field makes a labelled input in a form.
  let fieldSeq = 0;
  function field(parent, cls, tag, name, type) {
    const div = el("div", "field " + cls, parent);
    const label = el("label", "", div);
    const input = el(tag, "", div);
    input.name = name;
    if (type) input.type = type;
    input.id = "f-" + name + "-" + ++fieldSeq;
    label.htmlFor = input.id;
    return { div, label, input };
  }

  function escapeCloses(form, opener) {
    form.addEventListener("keydown", (e) => {
      if (e.key === "Escape") { e.preventDefault(); toggle(form, opener, false); opener.focus(); }
    });
  }

  // ---- opening a run ----------------------------------------------------------

  function makeOpenForm(c, parent) {
    const f = el("form", "subform open-form", parent);
    f.noValidate = true;
    f.hidden = true;
    c.oTitle = el("h4", "", f);
    const row = el("div", "row", f);
    c.oVehicle = field(row, "f-vehicle", "input", "vehicle", "text");
    c.oVehicle.input.maxLength = 64;
    c.oVehicle.input.required = true;
    c.oVehicle.input.autocomplete = "off";
    c.oDriver = field(row, "f-driver", "input", "driver", "text");
    c.oDriver.input.maxLength = 64;
    c.oDriver.input.autocomplete = "off";
    c.oKg = field(row, "f-capkg", "input", "capacity_kg", "number");
    c.oParcels = field(row, "f-capparcels", "input", "capacity_parcels", "number");
    for (const x of [c.oKg, c.oParcels]) { x.input.min = "0"; x.input.step = "1"; x.input.className = "num"; x.input.inputMode = "numeric"; }
    c.oSubmit = el("button", "primary", row);
    c.oSubmit.type = "submit";
    c.oCancel = el("button", "", row);
    c.oCancel.type = "button";
    c.oCancel.addEventListener("click", () => { toggle(f, c.openBtn, false); c.openBtn.focus(); });
    escapeCloses(f, c.openBtn);
    f.addEventListener("submit", (e) => { e.preventDefault(); openRun(c); });
    return f;
  }

  function renderOpenForm(c) {
    setText(c.oTitle, t("open_title", { route: routeLabel(c.id) }));
    setText(c.oVehicle.label, t("vehicle_label"));
    c.oVehicle.input.placeholder = t("vehicle_hint");
    setText(c.oDriver.label, t("driver_label"));
    c.oDriver.input.placeholder = t("driver_hint");
    setText(c.oKg.label, t("cap_kg_label"));
    setText(c.oParcels.label, t("cap_parcels_label"));
    c.oKg.input.placeholder = c.oParcels.input.placeholder = t("cap_none_hint");
    if (!c.busy) setText(c.oSubmit, t("open_submit"));
    setText(c.oCancel, t("cancel"));
  }

  function count(input, max) {
    const s = input.value.trim();
    if (s === "") return 0;
    const n = Number(s);
    return Number.isInteger(n) && n >= 0 && n <= max ? n : NaN;
  }

  async function openRun(c) {
    if (c.busy) return;
    const vehicle = c.oVehicle.input.value.trim(), driver = c.oDriver.input.value.trim();
    const capKg = count(c.oKg.input, 100000), capParcels = count(c.oParcels.input, 100000);
    for (const x of [c.oVehicle, c.oKg, c.oParcels]) x.input.removeAttribute("aria-invalid");
    const bad = (x, msg) => { x.input.setAttribute("aria-invalid", "true"); x.input.focus(); result(c, "open", "error", [line(msg)]); };
    if (!vehicle) return bad(c.oVehicle, t("need_vehicle"));
    if (!isFinite(capKg)) return bad(c.oKg, t("bad_capacity"));
    if (!isFinite(capParcels)) return bad(c.oParcels, t("bad_capacity"));
    const r = await act(c, c.oSubmit, "api/v1/sites/" + encodeURIComponent(tw) + "/runs",
      { route: c.id, vehicle, driver, capacity_kg: capKg, capacity_parcels: capParcels });
    if (!r) return;
    if (r.ok && r.body) {
      result(c, "open", "ok", [line(t("opened", { run: r.body.id, vehicle: r.body.vehicle || vehicle }), "r-ok")]);
      for (const x of [c.oVehicle, c.oDriver, c.oKg, c.oParcels]) x.input.value = "";
      toggle(c.openForm, c.openBtn, false);
      focusRun = r.body.id;
    } else {
      failed(c, "open", r);
    }
    refresh();
  }

  // ---- a run ---------------------------------------------------------------------

  function makeRun(c, run) {
    const r = { id: run.id, run };
    const li = el("li", "run");
    li.dataset.run = run.id;
    r.li = li;
    const head = el("div", "run-head", li);
    r.state = el("span", "badge", head);
    r.vehicle = el("strong", "run-vehicle", head);
    r.driver = el("span", "run-driver", head);
    r.idText = el("span", "run-id", head);
    r.times = el("span", "run-times muted", head);
    const bars = el("div", "loadbar", li);
    const bar = (cls) => {
      const label = el("span", "label", bars);
      const track = el("span", "bar-track " + cls, bars);
      const fill = el("span", "bar-fill", track);
      const text = el("span", "bar-text", bars);
      return { label, track, fill, text };
    };
    r.bParcels = bar("b-parcels");
    r.bKg = bar("b-kg");
    r.stopsHead = el("p", "stops-head muted", li);
    r.stopsHead.classList.add("route-villages");
    r.stops = el("ul", "stops", li);
    const actions = el("div", "run-actions", li);
    r.loadBtn = el("button", "load-btn primary", actions);
    r.loadBtn.type = "button";
    r.loadBtn.setAttribute("aria-expanded", "false");
    r.departBtn = el("button", "depart-btn go", actions);
    r.departBtn.type = "button";
    r.closeBtn = el("button", "close-btn", actions);
    r.closeBtn.type = "button";
    r.loadForm = makeLoadForm(c, r, li);
    r.loadBtn.addEventListener("click", () => toggle(r.loadForm, r.loadBtn));
    r.confirm = el("div", "subform confirm", li);
    r.confirm.hidden = true;
    r.confirm.setAttribute("role", "group");
    r.cText = el("p", "", r.confirm);
    const row = el("div", "row", r.confirm);
    r.cYes = el("button", "confirm-yes go", row);
    r.cYes.type = "button";
    r.cNo = el("button", "confirm-no", row);
    r.cNo.type = "button";
    r.departBtn.addEventListener("click", () => ask(r, "depart"));
    r.closeBtn.addEventListener("click", () => ask(r, "close"));
    r.cNo.addEventListener("click", () => { const b = r.asking === "close" ? r.closeBtn : r.departBtn; r.asking = ""; renderRun(c, r); b.focus(); });
    r.cYes.addEventListener("click", () => (r.asking === "close" ? closeRun(c, r) : departRun(c, r)));
    r.confirm.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.preventDefault(); r.cNo.click(); } });
    return r;
  }

  function fillBar(b, value, cap, fmtValue, label) {
    setText(b.label, label);
    const level = !cap ? "none" : value > cap ? "over" : value >= 0.9 * cap ? "high" : "ok";
    setData(b.fill, "level", level);
    // Through the CSSOM, which the page's style-src 'self' allows.
    b.fill.style.width = cap ? Math.min(100, (100 * value) / cap).toFixed(1) + "%" : "";
    setText(b.text, cap ? fmtValue(value) + " / " + fmtValue(cap) : fmtValue(value) + " · " + t("cap_none"));
    b.track.setAttribute("role", "img");
    b.track.setAttribute("aria-label", b.text.textContent);
  }

  function renderRun(c, r) {
    const run = r.run;
    setData(r.li, "state", run.state);
    setData(r.li, "parcels", String(run.parcels || 0));
    setData(r.state, "state", run.state);
    setText(r.state, tValue("rstate_", run.state));
    setText(r.vehicle, run.vehicle || t("no_vehicle"));
    setText(r.driver, run.driver ? t("driver_is", { driver: run.driver }) : "");
    setText(r.idText, run.id);
    const opened = ms(run.opened), departed = ms(run.departed);
    setText(r.times, isFinite(departed) ? t("departed_at", { time: fmt.hm.format(new Date(departed)) })
      : isFinite(opened) ? t("opened_at", { time: fmt.hm.format(new Date(opened)), by: run.by || "" }) : "");
    fillBar(r.bParcels, run.parcels || 0, run.capacity_parcels || 0, (v) => tn("n_parcels", v, { n: fmt.int.format(v) }), t("bar_parcels"));
    fillBar(r.bKg, run.weight_kg || 0, run.capacity_kg || 0, kgText, t("bar_kg"));

    let stops = Array.isArray(run.stops) ? run.stops : [];
    if (!stops.length) { const pr = planRoute(run.route); stops = pr ? (pr.villages || []).map((v) => ({ village: v, parcels: 0, arrived: 0 })) : []; }
    const visited = stops.filter((s) => s.visited).length;
    setData(r.li, "visited", String(visited));
    setText(r.stopsHead, stops.length ? t("stops_visited", { n: fmt.int.format(visited), of: fmt.int.format(stops.length),
      d: fmt.int.format(run.delivered || 0), p: fmt.int.format(run.parcels || 0) }) : "");
    r.stopsHead.hidden = stops.length === 0;
    r.stops.replaceChildren(...stops.map((s) => {
      const li = el("li", "");
      li.dataset.village = s.village;
      li.dataset.visited = String(!!s.visited);
      li.textContent = page.siteName(s.village) + (s.parcels ? " " + fmt.int.format(s.arrived || 0) + "/" + fmt.int.format(s.parcels) : "");
      li.title = (s.visited ? t("stop_visited") : t("stop_not_visited")) + " · " + s.village;
      return li;
    }));

    const open = run.state === "open", road = run.state === "departed";
    r.loadBtn.hidden = !open;
    r.departBtn.hidden = !open || !!r.asking;
    r.closeBtn.hidden = !road || !!r.asking;
    if (!open) { r.loadForm.hidden = true; r.loadBtn.setAttribute("aria-expanded", "false"); }
    if ((r.asking === "depart" && !open) || (r.asking === "close" && !road)) r.asking = "";
    setText(r.loadBtn, t("load"));
    if (!r.busy) { setText(r.departBtn, t("depart")); setText(r.closeBtn, t("close")); }
    r.confirm.hidden = !r.asking;
    if (r.asking === "depart") {
      setText(r.cText, tn("depart_confirm", run.parcels || 0, { vehicle: run.vehicle || run.id, n: fmt.int.format(run.parcels || 0) }));
      setText(r.cYes, t("depart_yes"));
    } else if (r.asking === "close") {
      setText(r.cText, t("close_confirm", { vehicle: run.vehicle || run.id, d: fmt.int.format(run.delivered || 0), n: fmt.int.format(run.parcels || 0) }));
      setText(r.cYes, t("close_yes"));
    }
    setText(r.cNo, t("cancel"));
    renderLoadForm(c, r);
  }

  function ask(r, what) {
    r.asking = what;
    const c = [...cards.values()].find((x) => x.runs.get(r.id) === r);
    if (c) renderRun(c, r);
    r.cYes.focus();
  }

  // ---- loading ------------------------------------------------------------------

  function makeLoadForm(c, r, parent) {
    const f = el("form", "subform load-form", parent);
    f.noValidate = true;
    f.hidden = true;
    r.lTitle = el("h4", "", f);
    const fs = el("fieldset", "", f);
    r.lLegend = el("legend", "", fs);
    const radio = (value) => {
      const label = el("label", "check", fs);
      const input = el("input", "", label);
      input.type = "radio";
      input.name = "mode-" + r.id;
      input.value = value;
      input.dataset.mode = value;
      const text = el("span", "", label);
      return { input, text };
    };
    r.mBin = radio("bin");
    r.mScan = radio("scan");
    r.lBin = field(f, "f-bin", "select", "bin");
    r.lScan = field(f, "f-waybills wide", "textarea", "waybills");
    r.lScan.input.rows = 6;
    r.lScan.input.spellcheck = false;
    r.lScan.input.autocomplete = "off";
    r.lCount = el("span", "muted scan-count", r.lScan.div);
    const row = el("div", "row", f);
    const over = el("label", "check", row);
    r.lOver = el("input", "", over);
    r.lOver.type = "checkbox";
    r.lOver.name = "over";
    r.lOverText = el("span", "", over);
    r.lSubmit = el("button", "primary", row);
    r.lSubmit.type = "submit";
    r.lCancel = el("button", "", row);
    r.lCancel.type = "button";
    r.lCancel.addEventListener("click", () => { toggle(f, r.loadBtn, false); r.loadBtn.focus(); });
    escapeCloses(f, r.loadBtn);
    const mode = () => {
      const scan = r.mScan.input.checked;
      r.lBin.div.hidden = scan;
      r.lScan.div.hidden = !scan;
    };
    r.mode = mode;
    for (const m of [r.mBin, r.mScan]) m.input.addEventListener("change", () => { mode(); (m === r.mScan ? r.lScan.input : r.lBin.input).focus(); });
    r.lScan.input.addEventListener("input", () => renderScanCount(r));
    // Ctrl+Enter loads what was scanned (Enter is the scanner's end of a waybill).
    r.lScan.input.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); f.requestSubmit(); } });
    f.addEventListener("submit", (e) => { e.preventDefault(); load(c, r); });
    const bins = binsOf(c.id);
    (bins.length ? r.mBin : r.mScan).input.checked = true;
    mode();
    return f;
  }

  const scanned = (r) => [...new Set(r.lScan.input.value.split(/[\s,;]+/).map((s) => s.trim().toUpperCase()).filter(Boolean))];

  function renderScanCount(r) {
    setText(r.lCount, t("scan_count", { n: fmt.int.format(scanned(r).length), max: fmt.int.format(MAX_WAYBILLS) }));
  }

  function renderLoadForm(c, r) {
    setText(r.lTitle, t("load_title", { vehicle: r.run.vehicle || r.run.id }));
    setText(r.lLegend, t("load_mode"));
    const bins = binsOf(c.id);
    setText(r.mBin.text, t("load_by_bin"));
    setText(r.mScan.text, t("load_by_scan"));
    r.mBin.input.disabled = bins.length === 0;
    if (!bins.length && r.mBin.input.checked) { r.mScan.input.checked = true; r.mode(); }
    setText(r.lBin.label, t("bin_label"));
    const keep = r.lBin.input.value;
    const opts = bins.map((b) => {
      const o = el("option");
      o.value = b.bin;
      o.textContent = t("bin_option", { bin: b.bin, stations: b.stations.join(", ") });
      return o;
    });
    if (opts.map((o) => o.value + o.textContent).join() !== [...r.lBin.input.options].map((o) => o.value + o.textContent).join()) {
      r.lBin.input.replaceChildren(...opts);
      if (bins.some((b) => b.bin === keep)) r.lBin.input.value = keep;
    }
    setText(r.lScan.label, t("waybills_label"));
    r.lScan.input.placeholder = t("waybills_hint");
    renderScanCount(r);
    setText(r.lOverText, t("load_over"));
    if (!r.busy) setText(r.lSubmit, t("load_submit"));
    setText(r.lCancel, t("cancel"));
  }

  async function load(c, r) {
    if (r.busy) return;
    const body = { over: r.lOver.checked };
    if (r.mScan.input.checked) {
      const wbs = scanned(r);
      r.lScan.input.removeAttribute("aria-invalid");
      if (!wbs.length || wbs.length > MAX_WAYBILLS) {
        r.lScan.input.setAttribute("aria-invalid", "true");
        r.lScan.input.focus();
        result(c, "load", "error", [line(wbs.length ? t("too_many_waybills", { max: fmt.int.format(MAX_WAYBILLS) }) : t("need_waybills"))]);
        return;
      }
      body.waybills = wbs;
    } else {
      if (!r.lBin.input.value) { r.lBin.input.focus(); result(c, "load", "error", [line(t("need_bin"))]); return; }
      body.bin = r.lBin.input.value;
    }
    const res = await act(r, r.lSubmit, "api/v1/runs/" + encodeURIComponent(r.id) + "/load", body, t("loading"));
    if (!res) return;
    if (res.ok && res.body) {
      const b = res.body;
      const loaded = b.loaded || [], refused = b.refused || [], warnings = b.warnings || [];
      const out = [line(t("loaded", { n: fmt.int.format(loaded.length), vehicle: r.run.vehicle || r.id,
        total: fmt.int.format((b.run && b.run.parcels) || 0) }), loaded.length ? "r-title r-ok" : "r-title")];
      if (loaded.length) out.push(waybillList(loaded.map((w) => ({ id: w }))));
      if (refused.length) {
        out.push(line(t("refused", { n: fmt.int.format(refused.length) }), "r-title r-refused"));
        out.push(list(refused.map((x) => {
          const li = el("li", "refusal");
          li.dataset.waybill = x.waybill;
          li.dataset.reason = x.reason;
          el("span", "wb", li).textContent = x.waybill;
          li.append(" — " + tValue("refuse_", x.reason));
          if (x.detail) el("span", "muted", li).textContent = " (" + say(DETAILS, x.detail) + ")";
          return li;
        })));
      }
      if (warnings.length) {
        out.push(line(t("warnings"), "r-title r-warn"));
        out.push(list(warnings.map((w) => { const li = el("li", "warning"); li.textContent = say(WARNINGS, w); return li; })));
      }
      result(c, "load", refused.length ? "error" : warnings.length ? "warn" : "ok", out,
        { loaded: loaded.length, refused: refused.length, warnings: warnings.length });
      // What was refused stays in the box, to put right or load with "over".
      if (body.waybills) { r.lScan.input.value = refused.map((x) => x.waybill).join("\n"); renderScanCount(r); }
      if (!refused.length) toggle(r.loadForm, r.loadBtn, false);
    } else {
      failed(c, "load", res);
    }
    refresh();
  }

  // ---- departing and closing ----------------------------------------------------------

  async function departRun(c, r) {
    if (r.busy) return;
    const res = await act(r, r.cYes, "api/v1/runs/" + encodeURIComponent(r.id) + "/depart", {}, t("sending"));
    if (!res) return;
    r.asking = "";
    if (res.ok && res.body) {
      const run = res.body.run || r.run, left = res.body.left_behind || [];
      r.run = run;
      renderRun(c, r);
      const out = [line(tn("departed", run.parcels || 0, { vehicle: run.vehicle || run.id, n: fmt.int.format(run.parcels || 0) }), "r-title r-ok")];
      out.push(line(left.length ? tn("left_behind", left.length, { n: fmt.int.format(left.length) }) : t("left_none"), left.length ? "r-title r-warn" : ""));
      if (left.length) out.push(waybillList(left, (it) => [it.bin, it.arrived && isFinite(ms(it.arrived)) ? t("waiting_since", { time: fmt.short.format(new Date(ms(it.arrived))) }) : ""]));
      result(c, "depart", left.length ? "warn" : "ok", out, { left: left.length });
    } else {
      failed(c, "depart", res);
    }
    refresh();
  }

  async function closeRun(c, r) {
    if (r.busy) return;
    const res = await act(r, r.cYes, "api/v1/runs/" + encodeURIComponent(r.id) + "/close", {}, t("sending"));
    if (!res) return;
    r.asking = "";
    if (res.ok && res.body) {
      const run = res.body.run || r.run, und = res.body.undelivered || [];
      const out = [line(t("closed", { vehicle: run.vehicle || run.id, d: fmt.int.format(run.delivered || 0), n: fmt.int.format(run.parcels || 0) }), "r-title r-ok")];
      out.push(line(und.length ? tn("undelivered", und.length, { n: fmt.int.format(und.length) }) : t("undelivered_none"), und.length ? "r-title r-warn" : ""));
      if (und.length) out.push(waybillList(und, (it) => [tValue("istate_", it.state), it.village ? page.siteName(it.village) : ""]));
      result(c, "close", und.length ? "warn" : "ok", out, { undelivered: und.length });
    } else {
      failed(c, "close", res);
    }
    refresh();
  }

  // ---- actions and their results ----------------------------------------------------------

  // act sends an action, with its button busy meanwhile; null when one
  // is under way already.
  async function act(who, btn, url, body, busyText) {
    if (who.busy) return null;
    who.busy = true;
    btn.disabled = true;
    const was = btn.textContent;
    setText(btn, busyText || t("sending"));
    const r = await request(url, { method: "POST", body });
    who.busy = false;
    btn.disabled = false;
    setText(btn, was);
    return r;
  }

  function failed(c, action, r) {
    let msg = t("action_failed", { error: hubError(r) });
    if (r.status === 409) msg = t("action_conflict", { error: r.error });
    else if (r.status === 404) msg = t("action_gone", { error: r.error });
    else if (r.status === 403) msg = t("action_forbidden", { error: r.error });
    result(c, action, "error", [line(msg)]);
  }

  function line(text, cls) { const p = el("p", cls || ""); p.textContent = text; return p; }
  function list(items) { const ul = el("ul"); ul.append(...items); return ul; }

  // waybillList lists parcels ({id, ...}), each linking to the parcel
  // page, with what more(it) says; the first LIST_MAX, then how many more.
  function waybillList(items, more) {
    const lis = items.slice(0, LIST_MAX).map((it) => {
      const li = el("li", "");
      li.dataset.waybill = it.id;
      const a = el("a", "wb", li);
      a.href = "parcels.html?waybill=" + encodeURIComponent(it.id);
      a.textContent = it.id;
      const extra = more ? more(it).filter(Boolean) : [];
      if (extra.length) li.append(" · " + extra.join(" · "));
      return li;
    });
    if (items.length > LIST_MAX) lis.push(line(t("and_more", { n: fmt.int.format(items.length - LIST_MAX) }), "muted"));
    return list(lis);
  }

  // result shows what an action did under its route, until the next one.
  function result(c, action, kind, nodes, counts) {
    c.result = { action, kind, nodes, counts: counts || {}, at: Date.now() };
    renderResult(c);
    c.res.focus({ preventScroll: true });
  }

  function renderResult(c) {
    const x = c.result;
    if (!x) { c.res.replaceChildren(); return; }
    for (const k of Object.keys(c.res.dataset)) if (!(k in x.counts)) delete c.res.dataset[k];
    setData(c.res, "action", x.action);
    setData(c.res, "result", x.kind);
    for (const k in x.counts) setData(c.res, k, String(x.counts[k]));
    c.res.replaceChildren(...x.nodes);
  }

  // ---- start ------------------------------------------------------------------------

  function choose(id) {
    if (id === tw) return;
    tw = id;
    pref(TOWNSHIP_KEY, tw);
    board = null; plan = null; updated = 0; failure = "";
    for (const c of cards.values()) c.li.remove();
    cards.clear();
    render();
    refresh();
  }

  async function start() {
    await page.init();
    await page.loadSites();
    const sel = $("township");
    const want = page.fillTownships(sel, query("township") || pref(TOWNSHIP_KEY));
    sel.addEventListener("change", () => choose(sel.value));
    $("tw-form").addEventListener("submit", (e) => { e.preventDefault(); refresh(); });
    choose(want);
    setInterval(refresh, REFRESH_MS);
    // The ages on the board move between refreshes too.
    setInterval(() => { if (board) render(); }, 30e3);
  }

  start();
})();
