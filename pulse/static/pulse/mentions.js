/* @mention autocomplete for every textarea[data-mentions] (also ones htmx adds later).
 *
 * Typing "@" and a few letters lists the organization's members; choosing one inserts
 * the canonical mention "@[Full Name](id)" that the server parses and notifies. The
 * member search URL comes from the textarea's data-mentions value, else from this
 * script tag's data-url. Keys: ↑/↓ move, Enter/Tab choose, Esc closes.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var defaultUrl = script ? script.getAttribute("data-url") : "";
  var emptyText = script ? script.getAttribute("data-empty") || "" : "";
  var menu = null, target = null, items = [], active = 0, timer = null, seq = 0;

  function urlFor(area) {
    var own = area.getAttribute("data-mentions");
    return own && own !== "true" && own !== "1" ? own : defaultUrl;
  }

  // The "@query" right before the caret, or null. The query may hold spaces (full names)
  // but no newline or "@", and "@" must start the text or follow a space or bracket.
  function pending(area) {
    var before = area.value.slice(0, area.selectionStart);
    var m = /(^|[\s(>])@([^\s@\[\]()<>][^@\n\[\]()<>]{0,40})?$/.exec(before);
    if (!m) return null;
    return { start: before.length - (m[2] || "").length - 1, query: m[2] || "" };
  }

  function close() {
    if (menu) menu.remove();
    menu = null; target = null; items = []; active = 0;
  }

  function render(area) {
    if (!menu) {
      menu = document.createElement("div");
      menu.className = "dropdown-menu show shadow-sm pulse-mention-menu";
      menu.setAttribute("role", "listbox");
      menu.style.position = "absolute";
      menu.style.zIndex = 1080;
      document.body.appendChild(menu);
    }
    var box = area.getBoundingClientRect();
    menu.style.left = window.scrollX + box.left + "px";
    menu.style.top = window.scrollY + box.bottom + 2 + "px";
    menu.style.minWidth = Math.min(box.width, 320) + "px";
    menu.innerHTML = "";
    if (!items.length) {
      var none = document.createElement("span");
      none.className = "dropdown-item-text text-body-secondary small";
      none.textContent = emptyText;
      menu.appendChild(none);
      return;
    }
    items.forEach(function (item, index) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "dropdown-item d-flex flex-column" + (index === active ? " active" : "");
      button.setAttribute("role", "option");
      button.setAttribute("aria-selected", index === active ? "true" : "false");
      var name = document.createElement("span");
      name.textContent = item.name;
      var email = document.createElement("small");
      email.className = index === active ? "" : "text-body-secondary";
      email.textContent = item.email;
      button.appendChild(name);
      button.appendChild(email);
      button.addEventListener("mousedown", function (event) {
        event.preventDefault();  // keep the textarea's focus and caret
        choose(index);
      });
      menu.appendChild(button);
    });
  }

  function choose(index) {
    var area = target, item = items[index];
    if (!area || !item) return close();
    var at = pending(area);
    if (!at) return close();
    var caret = area.selectionStart;
    var text = item.mention + " ";
    area.value = area.value.slice(0, at.start) + text + area.value.slice(caret);
    var pos = at.start + text.length;
    area.setSelectionRange(pos, pos);
    area.dispatchEvent(new Event("input", { bubbles: true }));
    close();
    area.focus();
  }

  function search(area) {
    var at = pending(area);
    var url = urlFor(area);
    if (!at || !url) return close();
    clearTimeout(timer);
    var mine = ++seq;
    timer = setTimeout(function () {
      var full = url + (url.indexOf("?") < 0 ? "?" : "&") + "q=" + encodeURIComponent(at.query);
      fetch(full, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : { results: [] }; })
        .then(function (data) {
          if (mine !== seq || document.activeElement !== area) return;
          target = area; items = data.results || []; active = 0;
          render(area);
        })
        .catch(close);
    }, 150);
  }

  document.addEventListener("input", function (event) {
    var area = event.target;
    if (area.matches && area.matches("textarea[data-mentions]")) search(area);
  });

  document.addEventListener("keydown", function (event) {
    if (!menu || event.target !== target) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!items.length) return;
      event.preventDefault();
      active = (active + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      render(target);
    } else if ((event.key === "Enter" || event.key === "Tab") && items.length) {
      event.preventDefault();
      choose(active);
    } else if (event.key === "Escape") {
      event.preventDefault();
      close();
    }
  });

  document.addEventListener("focusout", function (event) {
    if (event.target === target) setTimeout(close, 100);
  });
  window.addEventListener("resize", close);
})();
