// The console's few live parts, in plain JavaScript: confirmations, revealing config
// values, following a running build's output and tailing logs. Nothing is loaded from
// another host; every request goes to this origin with the session cookie.
(function () {
  "use strict";

  function csrfToken() {
    var field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() } }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    });
  }

  // Forms that change something big ask first (rollback, unset, remove, maintenance).
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  });

  function revealConfig(button) {
    var table = document.querySelector("table.config");
    getJSON(table.getAttribute("data-reveal-url")).then(function (values) {
      table.querySelectorAll("td.value").forEach(function (cell) {
        var key = cell.getAttribute("data-key");
        cell.textContent = Object.prototype.hasOwnProperty.call(values, key) ? values[key] : "";
      });
      button.remove();
    });
  }

  function followBuild(pre) {
    var from = Number(pre.getAttribute("data-from")) || 0;
    var url = pre.getAttribute("data-follow");
    var failures = 0;
    function poll() {
      getJSON(url + "?from=" + from).then(function (answer) {
        failures = 0;
        pre.textContent += answer.output;
        from = answer.next;
        document.getElementById("build-status").textContent = answer.status;
        if (answer.status === "pending" || answer.status === "building") { setTimeout(poll, 1000); }
      }).catch(function () {
        // A refusal or an unreachable console: a few tries, then the page stops asking.
        failures += 1;
        if (failures < 5) { setTimeout(poll, 3000 * failures); }
      });
    }
    poll();
  }

  function tailLogs(pre) {
    var url = pre.getAttribute("data-tail");
    var cursor = null;
    var paused = false;
    var toggle = document.getElementById("tail-toggle");
    toggle.addEventListener("click", function () {
      paused = !paused;
      toggle.textContent = paused ? "Resume" : "Pause";
    });
    function show(line) {
      var text = (line.process || line.source || "") + " " + (line.line || "") + "\n";
      pre.appendChild(document.createTextNode(text));
      while (pre.childNodes.length > 1000) { pre.removeChild(pre.firstChild); }
    }
    function poll() {
      if (paused) { setTimeout(poll, 1000); return; }
      getJSON(cursor ? url + "?after=" + encodeURIComponent(cursor) : url).then(function (answer) {
        answer.lines.forEach(show);
        cursor = answer.cursor;
        if (answer.lines.length) { pre.scrollTop = pre.scrollHeight; }
        setTimeout(poll, 1500);
      }).catch(function () { setTimeout(poll, 5000); });
    }
    poll();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var reveal = document.querySelector("button.reveal");
    if (reveal) { reveal.addEventListener("click", function () { revealConfig(reveal); }); }
    var build = document.querySelector("pre[data-follow]");
    if (build) { followBuild(build); }
    var tail = document.querySelector("pre[data-tail]");
    if (tail) { tailLogs(tail); }
  });
})();

