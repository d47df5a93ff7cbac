/* obsmem dashboard: the degraded banner follows /health between page loads.
   The server renders the banner when a read on this page met a store that is out;
   this script shows it (with the reason) when a store goes out later, and removes it
   once every store answers again. No innerHTML: text goes in through textContent. */
(function () {
  "use strict";
  var POLL_MS = 5000;

  function describe(stores) {
    var parts = [];
    Object.keys(stores).forEach(function (name) {
      var s = stores[name] || {};
      if (s.ok) { return; }
      var text = "the " + name + " store is " + (s.state || "down");
      if (s.since) { text += " since " + s.since; }
      if (s.error) { text += " (" + s.error + ")"; }
      parts.push(text);
    });
    return parts.length ? parts.join("; ") + "; answers come from the store that is up" : "";
  }

  function banner() { return document.querySelector("[data-testid=degraded-banner]"); }

  function show(reason) {
    var el = banner();
    if (!el) {
      el = document.createElement("p");
      el.className = "banner warn";
      el.setAttribute("data-testid", "degraded-banner");
      el.setAttribute("role", "alert");
      var strong = document.createElement("strong");
      strong.textContent = "Degraded:";
      var span = document.createElement("span");
      span.setAttribute("data-degraded-reason", "");
      el.appendChild(strong);
      el.appendChild(document.createTextNode(" "));
      el.appendChild(span);
      var main = document.getElementById("main");
      main.parentNode.insertBefore(el, main);
    }
    el.querySelector("[data-degraded-reason]").textContent = reason;
  }

  function hide() { var el = banner(); if (el) { el.remove(); } }

  function poll() {
    var headers = { "Accept": "application/json" };
    var t = "";
    try { t = sessionStorage.getItem("obsmem.token") || ""; } catch (e) { /* private mode */ }
    if (t) { headers["Authorization"] = "Bearer " + t; }
    fetch("/health", { headers: headers, credentials: "omit", cache: "no-store" })
      .then(function (resp) { return resp.json(); })
      .then(function (report) {
        if (!report || !report.stores) { return; }  /* reads locked: nothing precise to say */
        var reason = describe(report.stores);
        if (reason) { show(reason); } else { hide(); }
      })
      .catch(function () { /* the server itself is away: the page keeps what it has */ });
  }

  window.setInterval(poll, POLL_MS);
})();
