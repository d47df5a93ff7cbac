/* A fix's page: evidence bar and feedback buttons (the graph is explorer.js). */
(function () {
  "use strict";
  var o = window.obsmem;
  var fixId = document.querySelector("[data-testid=fix-detail]").getAttribute("data-fix-id");

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

})();
