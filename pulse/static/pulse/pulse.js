// Keyboard shortcuts: "/" focuses global search; "g" then a letter navigates.
(function () {
  const goTargets = { h: "/", c: "/contacts/", o: "/companies/", t: "/tags/", n: "/notifications/" };
  let pendingG = false;
  document.addEventListener("keydown", function (event) {
    const tag = (event.target.tagName || "").toLowerCase();
    if (["input", "textarea", "select"].includes(tag) || event.target.isContentEditable) return;
    if (event.key === "/") {
      const box = document.getElementById("global-search");
      if (box) { event.preventDefault(); box.focus(); }
      return;
    }
    if (pendingG && goTargets[event.key]) { window.location.href = goTargets[event.key]; }
    pendingG = event.key === "g";
  });
  document.addEventListener("click", function (event) {
    const dropdown = document.getElementById("search-dropdown");
    if (dropdown && !event.target.closest(".pulse-search")) dropdown.innerHTML = "";
  });
})();

// Quick-create dialogs ("+ New" in the top bar, or "n c" / "n o"): htmx fills the modal;
// a created record closes it and shows a toast linking to the record.
(function () {
  const newTargets = { c: "c", o: "o", l: "l", d: "d" };
  let pendingN = false;
  function modalElement() { return document.getElementById("quick-create-modal"); }

  function openQuickCreate(letter) {
    const trigger = document.querySelector('[data-quick-create="' + letter + '"]');
    if (trigger) trigger.click();
  }
  document.addEventListener("keydown", function (event) {
    const tag = (event.target.tagName || "").toLowerCase();
    if (["input", "textarea", "select"].includes(tag) || event.target.isContentEditable) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (pendingN && newTargets[event.key]) { event.preventDefault(); openQuickCreate(newTargets[event.key]); }
    pendingN = event.key === "n";
  });

  // The company picker searches the server with tom-select, which list pages load and
  // others do not: load it on first use.
  function withTomSelect(callback) {
    if (window.TomSelect) { callback(); return; }
    const modal = modalElement();
    if (!modal) return;
    if (!document.querySelector('link[href="' + modal.dataset.tomSelectCss + '"]')) {
      const css = document.createElement("link");
      css.rel = "stylesheet"; css.href = modal.dataset.tomSelectCss;
      document.head.appendChild(css);
    }
    const script = document.createElement("script");
    script.src = modal.dataset.tomSelectJs;
    script.onload = callback;
    document.head.appendChild(script);
  }
  function initRemoteSelects(root) {
    root.querySelectorAll("select[data-remote-url]").forEach(function (el) {
      if (el.tomselect) return;
      const url = el.dataset.remoteUrl;
      new TomSelect(el, {
        valueField: "value", labelField: "text", searchField: ["text"],
        allowEmptyOption: true, preload: "focus", loadThrottle: 250,
        dropdownParent: "body",
        load: function (query, callback) {
          fetch(url + "?q=" + encodeURIComponent(query), { headers: { "Accept": "application/json" } })
            .then(function (r) { return r.json(); })
            .then(function (json) { callback(json.results); })
            .catch(function () { callback(); });
        },
      });
    });
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id !== "quick-create-content") return;
    const modal = modalElement();
    if (!modal || !window.bootstrap) return;
    bootstrap.Modal.getOrCreateInstance(modal).show();
    const content = event.detail.target;
    if (content.querySelector("select[data-remote-url]")) withTomSelect(function () { initRemoteSelects(content); });
    const first = content.querySelector("input:not([type=hidden]), select");
    if (first) setTimeout(function () { first.focus(); }, 200);
  });

  function toast(message, url, label) {
    const area = document.getElementById("pulse-toasts");
    if (!area || !window.bootstrap) return;
    const el = document.createElement("div");
    el.className = "toast align-items-center text-bg-success border-0";
    el.setAttribute("role", "status");
    el.dataset.testid = "toast";
    const row = document.createElement("div");
    row.className = "d-flex";
    const body = document.createElement("div");
    body.className = "toast-body";
    body.textContent = message + " ";
    if (url) {
      const link = document.createElement("a");
      link.href = url; link.className = "link-light fw-semibold"; link.textContent = label || url;
      body.appendChild(link);
    }
    const close = document.createElement("button");
    close.type = "button"; close.className = "btn-close btn-close-white me-2 m-auto";
    close.setAttribute("data-bs-dismiss", "toast"); close.setAttribute("aria-label", "Close");
    row.appendChild(body); row.appendChild(close); el.appendChild(row);
    area.appendChild(el);
    el.addEventListener("hidden.bs.toast", function () { el.remove(); });
    bootstrap.Toast.getOrCreateInstance(el, { delay: 8000 }).show();
  }
  document.addEventListener("pulse:quickCreated", function (event) {
    const detail = event.detail || {};
    const modal = modalElement();
    if (modal && window.bootstrap) bootstrap.Modal.getOrCreateInstance(modal).hide();
    toast(detail.message, detail.url, detail.label);
    // A list page shows the new record at once.
    const filters = document.getElementById("filter-form");
    if (filters && window.htmx) htmx.trigger(filters, "submit");
  });
})();

// Further emails on the contact form: "Add email" appends a blank row, × removes one
// (without script the form still works: a blank last row, clear an address to drop it).
(function () {
  document.addEventListener("click", function (event) {
    const add = event.target.closest("[data-other-email-add]");
    if (add) {
      const box = add.closest("[data-other-emails]");
      const template = box.querySelector("template[data-other-email-template]");
      const rows = box.querySelector("[data-other-email-rows]");
      rows.appendChild(template.content.cloneNode(true));
      const inputs = rows.querySelectorAll("input[type=email]");
      if (inputs.length) inputs[inputs.length - 1].focus();
      return;
    }
    const remove = event.target.closest("[data-other-email-remove]");
    if (remove) {
      const row = remove.closest("[data-other-email-row]");
      const rows = row.parentElement;
      row.remove();
      if (!rows.querySelector("[data-other-email-row]")) {
        const template = rows.closest("[data-other-emails]").querySelector("template[data-other-email-template]");
        rows.appendChild(template.content.cloneNode(true));
      }
    }
  });
})();
