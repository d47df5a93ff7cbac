/* Fixes: a search box backed by /api/recall (ranked, with scores), filters kept in the URL.
   Without a query the server-rendered, paginated list stays as it is. */
(function () {
  "use strict";
  var o = window.obsmem;
  var form = document.querySelector("[data-testid=search-form]");
  var list = document.querySelector("[data-testid=fix-list]");
  var summary = document.querySelector("[data-testid=result-summary]");
  var pager = document.querySelector("[data-testid=pager]");
  var seq = 0;

  /* A recall hit: the fix row plus its relevance (calibrated, 0..1); below the bar it is marked. */
  function hitItem(h) {
    var li = o.fixItem(h.fix, h.score);
    if (typeof h.relevance === "number") {
      var meta = li.querySelector(".meta");
      var rel = o.el("span", { className: "relevance", title: "estimated chance this fix addresses the search (0..1)",
        text: "relevance " + h.relevance.toFixed(2) + (h.below_bar ? " \u00b7 below bar" : "") });
      rel.setAttribute("data-field", "relevance");
      if (meta) { meta.insertBefore(rel, meta.firstChild); }
    }
    if (h.below_bar) { li.classList.add("below-bar"); li.setAttribute("data-below-bar", "true"); }
    return li;
  }

  function search(q) {
    var data = new FormData(form);
    var params = new URLSearchParams({ q: q, k: "15" });
    ["service", "agent"].forEach(function (k) { if (data.get(k)) { params.set(k, data.get(k)); } });
    var wanted = data.get("success");
    if (wanted === "true") { params.set("only_successful", "true"); }
    var mine = ++seq;
    summary.textContent = "Searching\u2026";
    o.api("/api/recall?" + params.toString()).then(function (res) {
      if (mine !== seq) { return; }
      var hits = (res.hits || []).filter(function (h) {
        return wanted === "false" ? h.fix.success === false : true;
      });
      o.replaceChildren(list, hits.map(hitItem),
        o.el("li", { className: "empty", text: "No fixes match." }));
      var served = (res.served_by || []).join(" + ");
      var counted = res.no_match && hits.length
        ? "No good match. Closest: " + hits.length + " fix" + (hits.length === 1 ? "" : "es")
        : hits.length + " ranked match" + (hits.length === 1 ? "" : "es");
      summary.textContent = counted + " for \u201c" + o.short(q, 80) + "\u201d" +
        (served ? " \u00b7 served by " + served : "") + (res.degraded ? " (degraded)" : "");
      summary.setAttribute("data-no-match", res.no_match ? "true" : "false");
      if (pager) { pager.hidden = true; }
      var url = new URL(window.location.href);
      url.search = new URLSearchParams(new FormData(form)).toString();
      history.replaceState(null, "", url);
      list.setAttribute("data-query", q);
    }).catch(function (err) {
      if (mine === seq) { summary.textContent = "Search failed: " + err.message; }
    });
  }

  form.addEventListener("submit", function (ev) {
    var q = form.querySelector("[name=q]").value.trim();
    if (!q) { return; } // plain list: let the server render it
    ev.preventDefault();
    search(q);
  });
  if (o.locked && o.token()) {
    var q0 = form.querySelector("[name=q]").value.trim();
    if (q0) { search(q0); }
  }
})();
