/* The dashboard's "Customize" mode: drag widgets to reorder them (sortablejs; the new
 * order is saved at once through reports:dashboard_reorder), load the "Add widget" and
 * "Publish…" dialogs on first use. Width, period and remove buttons are plain htmx.
 * The grid's widgets draw their charts through report_chart.js. */
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root) return;
  var grid = document.getElementById("dashboard-grid");
  var toggle = document.getElementById("dashboard-customize");
  var sortable = null;
  var dialogsLoaded = false;

  function csrfToken() {
    var input = document.querySelector("[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function loadDialogs() {
    if (dialogsLoaded || !window.htmx) return;
    dialogsLoaded = true;
    window.htmx.ajax("GET", root.dataset.dialogsUrl, { target: "#dashboard-dialogs", swap: "innerHTML" });
  }

  function saveOrder() {
    var body = new URLSearchParams();
    Array.prototype.forEach.call(grid.querySelectorAll(":scope > [data-id]"), function (card) {
      body.append("id", card.dataset.id);
    });
    root.dataset.saving = "1";
    fetch(root.dataset.reorderUrl, {
      method: "POST",
      body: body,
      headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" },
      credentials: "same-origin"
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (result) {
      delete root.dataset.saving;
      // A first change copies the published dashboard into the user's own: new ids.
      if (!result.ok || result.data.reload) {
        window.location.href = window.location.pathname + "?customize=1";
      } else {
        root.dataset.saved = String(Number(root.dataset.saved || 0) + 1);
      }
    }).catch(function () { window.location.reload(); });
  }

  function setCustomizing(on) {
    root.classList.toggle("customizing", on);
    if (toggle) toggle.setAttribute("aria-pressed", on ? "true" : "false");
    if (on) {
      loadDialogs();
      if (!sortable && window.Sortable) {
        sortable = window.Sortable.create(grid, {
          handle: ".drag-handle",
          draggable: ".dashboard-widget",
          animation: 150,
          onEnd: function (event) { if (event.oldIndex !== event.newIndex) saveOrder(); }
        });
      }
      if (sortable) sortable.option("disabled", false);
    } else if (sortable) {
      sortable.option("disabled", true);
    }
    // Keep the mode in the address, so a reload (and a width change's response) keeps it.
    var url = new URL(window.location.href);
    if (on) url.searchParams.set("customize", "1"); else url.searchParams.delete("customize");
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
  }

  if (toggle) {
    toggle.addEventListener("click", function () {
      setCustomizing(!root.classList.contains("customizing"));
    });
  }
  root.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches("[data-confirm]") && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });
  if (root.classList.contains("customizing")) setCustomizing(true);
})();
