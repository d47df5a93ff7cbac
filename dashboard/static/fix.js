/* A fix's page: evidence bar and feedback buttons (the graph is explorer.js). */
(function () {
  "use strict";
  var o = window.obsmem;
  var fixId = document.querySelector("[data-testid=fix-detail]").getAttribute("data-fix-id");

  var fill = document.querySelector(".rate-fill");
  if (fill && fill.getAttribute("data-rate")) { fill.style.width = (parseFloat(fill.getAttribute("data-rate")) * 100).toFixed(0) + "%"; }

  // Feedback with a trail: who (a name kept in localStorage, else "dashboard") and one vote
  // per visit (a key kept in sessionStorage); the server changes the vote on a second click.
  var status = document.querySelector("[data-testid=feedback-status]");
  var nameInput = document.querySelector("[data-testid=feedback-name]");
  var NAME_KEY = "obsmem.voter", SESSION_KEY = "obsmem.vote-session";
  function stored(store, key) { try { return store.getItem(key) || ""; } catch (e) { return ""; } }
  function keep(store, key, value) { try { if (value) { store.setItem(key, value); } else { store.removeItem(key); } } catch (e) { /* private mode */ } }
  function sessionKey() {
    var k = stored(sessionStorage, SESSION_KEY);
    if (!k) {
      var bytes = new Uint8Array(12);
      crypto.getRandomValues(bytes);
      k = Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
      keep(sessionStorage, SESSION_KEY, k);
    }
    return k;
  }
  if (nameInput) {
    nameInput.value = stored(localStorage, NAME_KEY);
    nameInput.addEventListener("change", function () { keep(localStorage, NAME_KEY, nameInput.value.trim()); });
  }

  function renderDetail(detail) {
    var f = detail.fix;
    var figures = document.querySelector("[data-testid=fix-figures]");
    if (figures) {
      o.replaceChildren(figures, [o.el("strong", { text: o.pct(f.success_rate) }), document.createTextNode(
        " worked \u00b7 " + (f.successes || 0) + " \u2713 \u00b7 " + (f.failures || 0) + " \u2717 \u00b7 seen " + (f.occurrences || 0) + "\u00d7")]);
    }
    if (fill) { fill.style.width = ((f.success_rate || 0) * 100).toFixed(0) + "%"; }
    var body = document.querySelector("[data-testid=outcomes-table] tbody");
    var rows = (detail.outcomes || []).map(function (x) {
      return o.el("tr", { "data-testid": "outcome-row", "data-agent": x.agent || "" }, [
        o.el("td", {}, [o.timeEl(x.at)]), o.el("td", { text: x.agent || "\u2014" }), o.el("td", {}, [o.outcomeBadge(x.success)])]);
    });
    o.replaceChildren(body, rows, o.el("tr", { className: "empty" }, [o.el("td", { colspan: "3", text: "No outcomes yet." })]));
    var chips = document.querySelector("[data-testid=fix-agents]");
    if (chips) {
      o.replaceChildren(chips, (detail.agents || []).map(function (a) { return o.el("span", { className: "chip agent", text: a }); }),
        o.el("span", { className: "muted", text: "No agent has reported an outcome." }));
    }
  }

  function unauthorised() {
    return o.token()
      ? "The token was refused: check the one under API token (it must equal OBSMEM_API_TOKEN)."
      : "A token is needed to record feedback: paste it under API token.";
  }

  document.querySelectorAll("[data-feedback]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var ok = btn.getAttribute("data-feedback") === "true";
      var who = (nameInput && nameInput.value.trim()) || "dashboard";
      if (nameInput) { keep(localStorage, NAME_KEY, nameInput.value.trim()); }
      status.textContent = "Recording\u2026";
      o.api("/api/fixes/" + fixId + "/feedback", { method: "POST", body: { success: ok, agent: who, vote: sessionKey() } }).then(function (res) {
        var said = ok ? "\u201cit worked\u201d" : "\u201cit didn't\u201d";
        var msg = res.vote === "unchanged" ? "Your vote was already " + said + "."
          : res.vote === "changed" ? "Vote changed to " + said + " as " + who + "."
          : "Recorded " + said + " as " + who + ".";
        if (res.pending && res.pending.length) { msg += " (queued for " + res.pending.join(", ") + ")"; }
        status.textContent = msg;
        document.querySelectorAll("[data-feedback]").forEach(function (b) { b.setAttribute("aria-pressed", String(b === btn)); });
        return o.api("/api/fixes/" + fixId).then(renderDetail);
      }).catch(function (err) {
        status.textContent = err.status === 401 ? unauthorised() : "Could not record: " + err.message;
      });
    });
  });
})();
