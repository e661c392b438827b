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
    function poll() {
      getJSON(url + "?from=" + from).then(function (answer) {
        pre.textContent += answer.output;
        from = answer.next;
        document.getElementById("build-status").textContent = answer.status;
        if (answer.status === "pending" || answer.status === "building") { setTimeout(poll, 1000); }
      }).catch(function () { setTimeout(poll, 3000); });
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

// The browser terminal (web/views/terminal.py): start a run attached through pipes, follow
// its output with long polls, send lines, end of input and Ctrl-C.
(function () {
  "use strict";

  function csrf() { return document.querySelector("input[name=csrfmiddlewaretoken]").value; }

  function post(url, body) {
    return fetch(url, { method: "POST", credentials: "same-origin", body: JSON.stringify(body),
                        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() } })
      .then(function (r) { return r.json().then(function (data) { data.httpStatus = r.status; return data; }); });
  }

  function decode(chunk) {
    var raw = atob(chunk);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) { bytes[i] = raw.charCodeAt(i); }
    return bytes;
  }

  function start(section) {
    var base = "/console/apps/" + section.getAttribute("data-app") + "/runs";
    var out = document.getElementById("run-output");
    var status = document.getElementById("run-status");
    var input = document.getElementById("run-input");
    var decoder = new TextDecoder();
    var name = null;

    function follow(cursor) {
      fetch(base + "/" + name + "/output?wait=20&after=" + encodeURIComponent(cursor), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (answer) {
          if (answer.error) { status.textContent = answer.message; return; }
          answer.chunks.forEach(function (c) { out.textContent += decoder.decode(decode(c), { stream: true }); });
          out.scrollTop = out.scrollHeight;
          status.textContent = name + ": " + answer.state + (answer.exit_code === null ? "" : ", exit code " + answer.exit_code);
          if (answer.eof) {
            input.hidden = true;
            // The output can end a moment before the agent reports the exit code: ask again.
            if (answer.exit_code === null && !answer.finished) { setTimeout(function () { follow(answer.cursor); }, 1000); }
            return;
          }
          follow(answer.cursor);
        })
        .catch(function () { setTimeout(function () { follow(cursor); }, 2000); });
    }

    document.getElementById("run-start").addEventListener("submit", function (event) {
      event.preventDefault();
      var command = event.target.elements.command.value;
      out.textContent = "";
      post(base, { command: command }).then(function (run) {
        if (run.error) { status.textContent = run.message; return; }
        name = run.name;
        status.textContent = name + ": " + run.state;
        input.hidden = false;
        follow("0-0");
      });
    });
    input.addEventListener("submit", function (event) {
      event.preventDefault();
      var line = event.target.elements.line.value + "\n";
      event.target.elements.line.value = "";
      var bytes = new TextEncoder().encode(line);
      var text = "";
      bytes.forEach(function (b) { text += String.fromCharCode(b); });
      post(base + "/" + name + "/input", { data: btoa(text) });
    });
    document.getElementById("run-eof").addEventListener("click", function () {
      post(base + "/" + name + "/input", { eof: true });
    });
    document.getElementById("run-interrupt").addEventListener("click", function () {
      post(base + "/" + name + "/input", { signal: "INT" });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var section = document.querySelector("section.terminal");
    if (section) { start(section); }
  });
})();
