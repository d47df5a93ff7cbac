/* Charts: fixes per day as stacked bars (worked / failed / unknown) with the success rate as a line.
   Drawn as plain SVG from /api/stats; no chart library. */
(function () {
  "use strict";
  var o = window.obsmem;
  var box = document.querySelector("[data-testid=chart]");
  var select = document.querySelector("[data-testid=chart-days]");
  var W = 760, H = 300, M = { l: 44, r: 44, t: 16, b: 36 };

  function draw(rows) {
    var iw = W - M.l - M.r, ih = H - M.t - M.b;
    var max = Math.max(1, Math.max.apply(null, rows.map(function (r) { return r.fixes || 0; })));
    var nice = Math.pow(10, Math.floor(Math.log10(max)));
    max = Math.ceil(max / nice) * nice;
    var root = o.svg("svg", { viewBox: "0 0 " + W + " " + H, class: "chart-svg", "data-testid": "chart-svg" });
    var axes = o.svg("g", { class: "axes" });
    for (var i = 0; i <= 4; i++) {
      var y = M.t + ih - (ih * i) / 4;
      axes.appendChild(o.svg("line", { x1: M.l, x2: W - M.r, y1: y, y2: y, class: "grid" }));
      axes.appendChild(o.svg("text", { x: M.l - 6, y: y + 4, "text-anchor": "end", text: String(Math.round((max * i) / 4)) }));
      axes.appendChild(o.svg("text", { x: W - M.r + 6, y: y + 4, text: (25 * i) + "%" }));
    }
    root.appendChild(axes);
    if (!rows.length) {
      root.appendChild(o.svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty", text: "No fixes in this window" }));
      o.replaceChildren(box, [root]);
      return;
    }
    var step = iw / rows.length, bw = Math.min(36, Math.max(2, step * 0.7));
    var bars = o.svg("g", { class: "bars" });
    var points = [];
    var labelEvery = Math.ceil(rows.length / 8);
    rows.forEach(function (r, idx) {
      var x = M.l + idx * step + (step - bw) / 2;
      var succ = r.successes || 0, fail = r.failures || 0, unk = Math.max(0, (r.fixes || 0) - succ - fail);
      var base = M.t + ih;
      [["ok", succ], ["bad", fail], ["unknown", unk]].forEach(function (part) {
        if (!part[1]) { return; }
        var h = (ih * part[1]) / max;
        base -= h;
        bars.appendChild(o.svg("rect", { x: x.toFixed(1), y: base.toFixed(1), width: bw.toFixed(1), height: h.toFixed(1), class: "bar " + part[0], "data-testid": "chart-bar" },
          [o.svg("title", { text: (r.t || "").slice(0, 10) + ": " + part[1] + " " + (part[0] === "ok" ? "worked" : part[0] === "bad" ? "failed" : "unknown") })]));
      });
      if (succ + fail > 0) {
        points.push((M.l + idx * step + step / 2).toFixed(1) + "," + (M.t + ih - (ih * succ) / (succ + fail)).toFixed(1));
      }
      if (idx % labelEvery === 0) {
        bars.appendChild(o.svg("text", { x: M.l + idx * step + step / 2, y: H - M.b + 16, "text-anchor": "middle", class: "tick", text: (r.t || "").slice(5, 10) }));
      }
    });
    root.appendChild(bars);
    if (points.length) {
      root.appendChild(o.svg("polyline", { points: points.join(" "), class: "rate-line", "data-testid": "chart-rate" }));
      points.forEach(function (p) { var xy = p.split(","); root.appendChild(o.svg("circle", { cx: xy[0], cy: xy[1], r: 3, class: "rate-dot" })); });
    }
    o.replaceChildren(box, [root]);
  }

  function fillDays(rows, days) {
    var byDay = {};
    rows.forEach(function (r) { if (r.t) { byDay[r.t.slice(0, 10)] = r; } });
    var out = [];
    var today = new Date();
    for (var i = days - 1; i >= 0; i--) {
      var d = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - i));
      var key = d.toISOString().slice(0, 10);
      out.push(byDay[key] || { t: key, fixes: 0, successes: 0, failures: 0 });
    }
    return out;
  }

  function load() {
    var days = parseInt(select.value, 10);
    o.api("/api/stats?days=" + days).then(function (res) { draw(fillDays(res.over_time || [], days)); })
      .catch(function (err) { o.replaceChildren(box, [o.el("p", { className: "muted", text: "No chart: " + err.message })]); });
  }
  select.addEventListener("change", load);
  document.addEventListener("obsmem:token", load);
  if (!o.locked || o.token()) { load(); }
})();
