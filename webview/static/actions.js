/* MC Hub web view: every action acknowledged at once (webview/acks.py, webview/actions.py).
   - A button that posts (Spawn, Save, Destroy, Approve, Retry now, Forget) says what it is doing
     and is disabled until the next page, so a second click cannot send it twice.
   - The notice the redirect carries ("Change saved, planning...") goes once the polled status
     (app.js's "mchub:status" event) moves on from the mark it was taken against: the same rule
     as acks.mark on the server.
   - Leaving the cluster form with unsaved changes asks first (not after submitting it). */
"use strict";

(function () {
  const BUSY = [
    [/^\/clusters\/new$/, "Spawning…"],
    [/^\/clusters\/[^/]+\/edit$/, "Saving…"],
    [/^\/clusters\/[^/]+\/destroy$/, "Destroying…"],
    [/^\/clusters\/[^/]+\/approve$/, "Approving…"],
    [/^\/clusters\/[^/]+\/retry$/, "Retrying…"],
    [/^\/clusters\/[^/]+\/forget$/, "Forgetting…"],
  ];

  function busyLabel(form) {
    if ((form.getAttribute("method") || "").toLowerCase() !== "post") return null;
    const path = new URL(form.action, location.href).pathname;
    const hit = BUSY.find(([re]) => re.test(path));
    return hit ? hit[1] : null;
  }

  /* ---- buttons in progress ------------------------------------------------------------ */
  document.addEventListener("submit", (e) => {
    const form = e.target;
    const label = busyLabel(form);
    if (!label) return;
    const button = e.submitter || form.querySelector('button[type="submit"], button:not([type])');
    // After the event: the form's data is taken first (a disabled button would not be sent), and
    // a check that stops the submit (the form's own validation) has had its say.
    setTimeout(() => {
      if (e.defaultPrevented || !button) return;
      button.dataset.idleLabel = button.textContent;
      button.textContent = label;
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      form.setAttribute("aria-busy", "true");
    }, 0);
  });
  // Back to a page kept in the browser's cache: its buttons work again.
  window.addEventListener("pageshow", (e) => {
    if (!e.persisted) return;
    document.querySelectorAll("button[data-idle-label]").forEach((b) => {
      b.textContent = b.dataset.idleLabel;
      b.disabled = false;
      b.removeAttribute("aria-busy");
      delete b.dataset.idleLabel;
    });
  });

  /* ---- the notice of an action, until the status shows the hub took it up ------------- */
  function mark(kind, s) {
    if (kind === "retry") return String(s.updated_at || "-");
    const parts = [s.status, s.reason, String(s.observed_hash || "-").slice(0, 12), s.run_id];
    return parts.map((p) => String(p || "-")).join(".");
  }

  function forgetQuery() {
    const url = new URL(location.href);
    if (!url.searchParams.has("done") && !url.searchParams.has("forgot")) return;
    ["done", "from", "forgot"].forEach((k) => url.searchParams.delete(k));
    history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  }

  function acknowledgements() {
    const ack = document.getElementById("ack");
    const root = document.getElementById("cluster");
    // A notice is shown once (a reload or a bookmark does not bring it back), but one that waits
    // for the hub stays in the address until then: a reload meanwhile still shows it.
    if (!ack || !root || !ack.classList.contains("waiting")) {
      forgetQuery();
      return;
    }
    root.addEventListener("mchub:status", (e) => {
      if (!ack.isConnected || mark(ack.dataset.kind, e.detail) === ack.dataset.from) return;
      ack.remove();
      root.dataset.partialUrl = root.dataset.partialUrl.split("?")[0];
      forgetQuery();
    });
  }

  /* ---- unsaved changes ------------------------------------------------------------------ */
  function unsavedChanges() {
    const form = document.getElementById("cluster-form");
    if (!form) return;
    const state = () => {
      const data = new FormData(form);
      data.delete("csrf_token");
      return JSON.stringify(Array.from(data.entries()).map(([k, v]) => [k, String(v)]));
    };
    let saved = state();
    let touched = false;
    let submitting = false;
    // What the page's own scripts fill in after load is not a change: only what a person does.
    window.addEventListener("load", () => { if (!touched) saved = state(); });
    const touch = (e) => { if (e.isTrusted) touched = true; };
    form.addEventListener("input", touch);
    form.addEventListener("change", touch);
    form.addEventListener("submit", (e) => {
      submitting = !e.defaultPrevented;
      setTimeout(() => { if (e.defaultPrevented) submitting = false; }, 0);
    });
    window.addEventListener("beforeunload", (e) => {
      if (submitting || !touched || state() === saved) return;
      e.preventDefault();
      e.returnValue = "";  // older browsers ask only when this is set
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    acknowledgements();
    unsavedChanges();
  });
})();
