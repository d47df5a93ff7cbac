/* Overview: re-read /api/state every few seconds and update the page in place. */
(function () {
  "use strict";
  var o = window.obsmem;
  var PERIOD_MS = 5000;

  function setText(sel, text) { var n = document.querySelector(sel); if (n) { n.textContent = text; } }

  function render(s) {
    var badge = document.querySelector("[data-testid=health-status]");
    badge.textContent = s.status;
    badge.className = "badge status-" + s.status;
    var lc = document.querySelector("[data-testid=last-check]");
    lc.setAttribute("datetime", s.last_check || "");
    ["graph", "vectors"].forEach(function (name) {
      var st = (s.stores || {})[name] || {};
      var card = document.querySelector("[data-testid=store-" + name + "]");
      card.className = "card store " + (st.ok ? "up" : "down");
      card.querySelector("[data-field=state]").textContent = st.ok ? "up" : "down";
      card.querySelector("[data-field=backend]").textContent = st.backend || "\u2014";
      card.querySelector("[data-field=latency]").textContent = st.latency_ms === null || st.latency_ms === undefined ? "\u2014" : st.latency_ms.toFixed(1) + " ms";
    });
    var ob = s.outbox || {};
    setText("[data-testid=outbox-depth]", String(ob.total || 0));
    setText("[data-testid=outbox] [data-field=dead]", String(ob.dead_letters_total || 0));
    var c = s.counts || {};
    setText("[data-testid=count-fixes]", String(c.fixes || 0));
    setText("[data-testid=count-agents]", String(c.agents || 0));
    setText("[data-testid=count-outcomes]", String(c.outcomes || 0));
    setText("[data-testid=success-rate]", o.pct(c.success_rate));
    if (s.disk) {
      setText("[data-testid=disk] [data-field=free]", String(s.disk.free_pct));
      setText("[data-testid=disk] [data-field=data]", (s.disk.data_dir_bytes / 1048576).toFixed(1) + " MB");
    }
    o.replaceChildren(document.querySelector("[data-testid=agents-table] tbody"),
      (s.agents || []).map(o.agentRow),
      o.el("tr", { className: "empty" }, [o.el("td", { colspan: "5", text: "No agents yet." })]));
    o.replaceChildren(document.querySelector("[data-testid=recent-fixes]"),
      (s.recent_fixes || []).map(function (f) { return o.fixItem(f); }),
      o.el("li", { className: "empty", text: "Nothing remembered yet." }));
    o.refreshTimes();
    document.body.setAttribute("data-refreshed", s.generated_at || "");
  }

  function tick() {
    if (document.hidden || (o.locked && !o.token())) { return; }
    o.api("/api/state").then(render).catch(function (err) {
      var badge = document.querySelector("[data-testid=health-status]");
      badge.textContent = err.status === 401 ? "token needed" : "unreachable";
      badge.className = "badge status-unhealthy";
    });
  }
  if (o.locked && o.token()) { tick(); }
  document.addEventListener("obsmem:token", tick);
  document.addEventListener("visibilitychange", tick);
  setInterval(tick, PERIOD_MS);
})();
