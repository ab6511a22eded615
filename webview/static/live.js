/* MC Hub: phase changes said aloud through the page's one polite live region (#live-status in
   base.html). app.js's poll redraws the cluster body or the dashboard; this script watches those
   redraws and puts a short sentence in the region when what a person would be told has changed:
   - cluster page: #cluster-body's data-announce, written by the server (macros.announce), e.g.
     "Building: 10 of 17 done", "Cluster built", "Build failed: ...";
   - dashboard: "<cluster>: <status>" for each cluster whose status chip changed.
   Unchanged text is never said again, and progress within a phase at most every PROGRESS_GAP ms,
   so a screen reader is not talked over every second. What the page says at load is not repeated. */
"use strict";

(function () {
  const PROGRESS_GAP = 10000;

  function announcer() {
    const region = document.getElementById("live-status");
    let said = null;
    let saidAt = 0;
    let later = null;
    function put(text) {
      clearTimeout(later);
      later = null;
      if (!region || !text || text === said) return;
      said = text;
      saidAt = Date.now();
      region.textContent = text;
    }
    return {
      known(text) { said = text; }, // what the page already shows: not to be said
      now: put,
      // progress within one phase: now if it has been quiet a while, else once the gap is over
      soon(text) {
        const wait = saidAt + PROGRESS_GAP - Date.now();
        if (wait <= 0) return put(text);
        clearTimeout(later);
        later = setTimeout(() => put(text), wait);
      },
    };
  }

  function clusterPage(say) {
    const root = document.getElementById("cluster");
    if (!root) return;
    const state = () => {
      const body = document.getElementById("cluster-body");
      return body ? { phase: body.dataset.phase, text: body.dataset.announce || "" } : null;
    };
    let before = state();
    if (before) say.known(before.text);
    new MutationObserver(() => {
      const now = state();
      if (!now || (before && now.text === before.text)) return;
      if (before && now.phase === before.phase && now.phase.endsWith("_running")) say.soon(now.text);
      else say.now(now.text);
      before = now;
    }).observe(root, { childList: true });
  }

  function dashboard(say) {
    const root = document.getElementById("dashboard");
    if (!root) return;
    const chips = () => {
      const seen = new Map();
      root.querySelectorAll("tr[data-cluster]").forEach((row) => {
        const chip = row.querySelector(".chip");
        seen.set(row.dataset.cluster, chip ? chip.textContent.trim() : "");
      });
      return seen;
    };
    let before = chips();
    new MutationObserver(() => {
      const now = chips();
      const changed = [];
      now.forEach((label, name) => {
        if (before.get(name) !== label) changed.push(`${name}: ${label}`);
      });
      before = now;
      if (changed.length) say.now(changed.join("; "));
    }).observe(root, { childList: true, subtree: true });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const say = announcer();
    clusterPage(say);
    dashboard(say);
  });
})();
