// What the wall screen (app.js) and the alarm page (alarms.js) do alike:
// the dictionary and the language switch (one choice for both, kept in
// localStorage), number and date formats, the hub's clock, JSON requests,
// and the event stream with its reconnects and the "disconnected since"
// banner. Loaded before either; defines one global, CountyLink.
"use strict";
// eslint-disable-next-line no-unused-vars
var CountyLink = (() => {
  const LANG_KEY = "countylink.wall.lang"; // shared by both pages
  const LOCALES = { zh: "zh-CN", en: "en-GB" };
  const MAX_BACKOFF_MS = 30e3;

  const $ = (id) => document.getElementById(id);

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
      const res = await fetch(url, { cache: "no-store", headers: { Accept: "application/json" } });
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
      retryTimer = setTimeout(connect, backoff * (0.8 + Math.random() * 0.4));
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }

    // stream opens the hub's event stream: on maps an event's name to its
    // handler (given the parsed data), opened runs on every (re)connect.
    function stream(on, opened) {
      handlers = on;
      onOpen = opened;
      addEventListener("online", () => { if (!es || es.readyState === EventSource.CLOSED) connect(); });
      connect();
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

    // init loads the dictionary (until the hub gives it), shows the page in
    // the chosen language and wires the language button.
    async function init() {
      setFormats(LOCALES[lang]);
      await loadDict();
      applyLang();
      $("lang").addEventListener("click", () => {
        lang = lang === "zh" ? "en" : "zh";
        try { localStorage.setItem(LANG_KEY, lang); } catch (_) { /* storage off */ }
        applyLang();
      });
    }

    return {
      get lang() { return lang; },
      fmt, t, tValue, now, dur, getJSON, coalesced, init, stream, checkPing,
    };
  }

  return { $, setText, setData, el, parse, page };
})();
