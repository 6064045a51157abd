// Sites page: the county centre and its townships with their edges
// (online or not, the agent's version, the messages queued while the
// uplink was down, when last heard from) and the cold-room probes whose
// readings come through them; the village points by township with their
// rollout phase and whether they were heard from recently. One township
// or all, from the page's URL. Refreshed every 15 s.
"use strict";
(() => {
  const REFRESH_MS = 15e3;

  const { $, setText, setData, el, request, query, idCmp, VILLAGE_RECENT_MS, villageState } = CountyLink;

  const page = CountyLink.page({
    titleKey: "sites_title",
    formats: (loc) => ({
      short: new Intl.DateTimeFormat(loc, { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }),
      hms: new Intl.DateTimeFormat(loc, { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }),
    }),
    onLang: () => { fillTownships(); render(); },
  });
  const { fmt, t, now, dur } = page;

  let sites = []; // GET api/v1/sites
  let rooms = []; // GET api/v1/coldrooms
  let tw = ""; // the township shown, "" for all
  let updated = 0, failure = "";

  const localName = (d) => (page.lang === "en" && d.name_en) ? d.name_en : (d.name || d.name_en || d.id);
  const ago = (s) => { const v = s ? Date.parse(s) : NaN; return isFinite(v) && v > 0 ? v : NaN; };
  const phaseText = (ph) => (ph ? t("phase_n", { n: fmt.int.format(ph) }) : t("phase_0"));
  const hubError = (r) => (r.status ? "HTTP " + r.status + (r.error ? " · " + r.error : "") : t("hub_unreachable"));

  function fillTownships() {
    const sel = $("s-township"), want = tw;
    const all = el("option");
    all.value = "";
    all.textContent = t("all_townships");
    const opts = [all];
    for (const s of sites.filter((x) => x.kind === "township").sort((a, b) => idCmp(a.id, b.id))) {
      const o = el("option");
      o.value = s.id;
      o.textContent = localName(s) + " · " + s.id;
      opts.push(o);
    }
    sel.replaceChildren(...opts);
    sel.value = opts.some((o) => o.value === want) ? want : "";
  }

  const refresh = page.coalesced(async () => {
    const [s, r] = await Promise.all([request("api/v1/sites"), request("api/v1/coldrooms")]);
    if (s.ok && Array.isArray(s.body)) {
      const first = sites.length === 0;
      sites = s.body.filter((x) => x && typeof x.id === "string");
      if (first) fillTownships();
      updated = Date.now();
      failure = "";
    } else failure = hubError(s);
    if (r.ok && Array.isArray(r.body)) rooms = r.body;
    render();
  });

  function cell(tr, text, cls, tag) {
    const td = el(tag || "td", cls || "", tr);
    td.textContent = text;
    return td;
  }

  // seen is "08:15 (3 min ago)".
  function seen(v) {
    const ms = ago(v);
    return isFinite(ms) ? fmt.short.format(new Date(ms)) + " (" + t("ago", { d: dur(now() - ms) }) + ")" : "—";
  }

  function render() {
    const st = $("s-status");
    setData(st, "result", failure ? "error" : "");
    setText(st, failure ? t("sites_failed", { error: failure }) : "");
    setText($("s-updated"), updated ? t("updated_at", { time: fmt.hms.format(new Date(updated)) }) : "");
    setData(document.body, "township", tw);
    const byId = new Map(sites.map((s) => [s.id, s]));
    const inScope = (s) => !tw || s.id === tw || s.parent === tw;
    const main = sites.filter((s) => s.kind !== "village" && inScope(s))
      .sort((a, b) => (a.kind === "county" ? -1 : b.kind === "county" ? 1 : idCmp(a.id, b.id)));
    const villages = sites.filter((s) => s.kind === "village" && inScope(s));
    const vstate = new Map(villages.map((v) => [v.id, villageState(v, now(), 0)]));

    // The summary.
    let son = 0, eon = 0, eall = 0, queued = 0, von = 0;
    for (const s of main) {
      if (s.online) son++;
      for (const e of s.edges || []) { eall++; if (e.online) eon++; queued += e.backlog > 0 ? e.backlog : 0; }
    }
    for (const v of villages) if (vstate.get(v.id) === "online") von++;
    setText($("sum-sites"), fmt.int.format(son) + "/" + fmt.int.format(main.length));
    setText($("sum-edges"), fmt.int.format(eon) + "/" + fmt.int.format(eall));
    setText($("sum-backlog"), fmt.int.format(queued));
    setText($("sum-villages"), fmt.int.format(von) + "/" + fmt.int.format(villages.length));

    // The sites and their edges: a row per edge.
    const rows = [];
    for (const s of main) {
      const edges = (s.edges || []).slice().sort((a, b) => idCmp(a.edge, b.edge));
      const probes = rooms.filter((r) => r.site === s.id);
      const vs = villages.filter((v) => v.parent === s.id);
      const n = Math.max(1, edges.length);
      for (let i = 0; i < n; i++) {
        const e = edges[i];
        const tr = el("tr", "site-row");
        tr.dataset.site = s.id;
        tr.dataset.kind = s.kind;
        tr.dataset.online = s.online ? "true" : "false";
        tr.dataset.edge = e ? e.edge : "";
        if (i === 0) {
          const th = el("th", "s-site", tr);
          th.scope = "row";
          th.rowSpan = n;
          el("span", "s-name", th).textContent = localName(s);
          el("span", "s-id muted", th).textContent = s.id;
        }
        const state = cell(tr, "", "s-state");
        const badge = el("span", "badge", state);
        const on = e ? e.online : s.online;
        badge.dataset.state = on ? "online" : "offline";
        badge.textContent = t(on ? "site_online" : "site_offline");
        cell(tr, e ? e.edge : t("no_edge"), e ? "s-edge" : "s-edge muted");
        const agent = cell(tr, e && e.agent ? e.agent : "—", "s-agent");
        if (e && e.agent) agent.dataset.agent = e.agent;
        const bq = cell(tr, e ? fmt.int.format(e.backlog > 0 ? e.backlog : 0) : "—", "num s-backlog");
        bq.dataset.v = String(e && e.backlog > 0 ? e.backlog : 0);
        cell(tr, seen(e ? e.last_seen : s.last_seen), "s-seen");
        // The probes whose last reading came through this edge (all of the
        // site's on its first row when the reading names no edge).
        const mine = probes.filter((r) => (e ? r.edge === e.edge : true) || (i === 0 && !r.edge));
        const pc = cell(tr, "", "s-probes");
        if (e && e.devices && e.devices.length) {
          // The devices as the edge's last status gave them.
          const ul = el("ul", "probes devices", pc);
          for (const d of e.devices) {
            const li = el("li", "", ul);
            li.dataset.device = d.id;
            li.dataset.ok = d.ok ? "true" : "false";
            li.textContent = d.id + ": " + (d.ok ? t("dev_ok") : t("dev_fault") + (d.error ? " (" + d.error + ")" : ""));
          }
          if (e.sort_plan) el("div", "muted", pc).textContent = t("plan_version", { v: e.sort_plan });
        } else if (mine.length) {
          const ul = el("ul", "probes", pc);
          for (const r of mine) {
            const li = el("li", "", ul);
            li.dataset.room = r.room;
            li.textContent = (page.lang === "en" && r.name_en ? r.name_en : r.name || r.room) + ": " + (r.device || t("no_reading"));
          }
        } else pc.textContent = "—";
        if (i === 0) {
          const sorted = cell(tr, s.parcels && s.parcels.sorted ? fmt.int.format(s.parcels.sorted) : "0", "num s-sorted");
          sorted.rowSpan = n;
          const on2 = vs.filter((v) => vstate.get(v.id) === "online").length;
          const vc = cell(tr, vs.length ? fmt.int.format(on2) + "/" + fmt.int.format(vs.length) : "—", "num s-villages");
          vc.rowSpan = n;
          tr.dataset.villages = on2 + "/" + vs.length;
        }
        rows.push(tr);
      }
    }
    $("site-rows").replaceChildren(...rows);
    setData($("edges-panel"), "n", String(main.length));

    // The village points by phase, then by township.
    setText($("sv-range"), tw ? localName(byId.get(tw) || { id: tw }) : t("all_townships"));
    setText($("legend-online"), t("vs_online", { d: dur(VILLAGE_RECENT_MS) }));
    const phases = new Map();
    for (const v of villages) {
      const p = phases.get(v.phase || 0) || [0, 0];
      p[1]++;
      if (vstate.get(v.id) === "online") p[0]++;
      phases.set(v.phase || 0, p);
    }
    $("phase-sum").replaceChildren(...[...phases.keys()].sort((a, b) => a - b).map((ph) => {
      const [on, all] = phases.get(ph);
      const li = el("li", "ph");
      li.dataset.phase = String(ph);
      li.dataset.online = String(on);
      li.dataset.n = String(all);
      el("span", "ph-label", li).textContent = phaseText(ph);
      el("b", "", li).textContent = fmt.int.format(on) + "/" + fmt.int.format(all);
      return li;
    }));
    const groups = [];
    for (const s of main.filter((x) => x.kind === "township")) {
      const vs = villages.filter((v) => v.parent === s.id).sort((a, b) => (a.phase || 0) - (b.phase || 0) || idCmp(a.id, b.id));
      if (!vs.length) continue;
      const sec = el("section", "vgroup");
      sec.dataset.township = s.id;
      sec.dataset.n = String(vs.length);
      const on = vs.filter((v) => vstate.get(v.id) === "online").length;
      sec.dataset.online = String(on);
      const h = el("h3", "", sec);
      h.textContent = localName(s) + " · " + t("villages_online_n", { on: fmt.int.format(on), n: fmt.int.format(vs.length) });
      const ul = el("ul", "vlist", sec);
      for (const v of vs) {
        const li = el("li", "vp", ul);
        li.dataset.site = v.id;
        li.dataset.phase = String(v.phase || 0);
        li.dataset.v = vstate.get(v.id);
        const dot = el("span", "vstate", li);
        dot.dataset.v = vstate.get(v.id);
        el("span", "vp-name", li).textContent = localName(v);
        el("span", "vp-id muted", li).textContent = v.id;
        el("span", "vp-phase", li).textContent = phaseText(v.phase || 0);
        const ls = ago(v.last_seen);
        el("span", "vp-seen muted", li).textContent = isFinite(ls) ? t("seen_ago", { d: dur(now() - ls) }) : t("vs_never");
        const vst = vstate.get(v.id);
        li.title = vst === "online" ? t("vstate_online") : vst === "today" ? t("vstate_today") : t("vstate_none");
      }
      groups.push(sec);
    }
    $("village-groups").replaceChildren(...groups);
    setData($("villages-panel"), "n", String(villages.length));
  }

  async function start() {
    await page.init();
    tw = query("township");
    await refresh();
    $("s-form").addEventListener("submit", (e) => { e.preventDefault(); refresh(); });
    $("s-township").addEventListener("change", () => {
      tw = $("s-township").value;
      const u = new URL(location.href);
      if (tw) u.searchParams.set("township", tw); else u.searchParams.delete("township");
      history.replaceState(null, "", u.pathname + u.search + u.hash);
      render();
    });
    setInterval(refresh, REFRESH_MS);
  }

  start();
})();
