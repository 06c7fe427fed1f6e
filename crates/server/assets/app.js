// Switchyard's own script: keyboard shortcuts. Everything works without
// it; htmx (loaded beside it) does the partial updates.
(function () {
  "use strict";
  var pendingG = false;

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("table.queue a.rowlink"));
  }

  function move(step) {
    var links = rows();
    if (!links.length) return;
    var at = links.indexOf(document.activeElement);
    var next = links[Math.max(0, Math.min(links.length - 1, at + step))] || links[0];
    links.forEach(function (a) { a.closest("tr").classList.remove("selected"); });
    next.closest("tr").classList.add("selected");
    next.focus();
  }

  function focusShortcut(key) {
    var el = document.querySelector('[data-shortcut="' + key + '"]');
    if (el) { el.focus(); return true; }
    return false;
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    if (pendingG) {
      pendingG = false;
      if (e.key === "q") { window.location.href = "/console"; e.preventDefault(); }
      return;
    }
    switch (e.key) {
      case "/": case "c": case "a":
        if (focusShortcut(e.key)) e.preventDefault();
        break;
      case "j": move(1); e.preventDefault(); break;
      case "k": move(-1); e.preventDefault(); break;
      case "g": pendingG = true; break;
      case "?":
        var d = document.getElementById("shortcuts");
        if (d && d.showModal) { d.showModal(); e.preventDefault(); }
        break;
    }
  });
})();
