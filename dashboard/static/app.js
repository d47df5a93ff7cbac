/* obsmem dashboard: shared helpers (token, fetch, DOM building, relative times).
   No innerHTML with data: every value goes in through textContent. */
(function () {
  "use strict";
  var TOKEN_KEY = "obsmem.token";

  function token() { try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; } }
  function setToken(value) {
    try { if (value) { sessionStorage.setItem(TOKEN_KEY, value); } else { sessionStorage.removeItem(TOKEN_KEY); } } catch (e) { /* private mode */ }
  }

  function api(path, options) {
    options = options || {};
    var headers = { "Accept": "application/json" };
    if (options.body !== undefined) { headers["Content-Type"] = "application/json"; }
    var t = token();
    if (t) { headers["Authorization"] = "Bearer " + t; }
    return fetch(path, {
      method: options.method || "GET",
      headers: headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: "omit",
      cache: "no-store"
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok && !(options.allow || []).includes(resp.status)) {
          var err = new Error((data.error && data.error.message) || ("HTTP " + resp.status));
          err.status = resp.status;
          err.field = data.error && data.error.field;
          throw err;
        }
        return data;
      });
    });
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) { return; }
      if (k === "text") { node.textContent = v; } else if (k === "className") { node.className = v; } else { node.setAttribute(k, v); }
    });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) { return; }
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function svg(tag, attrs, children) {
    var node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }

  function short(text, n) {
    text = (text || "").replace(/\s+/g, " ").trim();
    return text.length <= n ? text : text.slice(0, n - 1) + "\u2026";
  }
  function pct(v) { return v === null || v === undefined ? "\u2014" : Math.round(v * 100) + "%"; }

  function relative(iso) {
    if (!iso) { return "\u2014"; }
    var t = Date.parse(iso);
    if (isNaN(t)) { return iso; }
    var s = Math.round((Date.now() - t) / 1000);
    var future = s < 0; s = Math.abs(s);
    var out = s < 45 ? "just now" : s < 3600 ? Math.round(s / 60) + " min" : s < 86400 ? Math.round(s / 3600) + " h" : Math.round(s / 86400) + " d";
    return out === "just now" ? out : (future ? "in " + out : out + " ago");
  }
  function timeEl(iso) {
    return el("time", { datetime: iso || "", title: iso || "", "data-relative": "" }, [relative(iso)]);
  }
  function refreshTimes(root) {
    (root || document).querySelectorAll("time[data-relative]").forEach(function (t) {
      var iso = t.getAttribute("datetime");
      if (iso) { t.title = iso; t.textContent = relative(iso); }
    });
  }

  function outcomeBadge(success) {
    if (success === true) { return el("span", { className: "badge ok", text: "worked" }); }
    if (success === false) { return el("span", { className: "badge bad", text: "failed" }); }
    return el("span", { className: "badge muted", text: "unknown" });
  }
  function statusBadge(status) { return el("span", { className: "badge status-" + status, text: status }); }

  function fixItem(f, score, order) {
    var meta = el("p", { className: "meta" }, [
      f.service ? el("span", { className: "chip", title: "service", text: f.service }) : null,
      f.agent ? el("span", { className: "chip agent", title: "agent", text: f.agent }) : null,
      f.success_rate !== null && f.success_rate !== undefined ? el("span", { title: "success rate", text: pct(f.success_rate) + " of " + ((f.successes || 0) + (f.failures || 0)) }) : null,
      score !== undefined ? el("span", { className: "score", title: "recall score", text: "score " + score.toFixed(3) }) : null,
      el("span", { className: "when" }, [order === "last_seen" ? "last seen " : "first seen ",
        timeEl(order === "last_seen" ? (f.last_seen_at || f.created_at) : f.created_at)])
    ]);
    return el("li", { className: "fix", "data-testid": "fix-row", "data-fix-id": f.id }, [
      el("div", { className: "fix-head" }, [
        el("a", { className: "fix-issue", href: "/fixes/" + encodeURIComponent(f.id).replace(/%2F/g, "/"), text: short(f.issue, 160) }),
        outcomeBadge(f.success)
      ]),
      el("p", { className: "fix-solution", text: short(f.solution, 220) }),
      meta
    ]);
  }

  function agentRow(a) {
    return el("tr", { "data-testid": "agent-row", "data-agent": a.name, className: "agent-" + a.status }, [
      el("th", { scope: "row" }, [el("a", { href: "/fixes?agent=" + encodeURIComponent(a.name), title: "fixes " + a.name + " applied", text: a.name })]),
      el("td", { text: a.server || "\u2014" }),
      el("td", {}, [statusBadge(a.status)]),
      el("td", {}, [timeEl(a.last_seen_at)]),
      el("td", { className: "num", text: String(a.fixes_applied || 0) })
    ]);
  }

  function replaceChildren(node, children, emptyNode) {
    while (node.firstChild) { node.removeChild(node.firstChild); }
    if (!children.length && emptyNode) { node.appendChild(emptyNode); }
    children.forEach(function (c) { node.appendChild(c); });
  }

  function initTokenBox() {
    var form = document.querySelector("[data-testid=token-form]");
    if (!form) { return; }
    var input = form.querySelector("input");
    var box = document.querySelector("[data-testid=token-box] summary");
    function mark() { if (box) { box.textContent = token() ? "API token \u2713" : "API token"; } }
    mark();
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      setToken(input.value.trim());
      input.value = "";
      mark();
      document.dispatchEvent(new CustomEvent("obsmem:token"));
    });
    form.querySelector("[data-action=forget-token]").addEventListener("click", function () {
      setToken(""); mark();
    });
  }

  // Long text (a 19k-character issue) is clamped to a few lines with a "show all" toggle.
  function initClamps(root) {
    (root || document).querySelectorAll("[data-clamp]").forEach(function (node) {
      if (node.getAttribute("data-clamp-ready")) { return; }
      node.setAttribute("data-clamp-ready", "true");
      node.classList.add("clamped");
      if (node.scrollHeight <= node.clientHeight + 2) { node.classList.remove("clamped"); return; }
      var btn = el("button", { type: "button", className: "secondary small show-all", "data-testid": "show-all",
                               "aria-expanded": "false", text: "show all" });
      btn.addEventListener("click", function () {
        var open = node.classList.toggle("clamped") === false;
        btn.textContent = open ? "show less" : "show all (" + node.textContent.length.toLocaleString() + " characters)";
        btn.setAttribute("aria-expanded", String(open));
      });
      btn.textContent = "show all (" + node.textContent.length.toLocaleString() + " characters)";
      node.parentNode.insertBefore(btn, node.nextSibling);
    });
  }

  window.obsmem = {
    api: api, el: el, svg: svg, short: short, pct: pct, relative: relative, timeEl: timeEl,
    refreshTimes: refreshTimes, fixItem: fixItem, agentRow: agentRow, statusBadge: statusBadge,
    outcomeBadge: outcomeBadge, replaceChildren: replaceChildren, token: token,
    locked: document.body.getAttribute("data-locked") === "true"
  };
  initTokenBox();
  initClamps();
  refreshTimes();
  setInterval(refreshTimes, 30000);
})();
