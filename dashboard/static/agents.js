/* Agents: register one through the API (needs the token when one is configured). */
(function () {
  "use strict";
  var o = window.obsmem;
  var form = document.querySelector("[data-testid=register-form]");
  var status = document.querySelector("[data-testid=register-status]");
  var tbody = document.querySelector("[data-testid=agents-page-table] tbody");

  function reload() {
    return o.api("/api/agents").then(function (res) {
      o.replaceChildren(tbody, (res.agents || []).map(o.agentRow),
        o.el("tr", { className: "empty" }, [o.el("td", { colspan: "5", text: "No agents yet." })]));
    });
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var body = { name: form.elements.name.value.trim() };
    if (form.elements.server.value.trim()) { body.server = form.elements.server.value.trim(); }
    o.api("/api/register-agent", { method: "POST", body: body }).then(function (res) {
      status.textContent = "Registered " + res.agent.name + ".";
      form.reset();
      return reload();
    }).catch(function (err) {
      status.textContent = err.status === 401 ? "A token is needed: paste it under API token." : "Could not register: " + err.message;
    });
  });
  if (o.locked && o.token()) { reload(); }
  document.addEventListener("obsmem:token", function () { if (o.locked) { reload(); } });
})();
