/* The cluster page's small comforts, beside app.js (which polls and swaps the page body):
   - the countdown to the hub's next attempt ("Next attempt in 16 s"), ticking each second,
   - copy buttons for the login address, host name, SSH command and guest password, with a visible
     "Copied" and a polite announcement; they stay hidden without JavaScript (nothing to copy with).
   Works on whatever body app.js swapped in last: everything is looked up when it is needed. */
"use strict";

(function () {
  const csrfToken = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  /* ---- countdown ------------------------------------------------------------------------ */
  function until(stamp) {
    const t = Date.parse(stamp);
    if (Number.isNaN(t)) return null;
    const s = Math.ceil((t - Date.now()) / 1000);
    if (s <= 0) return "due now";
    if (s < 60) return `in ${s} s`;
    if (s < 3600) return `in ${Math.floor(s / 60)} min ${s % 60} s`;
    return `in ${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  }
  function countdowns() {
    document.querySelectorAll("[data-countdown]").forEach((el) => {
      if (!el.dataset.absolute) {
        el.dataset.absolute = el.textContent.trim();
        el.title = el.dataset.absolute;
      }
      const text = until(el.dataset.countdown);
      if (text !== null && el.textContent !== text) el.textContent = text;
    });
  }

  /* ---- copy buttons --------------------------------------------------------------------- */
  function enhance() {
    document.querySelectorAll(".copy-button[hidden]").forEach((b) => { b.hidden = false; });
  }

  function announcer() {
    let el = document.getElementById("copy-status");
    if (!el) {
      el = document.createElement("p");
      el.id = "copy-status";
      el.className = "sr-only";
      el.setAttribute("role", "status");
      document.body.appendChild(el);
    }
    return el;
  }

  /* navigator.clipboard where the page may use it (HTTPS or localhost); else a selected textarea
     and the old copy command, which works over plain HTTP too. */
  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (err) {
        /* permission refused: fall back */
      }
    }
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (err) {
      ok = false;
    }
    area.remove();
    return ok;
  }

  async function textFor(button) {
    if (button.dataset.copyPassword) {
      const r = await fetch(button.dataset.copyPassword, {
        method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken() },
      });
      const data = await r.json().catch(() => ({}));
      if (!r.ok || !data.password) throw new Error(data.error || "no password yet");
      return data.password;
    }
    const source = document.querySelector(button.dataset.copy);
    return source ? source.textContent.trim() : "";
  }

  function acknowledge(button, ok, why) {
    const what = (button.getAttribute("aria-label") || "Copy").replace(/^Copy /, "");
    button.textContent = ok ? "Copied" : "Not copied";
    button.classList.toggle("copied", ok);
    announcer().textContent = ok ? `Copied ${what} to the clipboard.` : `Could not copy ${what}${why ? ": " + why : ""}; select it and copy it by hand.`;
    clearTimeout(Number(button.dataset.timer || 0));
    button.dataset.timer = String(setTimeout(() => {
      button.textContent = "Copy";
      button.classList.remove("copied");
    }, 2500));
  }

  document.addEventListener("click", async (e) => {
    const button = e.target.closest(".copy-button");
    if (!button) return;
    let text = "";
    try {
      text = await textFor(button);
    } catch (err) {
      acknowledge(button, false, err.message);
      return;
    }
    acknowledge(button, text !== "" && (await copyText(text)), "");
  });

  document.addEventListener("DOMContentLoaded", () => {
    enhance();
    countdowns();
    setInterval(countdowns, 1000);
    const root = document.getElementById("cluster");
    if (root) new MutationObserver(() => { enhance(); countdowns(); }).observe(root, { childList: true });
  });
})();
