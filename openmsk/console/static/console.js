// openmsk console: copy buttons, auto-submitting selects, and live refresh of [data-refresh] blocks.
"use strict";
(function () {
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("[data-copy]");
    if (!b) return;
    var text = b.getAttribute("data-copy");
    var done = function () { var old = b.textContent; b.textContent = "Copied"; setTimeout(function () { b.textContent = old; }, 1200); };
    if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text).then(done, done); return; }
    var area = document.createElement("textarea");
    area.value = text; document.body.appendChild(area); area.select();
    try { document.execCommand("copy"); } catch (e) { /* the value stays selectable on the page */ }
    document.body.removeChild(area); done();
  });
  document.addEventListener("change", function (ev) {
    if (ev.target.matches("select[data-autosubmit]")) ev.target.form.submit();
  });
  // Live pages: every 5 s fetch the same URL and swap each [data-refresh] element by id, unless the
  // user is working inside it (focus) -- forms being filled in are never replaced.
  var main = document.getElementById("main");
  if (!main || !main.hasAttribute("data-live")) return;
  var busy = false;
  setInterval(function () {
    if (busy || document.hidden) return;
    busy = true;
    fetch(location.href, { credentials: "same-origin", headers: { "X-Console-Refresh": "1" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        doc.querySelectorAll("[data-refresh][id]").forEach(function (fresh) {
          var old = document.getElementById(fresh.id);
          if (!old || old.contains(document.activeElement) || old.querySelector("details[open]")) return;
          old.replaceWith(document.importNode(fresh, true));
        });
        document.querySelectorAll("[data-refresh][id]").forEach(function (el) {
          if (!doc.getElementById(el.id)) { /* gone on the server: keep until reload */ }
        });
        var stamp = doc.querySelector("footer");
        if (stamp) document.querySelector("footer").textContent = stamp.textContent;
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }, 5000);
})();
