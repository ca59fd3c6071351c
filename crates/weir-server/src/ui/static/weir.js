// Weir's one script: live updates over server-sent events. Pages work without it; it
// only keeps open views current (grid and run states, a running try's log).
"use strict";
(function () {
  const SYMBOLS = {
    success: "✓", failed: "✗", upstream_failed: "⚠", running: "▶", queued: "…",
    scheduled: "◷", up_for_retry: "↻", up_for_reschedule: "⟳", skipped: "⤼",
    removed: "–", deferred: "⏸", restarting: "↺",
  };
  function paint(el, state) {
    if (!el || el.dataset.state === state) return;
    el.dataset.state = state;
    const rect = el.querySelector("rect");
    if (rect) {
      // An SVG node or bar: its rect is coloured, its text.sym holds the symbol.
      rect.setAttribute("class", "st-" + state);
      const sym = el.querySelector("text.sym");
      if (sym) sym.textContent = SYMBOLS[state] || "·";
      const title = el.querySelector("title");
      if (title) title.textContent = title.textContent.replace(/: [a-z_]+/, ": " + state);
      return;
    }
    const square = el.querySelector(".st") || el;
    square.className = square.className.replace(/\bst-\S+/g, "").trim() + " st-" + state;
    square.textContent = SYMBOLS[state] || "·";
    const label = square.getAttribute("aria-label");
    if (label) square.setAttribute("aria-label", label.replace(/: [a-z_]+$/, ": " + state));
    if (square.title) square.title = square.title.replace(/[a-z_]+$/, state);
  }
  function esc(s) { return window.CSS && CSS.escape ? CSS.escape(s) : s.replace(/"/g, '\\"'); }
  function followStates(url) {
    const source = new EventSource(url);
    source.addEventListener("states", (event) => {
      const data = JSON.parse(event.data);
      for (const [run, task, state] of data.tis) {
        document.querySelectorAll('[data-run-id="' + esc(run) + '"][data-task-id="' + esc(task) + '"]')
          .forEach((el) => paint(el, state));
      }
      for (const [run, state] of data.runs) {
        document.querySelectorAll('[data-run-state-of="' + esc(run) + '"]').forEach((el) => paint(el, state));
      }
      if (data.new_runs) {
        const notice = document.getElementById("new-runs");
        if (notice) notice.hidden = false;
      }
    });
  }
  function followLog(pre) {
    const source = new EventSource(pre.dataset.follow);
    const atBottom = () => pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 20;
    source.onmessage = (event) => {
      const stick = atBottom();
      pre.append(document.createTextNode(JSON.parse(event.data)));
      if (stick) pre.scrollTop = pre.scrollHeight;
    };
    source.addEventListener("end", () => {
      source.close();
      const status = document.getElementById("log-status");
      if (status) status.textContent = "The try has ended; this is its whole log.";
    });
  }
  document.addEventListener("DOMContentLoaded", () => {
    const live = document.body.dataset.live;
    if (live && window.EventSource) followStates(live);
    const log = document.getElementById("log");
    if (log && log.dataset.follow && window.EventSource) followLog(log);
  });
})();
