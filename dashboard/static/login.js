// The login page: a name and a password, sent as JSON to the hub, which
// sets the session's cookies; then back to the page that sent the person
// here (?next=, a page of the dashboard only), or the alarm page.
"use strict";
(() => {
  const { $, setText, setData, query } = CountyLink;
  const page = CountyLink.page({ titleKey: "login_title", public: true });
  const { t } = page;

  // next is where to go once signed in: a page of this dashboard, by a
  // relative name (alarms.html?site=tw01, or "./"), never another site.
  function next() {
    const v = query("next");
    return /^(?:[a-z]+\.html)?(?:\?[^#]*)?$/.test(v) && v !== "" && v !== "login.html" && !v.startsWith("login.html?") ? v : "./";
  }

  function say(kind, msg) {
    const p = $("login-result");
    p.hidden = !msg;
    setData(p, "result", kind);
    setText(p, msg);
  }

  async function submit(e) {
    e.preventDefault();
    const name = $("login-name").value.trim(), password = $("login-password").value;
    if (!name || !password) { say("error", t("login_need")); return; }
    const btn = $("login-submit");
    btn.disabled = true;
    say("sending", t("login_sending"));
    let res = null, body = null;
    try {
      res = await fetch("api/v1/auth/login", { method: "POST", cache: "no-store",
        headers: { "Content-Type": "application/json", Accept: "application/json" }, body: JSON.stringify({ name, password }) });
      body = await res.json().catch(() => null);
    } catch (_) { /* unreachable: said below */ }
    btn.disabled = false;
    if (res && res.ok) {
      say("ok", t("login_ok", { name: (body && (body.display_name || body.name)) || name }));
      location.assign(next());
      return;
    }
    $("login-password").value = "";
    if (!res) say("error", t("login_unreachable"));
    else if (res.status === 401) say("error", t("login_wrong"));
    else if (res.status === 403) say("error", t("login_disabled"));
    else if (res.status === 429) say("error", t("login_throttled", { s: res.headers.get("Retry-After") || "60" }));
    else say("error", t("login_failed", { status: String(res.status) }));
    $("login-password").focus();
  }

  async function start() {
    await page.init();
    $("login-form").addEventListener("submit", submit);
  }
  start();
})();
