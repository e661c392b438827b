// The browser terminal (web/views/terminal.py): a run started on a real tty, drawn by the
// vendored xterm.js. Keystrokes go to the API's input handler as bytes, in order, batched
// while a post is in flight; the output is followed with the API's long poll until the run
// has ended, then the page stops asking (and it stops on any refusal or when it is left).
(function () {
  "use strict";

  var MAX_SEND = 64 * 1024;  // platform/runio.py's MAX_INPUT
  var ENDED_CHECKS = 30;     // after the output ended, how often to ask for the exit code (once a second)

  function csrf() { return document.querySelector("input[name=csrfmiddlewaretoken]").value; }

  function post(url, body) {
    return fetch(url, { method: "POST", credentials: "same-origin", body: JSON.stringify(body),
                        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() } })
      .then(answerOf);
  }

  // Every answer of the terminal's endpoints is JSON ({"error", "message"} when refused); anything
  // else (a proxy's page, a server error) is reported as its status, never parsed as output.
  function answerOf(response) {
    var json = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
    if (!json) { return { error: "http", message: "the console answered HTTP " + response.status }; }
    return response.json();
  }

  function fromBase64(chunk) {
    var raw = atob(chunk);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) { bytes[i] = raw.charCodeAt(i); }
    return bytes;
  }

  function toBase64(bytes) {
    var text = "";
    for (var i = 0; i < bytes.length; i += 1) { text += String.fromCharCode(bytes[i]); }
    return btoa(text);
  }

  function hexBytes(hex) {
    var bytes = new Uint8Array(hex.length / 2);
    for (var i = 0; i < bytes.length; i += 1) { bytes[i] = parseInt(hex.substr(i * 2, 2), 16); }
    return bytes;
  }

  // Input in order: one post at a time, what is typed meanwhile goes in the next one.
  function Sender(onError) {
    var pending = [];
    var busy = false;
    var url = null;
    function flush() {
      if (busy || !url || !pending.length) { return; }
      var size = Math.min(MAX_SEND, pending.length);
      var batch = Uint8Array.from(pending.splice(0, size));
      busy = true;
      post(url, { data: toBase64(batch) }).then(function (answer) {
        busy = false;
        if (answer.error) { onError(answer.message); pending = []; return; }
        flush();
      }, function () { busy = false; onError("input not sent: the console is unreachable"); });
    }
    return {
      to: function (inputUrl) { url = inputUrl; pending = []; },
      bytes: function (bytes) { for (var i = 0; i < bytes.length; i += 1) { pending.push(bytes[i]); } flush(); },
      stop: function () { url = null; pending = []; }
    };
  }

  function start(section) {
    var base = "/console/apps/" + section.getAttribute("data-app") + "/runs";
    var status = document.getElementById("run-status");
    var keys = document.getElementById("run-keys");
    var screen = document.getElementById("terminal");
    var encoder = new TextEncoder();
    var term = null;
    var fit = null;
    var run = null;   // {name, input, poll: AbortController, ended}
    var sender = Sender(function (message) { status.textContent = message; });

    function say(answer) {
      status.textContent = run.name + ": " + answer.state + (answer.exit_code === null ? "" : ", exit code " + answer.exit_code);
    }

    function finish(message) {
      if (message) { status.textContent = message; }
      keys.hidden = true;
      sender.stop();
      run = null;
    }

    // The output after ``cursor``; once it ended, only the run's state until its exit code is known.
    function follow(current, cursor, checks, failures) {
      if (run !== current) { return; }
      var wait = current.ended ? 0 : 20;
      current.poll = new AbortController();
      fetch(base + "/" + current.name + "/output?wait=" + wait + "&after=" + encodeURIComponent(cursor),
            { credentials: "same-origin", signal: current.poll.signal })
        .then(answerOf)
        .then(function (answer) {
          if (run !== current) { return; }
          if (answer.error) { finish(answer.message); return; }
          answer.chunks.forEach(function (c) { term.write(fromBase64(c)); });
          say(answer);
          current.ended = current.ended || answer.eof;
          if (answer.exit_code !== null || answer.finished) { finish(); return; }
          if (!current.ended) { follow(current, answer.cursor, 0, 0); return; }
          if (checks >= ENDED_CHECKS) { finish(status.textContent + " (its exit code has not come yet)"); return; }
          setTimeout(function () { follow(current, answer.cursor, checks + 1, 0); }, 1000);
        }, function () {
          if (run !== current) { return; }
          if (failures >= 5) { finish("the console is unreachable: reload the page to look again"); return; }
          setTimeout(function () { follow(current, cursor, checks, failures + 1); }, 2000 * (failures + 1));
        });
    }

    function sendSize() {
      if (run) { post(run.input, { resize: [term.rows, term.cols] }); }
      section.setAttribute("data-rows", term.rows);
      section.setAttribute("data-cols", term.cols);
    }

    function openTerminal() {
      if (term) { term.reset(); return; }
      // What the run prints is the app's, so hostile: an OSC 8 hyperlink it prints opens nothing
      // (xterm.js would offer to navigate), and its window-title sequences are not listened to.
      term = new window.Terminal({ cursorBlink: true, scrollback: 5000, fontSize: 14,
                                   fontFamily: "ui-monospace, monospace",
                                   linkHandler: { activate: function () {} } });
      fit = new window.FitAddon.FitAddon();
      term.loadAddon(fit);
      term.open(screen);
      term.onData(function (data) { sender.bytes(encoder.encode(data)); });
      term.onBinary(function (data) { sender.bytes(Uint8Array.from(data, function (c) { return c.charCodeAt(0) & 255; })); });
      term.onResize(sendSize);
      var pending = null;
      window.addEventListener("resize", function () {
        clearTimeout(pending);
        pending = setTimeout(function () { fit.fit(); }, 150);
      });
      fit.fit();
    }

    document.getElementById("run-start").addEventListener("submit", function (event) {
      event.preventDefault();
      if (run && run.poll) { run.poll.abort(); }
      finish("");
      openTerminal();
      post(base, { command: event.target.elements.command.value }).then(function (answer) {
        if (answer.error) { status.textContent = answer.message; return; }
        run = { name: answer.name, input: base + "/" + answer.name + "/input", ended: false };
        sender.to(run.input);
        say(answer);
        sendSize();
        keys.hidden = false;
        term.focus();
        follow(run, "0-0", 0, 0);
      });
    });
    keys.addEventListener("click", function (event) {
      var hex = event.target.getAttribute("data-send");
      if (hex && run) { sender.bytes(hexBytes(hex)); term.focus(); }
    });
    window.addEventListener("pagehide", function () {
      if (run && run.poll) { run.poll.abort(); }
      run = null;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var section = document.querySelector("section.terminal");
    if (section) { start(section); }
  });
})();
