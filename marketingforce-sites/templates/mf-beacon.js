/* marketingforce-sites visitor beacon and inquiry forms. No cookies: a random visitor id in
   localStorage, the page view's signed token in sessionStorage. Events: page view (on start),
   cumulative visible time (visibilitychange / pagehide, sent with navigator.sendBeacon), scroll
   depth, page load time, form start and form submit. */
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || !window.fetch) { return; }
  var cfg = me.dataset, base = cfg.endpoint, token = null, queue = [];
  var visibleMs = 0, since = document.visibilityState === "visible" ? Date.now() : 0;
  var depth = 0, started = {};
  function store(kind, key, value) {
    try { if (value === undefined) { return window[kind].getItem(key); } window[kind].setItem(key, value); } catch (e) { return null; }
    return value;
  }
  function randomId() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var s = ""; for (var i = 0; i < 32; i++) { s += Math.floor(Math.random() * 16).toString(16); } return s;
  }
  var visitor = store("localStorage", "mf_vid") || store("localStorage", "mf_vid", randomId());
  function send(events, useBeacon) {
    if (!token) { Array.prototype.push.apply(queue, events); return; }
    var body = JSON.stringify({ token: token, events: events });
    if (useBeacon && navigator.sendBeacon) {
      navigator.sendBeacon(base + "/events", new Blob([body], { type: "text/plain" }));
    } else {
      fetch(base + "/events", { method: "POST", body: body, keepalive: true, headers: { "Content-Type": "text/plain" } });
    }
  }
  function visible() { return visibleMs + (since ? Date.now() - since : 0); }
  function flush() { send([{ type: "dwell", visible_ms: visible() }, { type: "scroll", depth_pct: depth }], true); }
  function measureScroll() {
    var h = document.documentElement.scrollHeight, seen = window.scrollY + window.innerHeight;
    var d = h > 0 ? Math.min(100, Math.round(seen * 100 / h)) : 100;
    if (d > depth) { depth = d; }
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") {
      if (since) { visibleMs += Date.now() - since; since = 0; }
      flush();
    } else if (!since) { since = Date.now(); }
  });
  window.addEventListener("pagehide", function () { if (since) { visibleMs += Date.now() - since; since = 0; } flush(); });
  window.addEventListener("scroll", measureScroll, { passive: true });
  window.addEventListener("load", function () {
    measureScroll();
    var nav = performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
    if (nav && nav.loadEventStart > 0) { send([{ type: "load", ms: Math.round(nav.loadEventStart) }]); }
  });
  if (base) {
    fetch(base + "/start", {
      method: "POST", keepalive: true, headers: { "Content-Type": "text/plain" },
      body: JSON.stringify({
        site: cfg.site, page: cfg.page, locale: cfg.locale, variant: cfg.variant,
        url: location.href, referrer: document.referrer || null, visitor: visitor,
        previous: store("sessionStorage", "mf_tok"), width: window.innerWidth
      })
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (s) {
      if (!s || !s.token) { return; }
      token = s.token; store("sessionStorage", "mf_tok", token);
      window.mfPageView = s.pageview;
      if (queue.length) { var q = queue; queue = []; send(q); }
    }).catch(function () {});
  }
  function showErrors(form, errors) {
    Array.prototype.forEach.call(form.querySelectorAll(".error"), function (e) { e.textContent = ""; });
    (errors || []).forEach(function (e) {
      var input = form.querySelector("[name='" + e.field + "']");
      var slot = input && document.getElementById(input.id + "-error");
      if (slot) { slot.textContent = e.message; } else { form.querySelector(".status").textContent = e.message; }
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("form.mf-form"), function (form) {
    var id = form.dataset.form, submission = randomId();
    form.addEventListener("focusin", function () {
      if (!started[id]) { started[id] = true; send([{ type: "form_start", form: id }]); }
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var fields = {}, data = new FormData(form);
      data.forEach(function (v, k) { if (k.charAt(0) !== "_" && k !== "website") { fields[k] = String(v); } });
      var status = form.querySelector(".status");
      fetch(form.action, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          fields: fields, website: String(data.get("website") || ""), consent: !!data.get("_consent"),
          consent_version: form.dataset.consentVersion, page: cfg.page, locale: cfg.locale,
          variant: cfg.variant, url: location.href, referrer: document.referrer || null,
          visitor: visitor, token: token, submission: submission
        })
      }).then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
        .then(function (res) {
          if (res.ok) {
            showErrors(form, []);
            status.textContent = form.dataset.success;
            send([{ type: "form_submit", form: id }]);
            form.reset(); submission = randomId();
          } else { showErrors(form, res.body.errors || [{ field: "", message: res.body.detail || "" }]); }
        }).catch(function () { status.textContent = "…"; });
    });
  });
})();
