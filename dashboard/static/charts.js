/* Charts (Chart.js, served from /static/vendor): fixes per day stacked by outcome, with the
   day's success rate as a line on its own 0-100 % axis. Hover (or tap) shows the day's
   numbers in an HTML box under the cursor; every day of the window is on the x axis. */
(function () {
  "use strict";
  var o = window.obsmem;
  var box = document.querySelector("[data-testid=chart]");
  var select = document.querySelector("[data-testid=chart-days]");
  var tip = document.querySelector("[data-testid=chart-tooltip]");
  var summary = document.querySelector("[data-testid=chart-summary]");
  var chart = null;
  if (!box) { return; }
  if (!window.Chart) {
    summary.textContent = "The chart library is missing from /static/vendor: run `make run` (or `make vendor`) to install the dashboard's JS libraries.";
    return;
  }

  function css(name, fallback) {
    var v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
  }
  var C = { ok: css("--ok", "#1f9d55"), bad: css("--bad", "#d64545"), unk: css("--unk", "#9aa3b5"),
            text: css("--text", "#1c2333"), muted: css("--muted", "#5d6780"), line: css("--line", "#dfe4ee") };

  function fillDays(rows, days) {
    var byDay = {};
    rows.forEach(function (r) { if (r.t) { byDay[r.t.slice(0, 10)] = r; } });
    var out = [];
    var today = new Date();
    for (var i = days - 1; i >= 0; i--) {
      var d = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - i));
      var key = d.toISOString().slice(0, 10);
      var r = byDay[key] || { fixes: 0, successes: 0, failures: 0 };
      var s = r.successes || 0, f = r.failures || 0;
      out.push({ day: key, fixes: r.fixes || 0, successes: s, failures: f,
                 unknown: Math.max(0, (r.fixes || 0) - s - f), rate: s + f ? s / (s + f) : null });
    }
    return out;
  }

  function dayText(r) {
    return [r.day, r.fixes + " fix" + (r.fixes === 1 ? "" : "es"), r.successes + " worked", r.failures + " failed",
            r.unknown + " unknown", "success rate " + (r.rate === null ? "\u2014" : Math.round(r.rate * 100) + "%")];
  }

  // The tooltip is HTML (textContent only), so it is readable, selectable and testable.
  function external(rows) {
    return function (ctx) {
      var t = ctx.tooltip;
      if (!t || t.opacity === 0 || !t.dataPoints || !t.dataPoints.length) { tip.hidden = true; return; }
      var r = rows[t.dataPoints[0].dataIndex];
      var lines = dayText(r);
      o.replaceChildren(tip, [o.el("strong", { text: lines[0] })].concat(lines.slice(1).map(function (l) { return o.el("div", { text: l }); })));
      tip.setAttribute("data-day", r.day);
      tip.hidden = false;
      var x = t.caretX + 12, maxX = box.clientWidth - tip.offsetWidth - 4;
      tip.style.left = Math.max(0, Math.min(x, maxX)) + "px";
      tip.style.top = Math.max(0, t.caretY - tip.offsetHeight / 2) + "px";
    };
  }

  function draw(rows, days) {
    var total = rows.reduce(function (a, r) { return a + r.fixes; }, 0);
    var s = rows.reduce(function (a, r) { return a + r.successes; }, 0);
    var f = rows.reduce(function (a, r) { return a + r.failures; }, 0);
    summary.textContent = total + " fixes in the last " + days + " days (by day first seen, UTC); " + s + " worked, " + f + " failed" +
      (s + f ? " \u2014 " + Math.round((100 * s) / (s + f)) + "% success" : "") + ".";
    var labels = rows.map(function (r) { return r.day.slice(5); });
    var data = {
      labels: labels,
      datasets: [
        { type: "line", label: "success rate", data: rows.map(function (r) { return r.rate === null ? null : Math.round(r.rate * 100); }),
          yAxisID: "rate", borderColor: C.text, backgroundColor: C.text, pointRadius: 2.5, borderWidth: 2, spanGaps: true, order: 0 },
        { type: "bar", label: "worked", data: rows.map(function (r) { return r.successes; }), backgroundColor: C.ok, stack: "f", yAxisID: "y", order: 1 },
        { type: "bar", label: "failed", data: rows.map(function (r) { return r.failures; }), backgroundColor: C.bad, stack: "f", yAxisID: "y", order: 1 },
        { type: "bar", label: "unknown", data: rows.map(function (r) { return r.unknown; }), backgroundColor: C.unk, stack: "f", yAxisID: "y", order: 1 }
      ]
    };
    var options = {
      responsive: true, maintainAspectRatio: false, animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { labels: { color: C.text, boxWidth: 12 } },
                 tooltip: { enabled: false, external: external(rows) } },
      scales: {
        x: { stacked: true, ticks: { color: C.muted, autoSkip: true, maxRotation: 0 }, grid: { display: false } },
        y: { stacked: true, beginAtZero: true, title: { display: true, text: "fixes", color: C.muted },
             ticks: { color: C.muted, precision: 0 }, grid: { color: C.line } },
        rate: { position: "right", min: 0, max: 100, title: { display: true, text: "success %", color: C.muted },
                ticks: { color: C.muted, stepSize: 25, callback: function (v) { return v + "%"; } }, grid: { display: false } }
      }
    };
    if (chart) { chart.destroy(); }
    var canvas = box.querySelector("canvas");
    chart = new window.Chart(canvas, { data: data, options: options });
    window.obsmemChart = chart;
    box.setAttribute("data-days", String(days));
    box.setAttribute("data-ready", "true");
  }

  function load() {
    var days = parseInt(select.value, 10);
    o.api("/api/stats?days=" + days).then(function (res) { draw(fillDays(res.over_time || [], days), days); })
      .catch(function (err) { summary.textContent = "No chart: " + err.message; });
  }
  box.addEventListener("mouseleave", function () { tip.hidden = true; });
  select.addEventListener("change", load);
  document.addEventListener("obsmem:token", load);
  if (!o.locked || o.token()) { load(); }
})();
