/* Graph explorer (cytoscape.js, served from /static/vendor): start from a fix, agent,
   service or issue signature; click a node to expand its neighbours from /api/explore;
   edges coloured by outcome; wheel/pinch to zoom, drag to pan. Labels keep a readable
   on-screen size at any zoom, so a phone shows text, not specks. */
(function () {
  "use strict";
  var o = window.obsmem;
  var box = document.querySelector("[data-testid=explorer]");
  if (!box) { return; }
  if (!window.cytoscape) {
    box.querySelector("[data-testid=explorer-status]").textContent =
      "The graph library is missing from /static/vendor: run `make run` (or `make vendor`) to install the dashboard's JS libraries.";
    return;
  }
  var canvas = box.querySelector("[data-testid=explorer-canvas]");
  var panel = box.querySelector("[data-testid=explorer-panel]");
  var list = box.querySelector("[data-testid=explorer-list]");
  var status = box.querySelector("[data-testid=explorer-status]");
  var start = box.getAttribute("data-start");
  var LIMIT = 40;
  var expanded = {};
  var cy = null;

  function css(name, fallback) {
    var v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
  }
  var C = {
    ok: css("--ok", "#1f9d55"), bad: css("--bad", "#d64545"), warn: css("--warn", "#c98a00"),
    unk: css("--unk", "#9aa3b5"), text: css("--text", "#1c2333"), card: css("--card", "#fff"),
    accent: css("--accent", "#3b6fd8"), line: css("--line", "#dfe4ee")
  };
  var KIND_COLOUR = { fix: C.card, agent: C.accent, service: "#8b5cf6", issue: "#0e9aa7" };
  var OUTCOME = { worked: C.ok, failed: C.bad, mixed: C.warn, unknown: C.unk };

  function fixHref(key) { return "/fixes/" + encodeURIComponent(key).replace(/%2F/g, "/"); }
  function href(n) {
    if (n.kind === "fix") { return fixHref(n.key); }
    if (n.kind === "agent") { return "/fixes?agent=" + encodeURIComponent(n.key); }
    if (n.kind === "service") { return "/fixes?service=" + encodeURIComponent(n.key); }
    return null;
  }
  function outcomeOf(n) {
    return n.success === true ? "worked" : n.success === false ? "failed" : "unknown";
  }

  function toElements(hood) {
    var out = [];
    hood.nodes.forEach(function (n) {
      if (cy && cy.getElementById(n.id).length) { return; }
      out.push({ group: "nodes", data: {
        id: n.id, kind: n.kind, key: n.key, label: o.short(String(n.label || n.key), 28),
        full: String(n.label || n.key), outcome: n.kind === "fix" ? outcomeOf(n) : "none",
        occurrences: n.occurrences || 0
      } });
    });
    hood.edges.forEach(function (e) {
      if (cy && cy.getElementById(e.id).length) { return; }
      out.push({ group: "edges", data: {
        id: e.id, source: e.source, target: e.target, type: e.type, outcome: e.outcome || "unknown",
        label: e.type === "APPLIED" && (e.worked || e.failed) ? (e.worked || 0) + "\u2713 " + (e.failed || 0) + "\u2717" : ""
      } });
    });
    return out;
  }

  function style() {
    return [
      { selector: "node", style: {
        "background-color": function (n) { return KIND_COLOUR[n.data("kind")] || C.unk; },
        "border-width": 3, "border-color": function (n) {
          return n.data("kind") === "fix" ? OUTCOME[n.data("outcome")] : KIND_COLOUR[n.data("kind")];
        },
        "label": "data(label)", "color": C.text, "font-size": 12, "text-valign": "bottom",
        "text-margin-y": 4, "text-wrap": "ellipsis", "text-max-width": 160,
        "text-background-color": C.card, "text-background-opacity": 0.85, "text-background-padding": 2,
        "width": 26, "height": 26,
        "shape": function (n) {
          return { fix: "ellipse", agent: "round-rectangle", service: "hexagon", issue: "diamond" }[n.data("kind")] || "ellipse";
        }
      } },
      { selector: "node.start", style: { "width": 38, "height": 38, "border-width": 5 } },
      { selector: "node:selected", style: { "overlay-color": C.accent, "overlay-opacity": 0.25, "overlay-padding": 6 } },
      { selector: "node.expanded", style: { "border-style": "double" } },
      { selector: "edge", style: {
        "width": 2.5, "line-color": function (e) { return OUTCOME[e.data("outcome")] || C.unk; },
        "target-arrow-shape": "triangle", "target-arrow-color": function (e) { return OUTCOME[e.data("outcome")] || C.unk; },
        "curve-style": "bezier", "label": "data(label)", "font-size": 10, "color": C.text,
        "text-background-color": C.card, "text-background-opacity": 0.85
      } },
      // last, so they win over the label rules above
      { selector: "node.quiet", style: { "label": "" } },
      { selector: "edge.quiet", style: { "label": "" } }
    ];
  }

  // Keep labels about 12 px on screen whatever the zoom.
  function keepLabelsReadable() {
    var z = cy.zoom();
    cy.style().selector("node").style({ "font-size": Math.max(8, 12 / z), "text-max-width": 160 / z })
      .selector("edge").style({ "font-size": Math.max(7, 10 / z) }).update();
  }

  // In a crowd, fix labels and edge counts show on hover or selection only.
  var CROWD = 16;
  function declutter() {
    var crowded = cy.nodes().length > CROWD;
    cy.batch(function () {
      cy.nodes("[kind = 'fix']").forEach(function (n) {
        n.toggleClass("quiet", crowded && !n.hasClass("start") && !n.selected() && !n.hasClass("hover"));
      });
      cy.edges().forEach(function (e) {
        var hot = e.source().hasClass("hover") || e.target().hasClass("hover") || e.source().selected() || e.target().selected();
        e.toggleClass("quiet", crowded && !hot);
      });
    });
  }

  function relayout(centre) {
    var opts = { name: "cose", animate: false, randomize: false, nodeRepulsion: function () { return 9000; },
                 idealEdgeLength: function () { return 90; }, fit: true, padding: 30 };
    cy.layout(opts).run();
    if (centre) { cy.center(centre); }
    keepLabelsReadable();
    declutter();
  }

  function setStatus(text) { status.textContent = text; }

  function renderList() {
    var items = cy.nodes().sort(function (a, b) {
      return a.data("kind").localeCompare(b.data("kind")) || a.data("full").localeCompare(b.data("full"), undefined, { numeric: true });
    }).map(function (n) {
      var link = href(n.data());
      var name = link ? o.el("a", { href: link, text: n.data("full") }) : o.el("span", { text: n.data("full") });
      var btn = o.el("button", { type: "button", className: "secondary small", "data-testid": "explorer-expand",
                                 "data-node": n.id(), text: expanded[n.id()] ? "expanded" : "expand" });
      btn.disabled = !!expanded[n.id()];
      btn.addEventListener("click", function () { expand(n.id()); });
      return o.el("li", { "data-testid": "explorer-item", "data-node": n.id(), "data-kind": n.data("kind") },
                  [o.el("span", { className: "chip", text: n.data("kind") }), name, " ", btn]);
    });
    o.replaceChildren(list, items);
    box.setAttribute("data-nodes", String(cy.nodes().length));
  }

  function showPanel(n) {
    var d = n.data();
    var link = href(d);
    var facts = [o.el("p", {}, [o.el("span", { className: "chip", text: d.kind }), o.el("strong", { text: d.full })])];
    if (d.kind === "fix") { facts.push(o.el("p", { className: "muted", text: "outcome: " + d.outcome + " \u00b7 seen " + d.occurrences + "\u00d7" })); }
    var deg = n.connectedEdges();
    facts.push(o.el("p", { className: "muted", text: deg.length + " connection" + (deg.length === 1 ? "" : "s") + " shown" + (expanded[d.id] ? "" : " \u00b7 click again or use expand for more") }));
    if (link) { facts.push(o.el("p", {}, [o.el("a", { href: link, "data-testid": "explorer-open", text: d.kind === "fix" ? "Open this fix" : "Fixes of this " + d.kind })])); }
    o.replaceChildren(panel, facts);
  }

  function expand(id) {
    if (expanded[id]) { return Promise.resolve(); }
    setStatus("Expanding\u2026");
    return o.api("/api/explore?node=" + encodeURIComponent(id) + "&limit=" + LIMIT).then(function (hood) {
      expanded[id] = true;
      var before = cy.nodes().length;
      var node = cy.getElementById(id);
      var pos = node.length ? node.position() : { x: 0, y: 0 };
      var added = cy.add(toElements(hood).map(function (el) {
        if (el.group === "nodes") { el.position = { x: pos.x + (Math.random() - 0.5) * 80, y: pos.y + (Math.random() - 0.5) * 80 }; }
        return el;
      }));
      if (node.length) { node.addClass("expanded"); }
      var grown = cy.nodes().length - before;
      relayout();
      renderList();
      setStatus(grown ? grown + " new neighbour" + (grown === 1 ? "" : "s") + (hood.truncated ? " (first " + LIMIT + " only)" : "") : "No new neighbours.");
      return added;
    }).catch(function (err) { setStatus("Could not expand: " + err.message); });
  }

  function load() {
    setStatus("Loading graph\u2026");
    o.api("/api/explore?node=" + encodeURIComponent(start) + "&limit=" + LIMIT).then(function (hood) {
      if (cy) { cy.destroy(); }
      expanded = {};
      expanded[hood.start] = true;
      o.replaceChildren(canvas, []);
      // cytoscape injects an inline <style> unless this id exists; the CSP forbids inline
      // styles, and style.css already has its one rule (position: relative).
      if (!document.getElementById("__________cytoscape_stylesheet")) {
        document.head.appendChild(o.el("meta", { id: "__________cytoscape_stylesheet", name: "cytoscape-style", content: "in style.css" }));
      }
      cy = window.cytoscape({ container: canvas, elements: toElements(hood), style: style(),
                              minZoom: 0.2, maxZoom: 3, wheelSensitivity: 0.3 });
      window.obsmemExplorer = cy;
      cy.getElementById(hood.start).addClass("start expanded");
      cy.on("tap", "node", function (ev) {
        var n = ev.target;
        showPanel(n);
        expand(n.id()).then(function () { showPanel(n); });
      });
      cy.on("zoom", keepLabelsReadable);
      cy.on("mouseover", "node", function (ev) { ev.target.addClass("hover"); declutter(); });
      cy.on("mouseout", "node", function (ev) { ev.target.removeClass("hover"); declutter(); });
      cy.on("select unselect", "node", declutter);
      relayout();
      renderList();
      box.setAttribute("data-ready", "true");
      showPanel(cy.getElementById(hood.start));
      setStatus(hood.nodes.length + " nodes. Click a node to expand it; scroll or pinch to zoom; drag to pan.");
    }).catch(function (err) {
      setStatus(err.status === 404 ? "Nothing in the graph for " + start + "." : "No graph: " + err.message);
    });
  }

  box.querySelector("[data-action=fit]").addEventListener("click", function () { if (cy) { cy.fit(undefined, 30); keepLabelsReadable(); } });
  box.querySelector("[data-action=reset]").addEventListener("click", load);
  if (start && (!o.locked || o.token())) { load(); }
  document.addEventListener("obsmem:token", function () { if (start) { load(); } });
})();
