// What the wall screen (app.js), the alarm page (alarms.js) and the
// coordinators' pages (history.js, parcels.js, dispatch.js, figures.js,
// sites.js) do alike: the
// dictionary and the language switch (one choice for all, kept in
// localStorage), number and date formats, the hub's clock, JSON requests,
// the event stream with its reconnects and the "disconnected since"
// banner; the sign-in (the session cookie, the CSRF token of unsafe
// requests, a wall screen's kiosk token, the way to the login page when a
// session ends) with the signed-in name and a logout button in the
// header; for the coordinators' pages also the sites' names, the sort
// plans and requests that never throw. Loaded before the page's own
// script; defines one global, CountyLink.
"use strict";
// eslint-disable-next-line no-unused-vars
var CountyLink = (() => {
  const LANG_KEY = "countylink.wall.lang"; // shared by both pages
  const LOCALES = { zh: "zh-CN", en: "en-GB" };
  const MAX_BACKOFF_MS = 30e3;

  const $ = (id) => document.getElementById(id);

  // ---- signing in ---------------------------------------------------------
  //
  // Every request to the API waits for signedIn: the session's "me" (GET
  // api/v1/auth/me). A wall screen opened with its kiosk URL
  // (/?kiosk=1#kiosk=clk_…) trades the token for a session and keeps it
  // in localStorage, so it signs in again by itself when the session ends
  // (the hub restarted its day, the token's session aged out); a revoked
  // token, or a person's ended session, goes to the login page, which
  // comes back here after.

  const KIOSK_KEY = "countylink.kiosk";
  const SIGNIN_MAX_BACKOFF_MS = 30e3;
  let me = null, session = null, freshKiosk = "";

  // A kiosk token in the URL's fragment is taken once and the fragment
  // cleared, so it shows in no history entry, bookmark or screenshot.
  (function takeKioskToken() {
    const m = /(?:^#|&)kiosk=(clk_[A-Za-z0-9_-]+)/.exec(location.hash);
    if (!m) return;
    freshKiosk = m[1];
    try { localStorage.setItem(KIOSK_KEY, freshKiosk); } catch (_) { /* storage off: this visit only */ }
    history.replaceState(null, "", location.pathname + location.search);
  })();

  function kioskToken() {
    if (freshKiosk) return freshKiosk;
    try { return localStorage.getItem(KIOSK_KEY) || ""; } catch (_) { return ""; }
  }

  // csrf is the session's CSRF token, from its readable cookie.
  function csrf() {
    const m = /(?:^|;\s*)countylink_csrf=([^;]+)/.exec(document.cookie);
    return m ? decodeURIComponent(m[1]) : (me && me.csrf) || "";
  }

  // loginPage goes to the login page, to come back to this page after.
  function loginPage() {
    const here = location.pathname.split("/").pop() + location.search;
    location.assign("login.html" + (here ? "?next=" + encodeURIComponent(here) : ""));
    return new Promise(() => {}); // the page is leaving
  }

  async function kioskSignIn(tok) {
    const res = await fetch("api/v1/auth/kiosk", { method: "POST", cache: "no-store",
      headers: { "Content-Type": "application/json", Accept: "application/json" }, body: JSON.stringify({ token: tok }) });
    if (res.ok) return res.json();
    if (res.status === 401) {
      freshKiosk = "";
      try { localStorage.removeItem(KIOSK_KEY); } catch (_) { /* storage off */ }
      return null;
    }
    throw new Error("kiosk sign-in: HTTP " + res.status); // rate-limited or the hub restarting: again later
  }

  async function signIn() {
    for (let wait = 1000; ; wait = Math.min(wait * 2, SIGNIN_MAX_BACKOFF_MS)) {
      try {
        if (freshKiosk) {
          const k = await kioskSignIn(freshKiosk);
          freshKiosk = "";
          if (k) return (me = k);
        }
        const res = await fetch("api/v1/auth/me", { cache: "no-store", headers: { Accept: "application/json" } });
        if (res.ok) return (me = await res.json());
        if (res.status === 401) {
          const tok = kioskToken();
          const k = tok ? await kioskSignIn(tok) : null;
          if (k) return (me = k);
          return loginPage();
        }
      } catch (_) { /* the hub is unreachable or restarting: try again */ }
      await new Promise((ok) => setTimeout(ok, wait));
    }
  }

  function signedIn() {
    if (!session) session = signIn();
    return session;
  }

  // apiFetch is fetch for the hub's API: after signing in, with the CSRF
  // token on an unsafe method; a 401 (the session ended) signs in again
  // (a kiosk by itself, a person at the login page) and tries once more.
  async function apiFetch(url, opts) {
    const o = Object.assign({ cache: "no-store" }, opts || {});
    const send = () => {
      const h = Object.assign({ Accept: "application/json" }, o.headers || {});
      const m = (o.method || "GET").toUpperCase();
      if (m !== "GET" && m !== "HEAD") h["X-CSRF-Token"] = csrf();
      return fetch(url, Object.assign({}, o, { headers: h }));
    };
    await signedIn();
    const res = await send();
    if (res.status !== 401) return res;
    session = null;
    me = null;
    await signedIn();
    return send();
  }

  async function logout() {
    try { await apiFetch("api/v1/auth/logout", { method: "POST" }); } catch (_) { /* gone anyway */ }
    location.assign("login.html");
  }

  // Writes only on change: most seconds nothing but an age text moves.
  function setText(node, s) { if (node.textContent !== s) node.textContent = s; }
  function setData(node, k, v) { if (node.dataset[k] !== v) node.dataset[k] = v; }

  function el(tag, cls, parent) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (parent) parent.appendChild(e);
    return e;
  }

  function parse(s) {
    try { return JSON.parse(s); } catch (_) { return null; }
  }

  function numberFormat(loc, opts) {
    try { return new Intl.NumberFormat(loc, { ...opts, signDisplay: "negative" }); } catch (_) { return new Intl.NumberFormat(loc, opts); }
  }

  // page sets up a page's language, formats, clock and stream. opts:
  //   titleKey: the dictionary key of the document's title;
  //   formats(loc, numberFormat): the page's own formats, added to temp,
  //     limit, int and time;
  //   onLang(): renders the page's texts again after a language change.
  // Its fmt is one object for the page's life, refilled on a change.
  function page(opts) {
    let dict = null;
    let lang = "zh";
    try { if (localStorage.getItem(LANG_KEY) === "en") lang = "en"; } catch (_) { /* storage off */ }
    const fmt = {};
    let clockOffset = 0; // hub clock minus ours, from the Date header

    // ---- text and numbers -----------------------------------------------

    function t(key, vars) {
      let s = (dict && (dict[lang][key] ?? dict.zh[key])) ?? key;
      if (vars) for (const k in vars) s = s.replace("{" + k + "}", vars[k]);
      return s;
    }

    // tn is t for a text about n things: the key's "_one" form when n is 1
    // and the language has one ("1 parcel", "2 parcels").
    function tn(key, n, vars) {
      const one = key + "_one";
      return t(n === 1 && dict && one in dict[lang] ? one : key, vars);
    }

    // Texts keyed by a value from the hub fall back to the value itself, so
    // a state or class added there shows up readable before it is translated.
    function tValue(prefix, v) {
      const k = prefix + v;
      return dict && (k in dict[lang] || k in dict.zh) ? t(k) : String(v);
    }

    function setFormats(loc) {
      Object.assign(fmt, {
        temp: numberFormat(loc, { minimumFractionDigits: 1, maximumFractionDigits: 1 }),
        limit: numberFormat(loc, { maximumFractionDigits: 1 }),
        int: numberFormat(loc, { maximumFractionDigits: 0 }),
        time: new Intl.DateTimeFormat(loc, { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }),
      }, opts.formats ? opts.formats(loc, numberFormat) : {});
    }

    const now = () => Date.now() + clockOffset;

    function dur(ms) {
      const s = Math.max(0, Math.floor(ms / 1000));
      if (s < 60) return t("dur_s", { n: fmt.int.format(s) });
      if (s < 3600) return t("dur_m", { n: fmt.int.format(Math.floor(s / 60)) });
      if (s < 172800) return t("dur_h", { n: fmt.int.format(Math.floor(s / 3600)) });
      return t("dur_d", { n: fmt.int.format(Math.floor(s / 86400)) });
    }

    // ---- requests -------------------------------------------------------

    async function getJSON(url) {
      const res = await apiFetch(url);
      if (!res.ok) throw new Error(url + ": HTTP " + res.status);
      const date = Date.parse(res.headers.get("Date") || "");
      if (isFinite(date)) {
        // The header has whole seconds: correct only a clock that is clearly
        // off (TVs often have no time sync), never jitter by a second.
        const off = date + 500 - Date.now();
        clockOffset = Math.abs(off) > 5000 ? off : 0;
      }
      return res.json();
    }

    // coalesced returns run (a function returning a promise) so that a call
    // while one is under way runs it once more after that one, not beside.
    function coalesced(run) {
      let running = null, again = false;
      const go = () => {
        if (running) { again = true; return running; }
        running = run().then(() => {
          running = null;
          if (again) { again = false; go(); }
        });
        return running;
      };
      return go;
    }

    // ---- connection -----------------------------------------------------

    let es = null, backoff = 1000, retryTimer = 0, connecting = true;
    let downSince = 0, lastPing = 0;
    let handlers = {}, onOpen = () => {};

    function renderConn() {
      if (!$("conn")) return; // a page without the stream
      const live = !connecting && downSince === 0;
      setData($("conn"), "state", live ? "live" : "down");
      setText($("conn-text"), t(live ? "conn_live" : connecting ? "conn_connecting" : "conn_down"));
      const banner = $("banner");
      banner.hidden = !downSince;
      if (downSince) setText($("banner-text"), t("banner_down", { time: fmt.time.format(new Date(downSince + clockOffset)) }));
    }

    function setLive() {
      connecting = false;
      downSince = 0;
      backoff = 1000;
      renderConn();
    }

    function setDown() {
      connecting = false;
      if (!downSince) downSince = Date.now();
      renderConn();
    }

    function connect() {
      clearTimeout(retryTimer);
      if (es) es.close();
      lastPing = 0;
      es = new EventSource("api/v1/stream");
      es.addEventListener("open", () => { setLive(); onOpen(); });
      es.addEventListener("hello", setLive);
      es.addEventListener("ping", () => { lastPing = Date.now(); });
      for (const name in handlers) es.addEventListener(name, (e) => handlers[name](parse(e.data)));
      es.addEventListener("error", () => {
        setDown();
        // CONNECTING: the browser retries by itself. CLOSED (an HTTP error
        // or a proxy page during a hub restart): it gave up, so do it here.
        if (es.readyState === EventSource.CLOSED) reopen();
      });
    }

    function reopen() {
      if (es) es.close();
      clearTimeout(retryTimer);
      retryTimer = setTimeout(() => signedIn().then(connect), backoff * (0.8 + Math.random() * 0.4));
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }

    // stream opens the hub's event stream: on maps an event's name to its
    // handler (given the parsed data), opened runs on every (re)connect.
    // The stream has no status to read: a session that ended shows as a
    // closed stream, and the next list request signs in again.
    function stream(on, opened) {
      handlers = on;
      onOpen = opened;
      addEventListener("online", () => { if (!es || es.readyState === EventSource.CLOSED) connect(); });
      signedIn().then(connect);
    }

    // checkPing reconnects when the hub, once it has sent a "ping" event,
    // has sent none for timeoutMs: a connection dead without an error.
    function checkPing(timeoutMs) {
      if (lastPing && Date.now() - lastPing > timeoutMs) { setDown(); reopen(); lastPing = 0; }
    }

    // ---- language -------------------------------------------------------

    function applyLang() {
      const loc = LOCALES[lang];
      setFormats(loc);
      document.documentElement.lang = loc;
      document.title = t(opts.titleKey);
      for (const e of document.querySelectorAll("[data-i18n]")) setText(e, t(e.dataset.i18n));
      for (const e of document.querySelectorAll("[data-i18n-aria]")) e.setAttribute("aria-label", t(e.dataset.i18nAria));
      for (const e of document.querySelectorAll("[data-i18n-ph]")) e.placeholder = t(e.dataset.i18nPh);
      for (const e of document.querySelectorAll("[data-i18n-title]")) e.title = t(e.dataset.i18nTitle);
      const btn = $("lang");
      btn.title = t("lang_label");
      btn.setAttribute("aria-label", t("lang_label"));
      for (const s of btn.querySelectorAll("[data-lang]")) s.classList.toggle("on", s.dataset.lang === lang);
      if (opts.onLang) opts.onLang();
      renderConn();
    }

    async function loadDict() {
      for (let wait = 1000; ; wait = Math.min(wait * 2, MAX_BACKOFF_MS)) {
        try {
          const res = await fetch("i18n.json");
          if (res.ok) { dict = await res.json(); return; }
        } catch (_) { /* hub restarting: try again */ }
        await new Promise((ok) => setTimeout(ok, wait));
      }
    }

    // who shows, in the header, who is signed in and a logout button (not
    // on a kiosk: a wall screen stays signed in). A viewer (a wall
    // screen's account) on a coordinators' page goes to the wall screen:
    // the hub would refuse the page's data.
    function who() {
      if (!me) return;
      if (me.role === "viewer" && document.querySelector("nav.pages")) { location.assign("./"); return; }
      if (me.via === "kiosk" || $("who")) return;
      const box = document.createElement("div");
      box.id = "who";
      const name = el("span", "who-name", box);
      name.textContent = me.display_name || me.name;
      if (me.township) name.title = me.township;
      const out = el("button", "who-logout", box);
      out.id = "logout";
      out.type = "button";
      out.dataset.i18n = "logout";
      out.textContent = t("logout");
      out.addEventListener("click", logout);
      $("lang").before(box);
    }

    // init loads the dictionary (until the hub gives it), shows the page in
    // the chosen language and wires the language button; on a page behind
    // the sign-in (every one but the login page, opts.public) it signs in
    // and shows who.
    async function init() {
      setFormats(LOCALES[lang]);
      await loadDict();
      applyLang();
      $("lang").addEventListener("click", () => {
        lang = lang === "zh" ? "en" : "zh";
        try { localStorage.setItem(LANG_KEY, lang); } catch (_) { /* storage off */ }
        applyLang();
      });
      if (!opts.public) signedIn().then(who);
    }

    // ---- sites and sort plans (the coordinators' pages) --------------------

    const sites = new Map(); // id -> site of GET api/v1/sites

    // loadSites fetches the county's sites (county, townships, village
    // points) for siteName and townships; it keeps the last list on failure.
    async function loadSites() {
      const r = await request("api/v1/sites");
      if (r.ok && Array.isArray(r.body)) {
        sites.clear();
        for (const s of r.body) if (s && typeof s.id === "string") sites.set(s.id, s);
      }
      return r.ok;
    }

    // siteName is a site's name in the page's language: the Chinese name,
    // in English the English one (full: with the Chinese one after it, as
    // the signs read); the id itself when the site is unknown.
    function siteName(id, full) {
      const s = sites.get(id);
      if (!s) return id || "";
      if (lang === "en" && s.name_en) return full && s.name ? s.name_en + " (" + s.name + ")" : s.name_en;
      return s.name || s.name_en || id;
    }

    // townships are the township sites, in id order.
    function townships() {
      return [...sites.values()].filter((s) => s.kind === "township").sort((a, b) => idCmp(a.id, b.id));
    }

    // fillTownships puts the townships in a <select>, keeping its choice
    // (or taking want), after an "all" option when allKey names its text.
    function fillTownships(select, want, allKey) {
      const v = want !== undefined ? want : select.value;
      const opts = [];
      if (allKey) { const o = el("option"); o.value = ""; o.textContent = t(allKey); opts.push(o); }
      for (const s of townships()) {
        const o = el("option");
        o.value = s.id;
        o.textContent = siteName(s.id) + " · " + s.id;
        opts.push(o);
      }
      select.replaceChildren(...opts);
      if (opts.some((o) => o.value === v)) select.value = v;
      return select.value;
    }

    const plans = new Map(); // township -> promise of its sort plan, null when it has none

    // sortPlan is a township's sort plan (GET api/v1/sites/<id>/sortplan),
    // null when it has none; asked once per page, again after a failure.
    function sortPlan(tw) {
      if (!tw) return Promise.resolve(null);
      if (!plans.has(tw)) {
        plans.set(tw, request("api/v1/sites/" + encodeURIComponent(tw) + "/sortplan").then((r) => {
          if (!r.ok && r.status !== 404) plans.delete(tw);
          return r.ok && r.body && Array.isArray(r.body.routes) ? r.body : null;
        }));
      }
      return plans.get(tw);
    }

    return {
      get lang() { return lang; },
      get me() { return me; },
      fmt, t, tn, tValue, now, dur, getJSON, coalesced, init, stream, checkPing,
      loadSites, siteName, townships, fillTownships, sortPlan,
    };
  }

  // ---- helpers of the coordinators' pages ---------------------------------

  const idCmp = new Intl.Collator("en", { numeric: true }).compare;

  // pref reads a remembered choice ("" when none); with v, keeps v first.
  function pref(key, v) {
    try {
      if (v !== undefined) localStorage.setItem(key, v);
      return localStorage.getItem(key) || "";
    } catch (_) { return v || ""; } // storage off
  }

  // request asks the hub for JSON, sending body (as JSON) when given, as
  // the signed-in person (apiFetch). It never throws: it answers {ok,
  // status (0 when the hub is unreachable), body (the JSON, or null),
  // error (the hub's message, or "")}.
  async function request(url, opts) {
    const o = opts || {};
    const method = o.method || "GET";
    const headers = {};
    let body;
    if (o.body !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(o.body); }
    let res;
    try {
      res = await apiFetch(url, { method, headers, body });
    } catch (_) {
      return { ok: false, status: 0, body: null, error: "" };
    }
    const data = await res.json().catch(() => null);
    return { ok: res.ok, status: res.status, body: data, error: data && typeof data.error === "string" ? data.error : "" };
  }

  // day is a date's day, "2026-11-29", in the browser's time zone;
  // addDays counts n days on from such a day.
  function day(d) {
    const p = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate());
  }
  function addDays(s, n) {
    const [y, m, d] = s.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
  }

  // query is a parameter of the page's URL, "" when absent.
  function query(name) { return new URLSearchParams(location.search).get(name) || ""; }

  // A village point's phone sends nothing while idle: the point counts as
  // online when the hub heard from it in the last VILLAGE_RECENT_MS.
  // villageState is "online", "today" (heard from earlier today) or
  // "none", for a site of GET api/v1/sites at nowMs; seenMs is a later
  // time the page knows of (a scan on the stream), 0 when none.
  const VILLAGE_RECENT_MS = 2 * 3600e3;
  function villageState(d, nowMs, seenMs) {
    const ls = Math.max(d && d.last_seen ? Date.parse(d.last_seen) || 0 : 0, seenMs || 0);
    if (!ls) return "none";
    if (d.online !== false && nowMs - ls < VILLAGE_RECENT_MS) return "online";
    return day(new Date(ls)) === day(new Date(nowMs)) ? "today" : "none";
  }

  return { $, setText, setData, el, parse, page, idCmp, pref, request, day, addDays, query,
    fetch: apiFetch, signedIn, logout, VILLAGE_RECENT_MS, villageState };
})();
