// Alarm page: the active cold-chain alarms with a form to acknowledge
// each, every alarm's audit trail, and the recent alarms, cleared ones
// included. Live from the hub's event stream; one DOM node per alarm,
// updated in place, so a form being filled in is never rebuilt under the
// coordinator's fingers.
"use strict";
(() => {
  const RESYNC_MS = 60e3; // full re-fetch, a safety net for missed events
  const RECENT_LIMIT = 50;
  const MAX_COMMENT_BYTES = 512; // the hub's limit, in UTF-8 bytes

  const { $, setText, setData, el } = CountyLink;
  const A = CountyLinkAlarms;

  const active = new A.AlarmSet();
  const cards = new Map(); // id -> card nodes, for the active alarms
  let recent = new Map(); // id -> alarm, newest first, at most RECENT_LIMIT
  const recentStreamed = new Map(); // id -> Date.now() of its last event
  const rows = new Map(); // id -> row nodes
  const siteNames = new Map(); // id -> site
  const roomNames = new Map(); // "site/room" -> room
  let formSeq = 0;

  // The language (shared with the wall screen), the formats, the hub's
  // clock and the stream, as common.js keeps them for both pages.
  const page = CountyLink.page({
    titleKey: "alarms_title",
    formats: (loc) => ({
      when: new Intl.DateTimeFormat(loc, { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }),
      exact: new Intl.DateTimeFormat(loc, { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }),
    }),
    onLang: () => {
      for (const c of cards.values()) { renderCard(c); if (c.hist.d.open) loadHistory(c.hist); }
      for (const r of rows.values()) { renderRow(r); if (r.hist.d.open) loadHistory(r.hist); }
    },
  });
  const { fmt, t, tValue, now, dur, getJSON } = page;
  // signedName is how the hub records the signed-in person.
  const signedName = () => (page.me ? page.me.name : "");

  // ---- text and numbers -------------------------------------------------

  const ms = (s) => { const v = s ? Date.parse(s) : NaN; return isFinite(v) ? v : NaN; };
  const when = (s) => { const v = ms(s); return isFinite(v) ? fmt.when.format(new Date(v)) : "—"; };
  const bytes = (s) => new TextEncoder().encode(s).length;

  const texts = () => A.texts(t, tValue, fmt, page.lang);
  const placeOf = (a) => {
    const p = A.place(a, siteNames, roomNames, page.lang);
    return p.room ? p.site + " · " + p.room : p.site;
  };

  function ackText(a) {
    if (!a.acked) return "";
    const at = ms(a.acked.at);
    let s = t("acked_by_at", { by: a.acked.by, time: isFinite(at) ? fmt.when.format(new Date(at)) : "" });
    if (a.acked.comment) s += " · “" + a.acked.comment + "”";
    return s;
  }

  // ---- audit trail ------------------------------------------------------

  // history makes the <details> that shows an alarm's audit trail, fetched
  // when it is opened (and again when the alarm changes while open).
  function history(parent, id) {
    const d = el("details", "history", parent);
    d.dataset.id = id;
    const sum = el("summary", "", d);
    const list = el("ol", "history-list", d);
    const note = el("p", "history-note", d);
    const h = { d, sum, list, note, id, loaded: false, timer: 0 };
    d.addEventListener("toggle", () => { if (d.open) loadHistory(h); });
    renderHistoryLabel(h);
    return h;
  }

  function renderHistoryLabel(h) {
    setText(h.sum, t("history"));
  }

  async function loadHistory(h) {
    if (!h.loaded) { setData(h.d, "state", "loading"); setText(h.note, t("history_loading")); }
    let list;
    try {
      const res = await CountyLink.fetch("api/v1/alarms/" + encodeURIComponent(h.id) + "/history");
      if (res.status === 404) list = [];
      else if (!res.ok) throw new Error("HTTP " + res.status);
      else list = await res.json();
    } catch (_) {
      setData(h.d, "state", "failed");
      setText(h.note, t("history_failed"));
      return;
    }
    h.loaded = true;
    const tx = texts();
    const items = (Array.isArray(list) ? list : []).map((e) => {
      const li = el("li", "h-entry");
      li.dataset.event = e.event;
      const at = ms(e.at);
      const time = el("time", "h-at", li);
      if (isFinite(at)) time.dateTime = new Date(at).toISOString();
      setText(time, isFinite(at) ? fmt.exact.format(new Date(at)) : "—");
      setText(el("span", "h-event", li), tValue("ev_", e.event));
      const a = e.alarm || {};
      let detail = "";
      if (e.event === "acknowledged") {
        detail = e.by || (a.acked && a.acked.by) || "";
        if (a.acked && a.acked.comment) detail += " · “" + a.acked.comment + "”";
      } else if (e.event !== "suppressed" && e.event !== "unsuppressed") {
        detail = tx.reading(a);
      }
      if (detail) setText(el("span", "h-detail", li), detail);
      return li;
    });
    h.list.replaceChildren(...items);
    setData(h.d, "state", "loaded");
    setData(h.d, "n", String(items.length));
    setText(h.note, items.length ? "" : t("history_empty"));
  }

  // The stored trail follows the stream by a moment: reload it shortly
  // after an event on an alarm whose trail is open.
  function refreshHistory(h) {
    if (!h || !h.d.open) return;
    clearTimeout(h.timer);
    h.timer = setTimeout(() => loadHistory(h), 400);
  }

  // ---- active alarms ----------------------------------------------------

  function makeCard(a) {
    const c = { id: a.id };
    const li = el("li", "alarm-card");
    c.li = li;
    li.dataset.id = a.id;
    const head = el("h3", "a-head", li);
    head.tabIndex = -1;
    c.head = head;
    c.sev = el("span", "a-sev", head);
    c.kind = el("span", "a-kind", head);
    c.place = el("span", "a-place", head);
    c.msg = el("p", "a-msg", li);
    const facts = el("dl", "a-facts", li);
    const fact = (cls) => {
      const div = el("div", cls, facts);
      return { div, dt: el("dt", "", div), dd: el("dd", "", div) };
    };
    c.value = fact("f-value");
    c.peak = fact("f-peak");
    c.limit = fact("f-limit");
    c.raised = fact("f-raised");
    c.count = fact("f-count");
    c.state = el("p", "a-state", li);

    const form = el("form", "ack-form", li);
    form.noValidate = true; // our own messages, in the page's language
    const n = ++formSeq;
    const field = (name, cls) => {
      const div = el("div", "field " + cls, form);
      const label = el("label", "", div);
      const input = el("input", "", div);
      input.id = "ack-" + name + "-" + n;
      input.name = name;
      input.type = "text";
      label.htmlFor = input.id;
      return { label, input };
    };
    // Who acknowledges is the signed-in person: shown, not typed.
    c.by = field("by", "f-by");
    c.by.input.readOnly = true;
    c.by.input.value = signedName();
    c.comment = field("comment", "f-comment");
    c.comment.input.maxLength = MAX_COMMENT_BYTES;
    c.submit = el("button", "ack-submit", form);
    c.submit.type = "submit";
    c.form = form;
    c.result = el("p", "ack-result", li);
    c.result.setAttribute("role", "status");
    c.result.tabIndex = -1;
    c.result.id = "ack-result-" + n;
    c.by.input.setAttribute("aria-describedby", c.result.id);
    c.comment.input.setAttribute("aria-describedby", c.result.id);
    form.addEventListener("submit", (e) => { e.preventDefault(); acknowledge(c); });
    c.hist = history(li, a.id);
    return c;
  }

  function renderCard(c) {
    const a = active.get(c.id);
    if (!a) return;
    const tx = texts();
    setData(c.li, "state", a.state);
    setData(c.li, "kind", a.kind);
    setData(c.li, "severity", a.severity || "");
    setData(c.li, "site", a.site);
    setData(c.li, "room", a.room || "");
    setData(c.li, "suppressed", a.suppressed ? "true" : "false");
    setText(c.sev, tx.severity(a));
    setText(c.kind, tx.kind(a));
    setText(c.place, placeOf(a));
    setText(c.msg, tx.message(a));
    const fact = (f, label, v) => {
      f.div.hidden = !v;
      setText(f.dt, t(label));
      setText(f.dd, v);
    };
    fact(c.value, "fact_value", tx.value(a));
    fact(c.peak, "fact_peak", tx.peak(a));
    fact(c.limit, a.kind === "low" ? "fact_low_limit" : "fact_high_limit", tx.limit(a));
    fact(c.count, "fact_count", a.count > 1 ? fmt.int.format(a.count) : "");
    renderCardAge(c, a);
    let st = tx.state(a);
    if (a.state === "acknowledged") st = ackText(a);
    setText(c.state, st);
    c.form.hidden = a.state !== "active";
    setText(c.by.label, t("ack_by_label"));
    setText(c.comment.label, t("ack_comment_label"));
    if (!c.by.input.value) c.by.input.value = signedName();
    c.comment.input.placeholder = t("ack_comment_hint");
    if (!c.busy) setText(c.submit, t("ack_submit"));
    renderHistoryLabel(c.hist);
  }

  function renderCardAge(c, a) {
    const r = ms(a.raised);
    setText(c.raised.dt, t("fact_raised"));
    setText(c.raised.dd, isFinite(r) ? fmt.when.format(new Date(r)) + " · " + t("raised_ago", { d: dur(now() - r) }) : "—");
  }

  // renderActive puts one card per active alarm in order, moving only the
  // cards out of place (moving a node takes the focus from its input).
  function renderActive() {
    const list = active.sorted();
    const list2 = $("active-list");
    for (const [id, c] of cards) {
      if (!active.get(id)) { c.li.remove(); cards.delete(id); }
    }
    list.forEach((a, i) => {
      let c = cards.get(a.id);
      if (!c) { c = makeCard(a); cards.set(a.id, c); }
      renderCard(c);
      if (list2.children[i] !== c.li) list2.insertBefore(c.li, list2.children[i] || null);
    });
    setText($("active-count"), fmt.int.format(list.length));
    setData($("active"), "n", String(list.length));
    setData($("active"), "waiting", String(list.filter((a) => !A.handled(a)).length));
    $("active-none").hidden = list.length > 0;
  }

  function result(c, kind, msg) {
    setData(c.result, "result", kind);
    setText(c.result, msg);
  }

  async function acknowledge(c) {
    if (c.busy) return;
    const comment = c.comment.input.value.trim();
    if (bytes(comment) > MAX_COMMENT_BYTES) { result(c, "error", t("ack_comment_long", { n: MAX_COMMENT_BYTES })); c.comment.input.focus(); return; }
    c.busy = true;
    c.submit.disabled = true;
    setText(c.submit, t("ack_sending"));
    result(c, "sending", t("ack_sending"));
    let res = null, body = null;
    try {
      res = await CountyLink.fetch("api/v1/alarms/" + encodeURIComponent(c.id) + "/ack", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ comment }),
      });
      body = await res.json().catch(() => null);
    } catch (_) { /* the hub is unreachable: said below */ }
    c.busy = false;
    c.submit.disabled = false;
    const hubSays = body && typeof body.error === "string" ? body.error : "";
    if (res && res.ok) {
      active.put(body);
      result(c, "ok", t("ack_ok", { by: (body && body.acked && body.acked.by) || signedName() }));
      upsertRecent(body, true);
      renderActive();
      refreshHistory(c.hist);
      c.result.focus();
      return;
    }
    if (!res) result(c, "error", t("ack_failed"));
    else if (res.status === 409) result(c, "error", t("ack_conflict") + (hubSays ? " (" + hubSays + ")" : ""));
    else if (res.status === 404) result(c, "error", t("ack_gone"));
    else if (res.status === 400) result(c, "error", t("ack_invalid") + (hubSays ? " " + hubSays : ""));
    else if (res.status === 403) result(c, "error", t("ack_forbidden") + (hubSays ? " (" + hubSays + ")" : ""));
    else result(c, "error", t("ack_failed") + " (HTTP " + res.status + ")");
    renderCard(c);
    c.result.focus();
    // 404 and 409: the page is behind the hub.
    if (res && (res.status === 404 || res.status === 409)) resync();
  }

  // ---- recent alarms ----------------------------------------------------

  function makeRow(a) {
    const r = { id: a.id };
    const tr = el("tr", "recent-row");
    tr.dataset.id = a.id;
    r.tr = tr;
    r.raised = el("td", "r-raised", tr);
    r.place = el("td", "r-place", tr);
    r.kind = el("td", "r-kind", tr);
    r.peak = el("td", "r-peak", tr);
    r.state = el("td", "r-state", tr);
    r.acked = el("td", "r-acked", tr);
    r.hist = history(el("td", "r-history", tr), a.id);
    return r;
  }

  function renderRow(r) {
    const a = recent.get(r.id);
    if (!a) return;
    const tx = texts();
    setData(r.tr, "state", a.state);
    setData(r.tr, "kind", a.kind);
    setData(r.tr, "severity", a.severity || "");
    setText(r.raised, when(a.raised));
    setText(r.place, placeOf(a));
    setText(r.kind, tx.kind(a));
    r.kind.title = tx.severity(a);
    const peak = tx.peak(a), lim = tx.limit(a);
    setText(r.peak, peak || lim ? (peak || "—") + " / " + (lim || "—") : "—");
    if (a.state === "cleared") {
      const from = ms(a.raised), to = ms(a.cleared);
      setText(r.state, t("cleared_at", { time: when(a.cleared), d: isFinite(from) && isFinite(to) ? dur(to - from) : "—" }));
    } else {
      setText(r.state, tx.state(a));
    }
    setText(r.acked, a.acked ? ackText(a) : "—");
    renderHistoryLabel(r.hist);
  }

  function renderRecent() {
    const list = [...recent.values()];
    const tbody = $("recent-list");
    for (const [id, r] of rows) {
      if (!recent.has(id)) { r.tr.remove(); rows.delete(id); }
    }
    list.forEach((a, i) => {
      let r = rows.get(a.id);
      if (!r) { r = makeRow(a); rows.set(a.id, r); }
      renderRow(r);
      if (tbody.children[i] !== r.tr) tbody.insertBefore(r.tr, tbody.children[i] || null);
    });
    setData($("recent"), "n", String(list.length));
    $("recent-none").hidden = list.length > 0;
    $("recent-table").hidden = list.length === 0;
  }

  const byRaisedDesc = (a, b) => (ms(b.raised) || 0) - (ms(a.raised) || 0) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

  function setRecent(list) {
    list.sort(byRaisedDesc);
    recent = new Map(list.slice(0, RECENT_LIMIT).map((a) => [a.id, a]));
  }

  // upsertRecent adds or updates an alarm the stream (or an
  // acknowledgement's answer) brought.
  function upsertRecent(a, streamed) {
    if (!a || typeof a.id !== "string") return;
    if (streamed) recentStreamed.set(a.id, Date.now());
    const list = [...recent.values()].filter((o) => o.id !== a.id);
    list.push(a);
    setRecent(list);
    renderRecent();
  }

  // ---- stream and lists ------------------------------------------------

  function onAlarm(ev) {
    const a = active.event(ev);
    if (!a) return;
    renderActive();
    upsertRecent(a, true);
    const c = cards.get(a.id);
    refreshHistory(c && c.hist);
    const r = rows.get(a.id);
    refreshHistory(r && r.hist);
  }

  let synced = false;
  const resync = page.coalesced(() => {
    const started = Date.now();
    const names = (url, map, key) => getJSON(url).then((list) => {
      if (Array.isArray(list)) for (const d of list) if (d) map.set(key(d), d);
    });
    return Promise.allSettled([
      names("api/v1/sites", siteNames, (d) => d.id),
      names("api/v1/coldrooms", roomNames, (d) => d.site + "/" + d.room),
      getJSON("api/v1/alarms").then((list) => active.list(list, started)),
      getJSON("api/v1/alarms?state=all&limit=" + RECENT_LIMIT).then((list) => {
        if (!Array.isArray(list)) return;
        const byID = new Map(list.filter((a) => a && typeof a.id === "string").map((a) => [a.id, a]));
        for (const [id, at] of recentStreamed) {
          if (at > started && recent.has(id)) byID.set(id, recent.get(id));
          else if (at <= started) recentStreamed.delete(id);
        }
        setRecent([...byID.values()]);
      }),
    ]).then(() => {
      renderActive();
      renderRecent();
      if (!synced) { synced = true; showTarget(); }
    });
  });

  // ---- a linked alarm (#alarm=<id>, from a notification) -----------------

  function showTarget() {
    const m = /^#alarm=(.+)$/.exec(location.hash);
    if (!m) return;
    const id = decodeURIComponent(m[1]);
    for (const e of document.querySelectorAll(".target")) e.classList.remove("target");
    const c = cards.get(id), r = rows.get(id);
    const node = c ? c.li : r ? r.tr : null;
    if (!node) return;
    node.classList.add("target");
    (c ? c.hist : r.hist).d.open = true;
    node.scrollIntoView({ block: "center" });
    if (c) c.head.focus({ preventScroll: true });
  }

  function tick() {
    for (const c of cards.values()) { const a = active.get(c.id); if (a) renderCardAge(c, a); }
    setTimeout(tick, 1000 - (Date.now() % 1000) + 20);
  }

  async function start() {
    await page.init();
    addEventListener("hashchange", showTarget);
    page.stream({ alarm: onAlarm }, resync);
    resync();
    setInterval(resync, RESYNC_MS);
    tick();
  }

  start();
})();
