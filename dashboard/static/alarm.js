// The hub's cold-chain alarms as both pages keep them: the wall screen
// (app.js) and the alarm page (alarms.js). Loaded before either; defines
// one global, CountyLinkAlarms.
"use strict";
// eslint-disable-next-line no-unused-vars
var CountyLinkAlarms = (() => {
  const SEVERITY = { critical: 3, warning: 2, info: 1 };
  const sevRank = (a) => SEVERITY[a.severity] || 0;
  const ms = (s) => { const v = s ? Date.parse(s) : NaN; return isFinite(v) ? v : 0; };

  // handled: someone took it on (acknowledged), or its edge is offline and
  // the edge's own alarm stands for it (suppressed).
  const handled = (a) => a.state === "acknowledged" || !!a.suppressed;

  // compare orders alarms most urgent first: those still waiting for a
  // person before the handled ones (a handled critical alarm must not
  // push a new one off the wall screen), then the most severe, then the
  // newest.
  function compare(a, b) {
    return (handled(a) - handled(b)) || (sevRank(b) - sevRank(a)) || (ms(b.raised) - ms(a.raised)) ||
      (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  }

  const valid = (a) => !!a && typeof a.id === "string" && a.id !== "" && typeof a.site === "string";

  // AlarmSet holds the active alarms (active or acknowledged) from the
  // hub's list and its "alarm" events. The stream has the last word: a
  // list requested before an event on the same alarm is older than it,
  // so its copy is ignored (it would bring back an alarm just cleared or
  // undo an acknowledgement until the next resync).
  class AlarmSet {
    constructor() {
      this.byID = new Map(); // id -> alarm
      this.streamed = new Map(); // id -> Date.now() of its last event; pruned
    }

    // event applies one "alarm" event: {transition, at, alarm}. It returns
    // the alarm, or null for an event it cannot read.
    event(ev) {
      const a = ev && ev.alarm;
      if (!valid(a)) return null;
      this.streamed.set(a.id, Date.now());
      if (a.state === "cleared" || ev.transition === "cleared") this.byID.delete(a.id);
      else this.byID.set(a.id, a);
      return a;
    }

    // put sets an alarm the hub returned outside the stream (the answer to
    // an acknowledgement): as new as an event.
    put(a) {
      if (!valid(a)) return;
      this.streamed.set(a.id, Date.now());
      if (a.state === "cleared") this.byID.delete(a.id); else this.byID.set(a.id, a);
    }

    // list replaces the set with the hub's list of active alarms, requested
    // at requestedAt (Date.now()), keeping what the stream said since.
    list(list, requestedAt) {
      if (!Array.isArray(list)) return;
      const keep = new Set();
      for (const a of list) {
        if (!valid(a)) continue;
        keep.add(a.id);
        if ((this.streamed.get(a.id) || 0) > requestedAt) continue;
        if (a.state === "cleared") this.byID.delete(a.id); else this.byID.set(a.id, a);
      }
      for (const id of [...this.byID.keys()]) {
        if (!keep.has(id) && (this.streamed.get(id) || 0) <= requestedAt) this.byID.delete(id);
      }
      // What the stream said before this list no longer matters.
      for (const [id, at] of this.streamed) if (at <= requestedAt) this.streamed.delete(id);
    }

    get size() { return this.byID.size; }
    get(id) { return this.byID.get(id); }

    // sorted returns the alarms, most urgent first.
    sorted() { return [...this.byID.values()].sort(compare); }
  }

  // texts returns how a person reads an alarm, with t and tValue the
  // page's dictionary lookups (tValue(prefix, v) falls back to v) and fmt
  // its number formats (fmt.temp: one decimal, fmt.limit: up to one).
  function texts(t, tValue, fmt, lang) {
    const isNum = (v) => typeof v === "number" && isFinite(v);
    const deg = (f, v) => f.format(v) + " °C";
    return {
      kind: (a) => tValue("kind_", a.kind),
      severity: (a) => tValue("sev_", a.severity),
      state: (a) => tValue("astate_", a.suppressed && a.state === "active" ? "suppressed" : a.state),
      // The value against the limit: "7.0 °C > 4 °C"; empty for the
      // kinds without a temperature.
      reading: (a) => {
        if (!isNum(a.value_c)) return "";
        const v = deg(fmt.temp, a.value_c);
        if (!isNum(a.limit_c)) return v;
        return v + (a.kind === "low" ? " < " : " > ") + deg(fmt.limit, a.limit_c);
      },
      value: (a) => (isNum(a.value_c) ? deg(fmt.temp, a.value_c) : ""),
      peak: (a) => (isNum(a.peak_c) ? deg(fmt.temp, a.peak_c) : ""),
      limit: (a) => (isNum(a.limit_c) ? deg(fmt.limit, a.limit_c) : ""),
      // The hub's message holds both languages: "中文 / English".
      message: (a) => {
        const m = typeof a.message === "string" ? a.message : "";
        const i = m.indexOf(" / ");
        if (i < 0) return m;
        return lang === "en" ? m.slice(i + 3) : m.slice(0, i);
      },
    };
  }

  // place returns the site's and the room's names in the language, from
  // the pages' site and room lists (id -> {name, name_en}).
  function place(a, siteNames, roomNames, lang) {
    const pick = (d, id) => (d ? ((lang === "en" && d.name_en) ? d.name_en : (d.name || d.name_en || id)) : id);
    const site = pick(siteNames.get(a.site), a.site);
    let room = "";
    if (a.room) room = pick(roomNames.get(a.site + "/" + a.room), a.room);
    else if (a.edge) room = a.edge;
    return { site, room };
  }

  return { compare, handled, AlarmSet, texts, place, severityRank: sevRank };
})();
