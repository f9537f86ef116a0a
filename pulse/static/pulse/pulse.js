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
