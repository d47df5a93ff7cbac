/* A fix's page: the SVG neighbourhood (agents, services, related fixes) and feedback buttons. */
(function () {
  "use strict";
  var o = window.obsmem;
  var box = document.querySelector("[data-testid=fix-graph]");
  var fixId = box.getAttribute("data-fix-id");
  var W = 640, H = 440, CX = W / 2, CY = H / 2;
  var KIND_ORDER = { agent: 0, service: 1, issue: 2, fix: 3 };

  function kindClass(kind) {
    kind = (kind || "").toLowerCase();
    return ["fix", "agent", "service"].indexOf(kind) >= 0 ? kind : "other";
  }

  function layout(graph) {
    var adj = {};
    graph.nodes.forEach(function (n) { adj[n.id] = []; });
    graph.edges.forEach(function (e) {
      if (adj[e.source] && adj[e.target]) { adj[e.source].push(e.target); adj[e.target].push(e.source); }
    });
    var centre = adj["fix:" + fixId] ? "fix:" + fixId : adj[fixId] ? fixId : (graph.nodes[0] && graph.nodes[0].id);
    var depth = {}; depth[centre] = 0;
    var queue = [centre];
    while (queue.length) {
      var cur = queue.shift();
      adj[cur].forEach(function (nb) { if (depth[nb] === undefined) { depth[nb] = depth[cur] + 1; queue.push(nb); } });
    }
    var rings = {};
    graph.nodes.forEach(function (n) {
      var d = depth[n.id] === undefined ? 3 : Math.min(depth[n.id], 3);
      (rings[d] = rings[d] || []).push(n);
    });
    var pos = {};
    var radius = { 0: 0, 1: 120, 2: 195, 3: 205 };
    Object.keys(rings).forEach(function (d) {
      var ring = rings[d].sort(function (a, b) {
        return (KIND_ORDER[a.kind] || 9) - (KIND_ORDER[b.kind] || 9) || String(a.label).localeCompare(String(b.label));
      });
      ring.forEach(function (n, i) {
        var angle = -Math.PI / 2 + (2 * Math.PI * i) / ring.length + (d % 2 ? 0 : Math.PI / ring.length);
        var r = radius[d];
        pos[n.id] = { x: CX + r * Math.cos(angle) * 1.35, y: CY + r * Math.sin(angle) * 0.95 };
      });
    });
    return { pos: pos, centre: centre };
  }

  function draw(graph) {
    var lay = layout(graph);
    var root = o.svg("svg", { viewBox: "0 0 " + W + " " + H, class: "graph-svg", "data-testid": "graph-svg", "aria-hidden": "true" });
    var edges = o.svg("g", { class: "edges" });
    graph.edges.forEach(function (e) {
      var a = lay.pos[e.source], b = lay.pos[e.target];
      if (!a || !b) { return; }
      edges.appendChild(o.svg("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: "edge" }, [o.svg("title", { text: e.type })]));
    });
    root.appendChild(edges);
    graph.nodes.forEach(function (n) {
      var p = lay.pos[n.id];
      var kind = kindClass(n.kind);
      var isCentre = n.id === lay.centre;
      var g = o.svg("g", { class: "node " + kind + (isCentre ? " centre" : ""), transform: "translate(" + p.x.toFixed(1) + "," + p.y.toFixed(1) + ")", "data-testid": "graph-node", "data-kind": kind });
      g.appendChild(o.svg("circle", { r: isCentre ? 16 : 10 }));
      g.appendChild(o.svg("title", { text: n.kind + ": " + n.label }));
      g.appendChild(o.svg("text", { y: isCentre ? 32 : 24, "text-anchor": "middle", text: o.short(String(n.label), isCentre ? 34 : 22) }));
      if (kind === "fix" && !isCentre) {
        var link = o.svg("a", { href: "/fixes/" + (n.fix_id || String(n.id).replace(/^fix:/, "")) });
        link.appendChild(g);
        root.appendChild(link);
      } else {
        root.appendChild(g);
      }
    });
    o.replaceChildren(box, [root]);
  }

  function load() {
    o.api("/api/graph/" + fixId).then(draw).catch(function (err) {
      o.replaceChildren(box, [o.el("p", { className: "muted", text: "No graph: " + err.message })]);
    });
  }

  var fill = document.querySelector(".rate-fill");
  if (fill && fill.getAttribute("data-rate")) { fill.style.width = (parseFloat(fill.getAttribute("data-rate")) * 100).toFixed(0) + "%"; }

  var status = document.querySelector("[data-testid=feedback-status]");
  document.querySelectorAll("[data-feedback]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var ok = btn.getAttribute("data-feedback") === "true";
      o.api("/api/fixes/" + fixId + "/feedback", { method: "POST", body: { success: ok } }).then(function (res) {
        status.textContent = "Thanks \u2014 recorded" + (res.pending && res.pending.length ? " (pending in " + res.pending.join(", ") + ")" : "") + ". Reload to see it counted.";
      }).catch(function (err) {
        status.textContent = err.status === 401 ? "A token is needed: paste it under API token." : "Could not record: " + err.message;
      });
    });
  });

  if (!o.locked || o.token()) { load(); }
  document.addEventListener("obsmem:token", load);
})();
