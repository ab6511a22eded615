/* MC Hub web view: a little plain JavaScript, no build step, no dependencies.
   - relative times, polling of the dashboard and of a cluster's status (ETag / 304),
   - the success dialog, the guest password on demand, the destroy confirmation,
   - the cluster form: instance/volume rows, flavors per role, live quota usage, the preview. */
"use strict";

(function () {
  const csrfToken = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  /* ---- relative times ------------------------------------------------------------------ */
  function ago(stamp) {
    const t = Date.parse(stamp);
    if (Number.isNaN(t)) return null;
    const s = Math.round((Date.now() - t) / 1000);
    if (s < -59) {
      const m = Math.round(-s / 60);
      return m < 60 ? `in ${m} min` : `in ${Math.round(m / 60)} h`;
    }
    if (s < 0) return `in ${-s} s`;
    if (s < 10) return "just now";
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 86400) return Math.round(s / 3600) + " h ago";
    if (s < 30 * 86400) return Math.round(s / 86400) + " d ago";
    return null;
  }
  function relativeTimes(scope) {
    (scope || document).querySelectorAll("time[datetime]").forEach((el) => {
      if (!el.dataset.absolute) el.dataset.absolute = el.textContent.trim();
      const rel = ago(el.getAttribute("datetime"));
      el.textContent = rel || el.dataset.absolute;
      el.title = el.dataset.absolute;
    });
  }

  /* ---- polling --------------------------------------------------------------------------- */
  function poller(run, interval) {
    let timer = null;
    async function loop() {
      try {
        if (!document.hidden) await run();
      } catch (err) {
        /* the hub restarting, a network blip: try again on the next round */
      }
      timer = setTimeout(loop, interval());
    }
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) {
        clearTimeout(timer);
        loop();
      }
    });
    timer = setTimeout(loop, interval());
  }

  async function conditionalGet(url, etag) {
    const headers = etag ? { "If-None-Match": etag } : {};
    const response = await fetch(url, { headers, cache: "no-store", credentials: "same-origin" });
    return response;
  }

  /* ---- dashboard ------------------------------------------------------------------------ */
  function dashboard() {
    const root = document.querySelector("[data-poll]");
    if (!root) return;
    let etag = null;
    poller(async () => {
      const r = await conditionalGet(root.dataset.poll, etag);
      if (r.status === 304 || !r.ok) return;
      etag = r.headers.get("ETag");
      root.innerHTML = await r.text();
      relativeTimes(root);
    }, () => Number(root.dataset.interval || 3000));
  }

  /* ---- cluster page ------------------------------------------------------------------- */
  const ACTIVE = ["pending", "plan_running", "build_running", "destroy_running"];

  function clusterPage() {
    const root = document.getElementById("cluster");
    if (!root) return;
    const labels = JSON.parse((document.getElementById("phase-labels") || {}).textContent || "{}");
    const since = Number(new URLSearchParams(location.search).get("since") || 0);
    let phase = root.dataset.phase;
    let updated = root.dataset.updated || null;
    let etag = null;
    let sawActive = phase !== "build_success";
    let shown = false;

    function chip(p, reason) {
      const holder = document.getElementById("phase-chip");
      if (!holder) return;
      const [label, tone] = labels["reason:" + reason] || labels[p] || [p, "neutral"]; /* present.chip_of */
      holder.innerHTML = "";
      const span = document.createElement("span");
      span.className = "chip " + tone;
      span.dataset.phase = p;
      span.textContent = label;
      holder.appendChild(span);
    }

    /* The body and the chip change together, from the one render: never a "build success" chip over
       a body still saying "Building…" while the partial is on its way. False: nothing changed. */
    async function refreshBody() {
      const r = await fetch(root.dataset.partialUrl, { cache: "no-store", credentials: "same-origin" });
      if (!r.ok) return false;
      const tpl = document.createElement("template");
      tpl.innerHTML = await r.text();
      const fresh = tpl.content.getElementById("cluster-body");
      const old = document.getElementById("cluster-body");
      if (!fresh || !old) return false;
      old.querySelectorAll("details[id][data-touched]").forEach((d) => {
        const twin = fresh.querySelector("#" + CSS.escape(d.id));
        if (twin) {
          twin.open = d.open;
          twin.dataset.touched = "1";
        }
      });
      old.replaceWith(fresh);
      chip(fresh.dataset.phase || phase, fresh.dataset.reason);
      if (revealed !== null) showSecret(revealed);
      relativeTimes(fresh);
      syncDialog();
      return true;
    }

    // The success dialog follows the readiness checks: the page body's provisioning summary
    // (waiting, ready with the service links, or not ready) is copied in at each refresh.
    function syncDialog() {
      const dialog = document.getElementById("success-dialog");
      const holder = dialog ? dialog.querySelector(".dialog-provisioning") : null;
      if (!holder) return;
      const source = document.getElementById("provisioning-summary");
      holder.innerHTML = source ? source.innerHTML : "";
      holder.hidden = !source;
      holder.dataset.state = source ? source.dataset.state : "";
      const title = dialog.querySelector("#success-title");
      if (title) {
        const ready = source && source.dataset.state === "ready";
        title.textContent = ready ? title.dataset.ready : title.dataset.built;
      }
    }

    function showSuccess() {
      shown = true;
      const dialog = document.getElementById("success-dialog");
      const body = document.getElementById("cluster-body");
      const ssh = body ? body.dataset.ssh : "";
      if (dialog) {
        const line = dialog.querySelector(".dialog-login");
        if (line && ssh) {
          line.hidden = false;
          line.querySelector(".ssh-command").textContent = ssh;
        }
        syncDialog();
        if (typeof dialog.showModal === "function") dialog.showModal();
        else dialog.setAttribute("open", "");
      }
      if (since) history.replaceState(null, "", location.pathname);
    }

    async function tick() {
      const r = await conditionalGet(root.dataset.statusUrl, etag);
      if (r.status === 304 || !r.ok) return;
      const tag = r.headers.get("ETag");
      const s = await r.json();
      root.dispatchEvent(new CustomEvent("mchub:status", { detail: s }));  // actions.js: notices
      if (s.status !== phase || s.updated_at !== updated) {
        if (!(await refreshBody())) return; /* try again next round, with the same ETag */
        phase = s.status;
        updated = s.updated_at;
        root.dataset.phase = phase;
      }
      etag = tag;
      if (phase !== "build_success") {
        sawActive = true;
      } else if (!shown) {
        const fresh = since && updated && Date.parse(updated) / 1000 >= since;
        if (sawActive || fresh) showSuccess();
      }
    }
    poller(tick, () => (ACTIVE.includes(phase) ? 1000 : 4000));
    if (since && phase === "build_success" && updated && Date.parse(updated) / 1000 >= since) showSuccess();

    document.addEventListener("click", (e) => {
      const summary = e.target.closest("details > summary");
      if (summary) summary.parentElement.dataset.touched = "1";
    });
  }

  /* ---- guest password on demand ------------------------------------------------------- */
  let revealed = null;
  function showSecret(value) {
    const el = document.getElementById("guest-password");
    const button = document.getElementById("show-password");
    if (!el || !button) return;
    if (value === null) {
      el.textContent = "••••••••";
      button.textContent = "Show password";
    } else {
      el.textContent = value;
      button.textContent = "Hide password";
    }
  }
  document.addEventListener("click", async (e) => {
    const button = e.target.closest("#show-password");
    if (!button) return;
    if (revealed !== null) {
      revealed = null;
      showSecret(null);
      return;
    }
    const el = document.getElementById("guest-password");
    const r = await fetch(el.dataset.url, {
      method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken() },
    });
    const data = await r.json().catch(() => ({}));
    if (r.ok && data.password) {
      revealed = data.password;
      showSecret(revealed);
    } else {
      el.textContent = data.error || "not available";
    }
  });

  /* ---- destroy confirmation ------------------------------------------------------------ */
  function destroyForm() {
    const input = document.getElementById("confirm");
    if (!input) return;
    const button = input.form.querySelector('button[type="submit"]');
    const sync = () => { button.disabled = input.value.trim() !== input.dataset.expect; };
    input.addEventListener("input", sync);
    sync();
    document.querySelectorAll("[data-focus]").forEach((a) => {
      a.addEventListener("click", () => setTimeout(() => document.getElementById(a.dataset.focus).focus(), 50));
    });
  }

  /* ---- the cluster form --------------------------------------------------------------- */
  /* The rules (roles by tag, root disks, quota names and labels) come from the server as data
     (#form-rules, from reconciler.cloud), and the catalog's flavors come smallest first. */
  const RULES = JSON.parse((document.getElementById("form-rules") || {}).textContent || "{}");
  const QUOTA_KEYS = RULES.quota_keys || [];
  const LABELS = RULES.quota_labels || {};
  const WORDS = RULES.words || {};

  function amount(key, value) {
    if (value === null || value === undefined) return "unlimited";
    if (key === "ram") {
      const gib = value / 1024;
      return (Math.round(gib * 10) / 10) + " GiB";
    }
    if (key === "gigabytes") return value + " GB";
    return String(value);
  }

  function roleOf(tags) {
    return (RULES.roles || []).find((role) => tags.includes(role)) || RULES.default_role;
  }
  const splitTags = (text) => text.replace(/,/g, " ").split(/\s+/).filter(Boolean);
  const int = (text) => {
    const n = parseInt(String(text).trim(), 10);
    return Number.isFinite(n) && n > 0 ? n : 0;
  };

  function flavorLabel(f) {
    const disk = f.disk ? ` · ${f.disk} GB disk` : "";
    return `${f.name} · ${f.vcpus} vCPU · ${Math.round((f.ram / 1024) * 10) / 10} GiB${disk}`;
  }

  function clusterForm() {
    const form = document.getElementById("cluster-form");
    if (!form) return;
    let catalog = JSON.parse(document.getElementById("catalog-data").textContent || "{}");

    function rows(kind) {
      return Array.from(form.querySelectorAll(`tr[data-row="${kind}"]`));
    }
    const field = (row, name) => row.querySelector(`[name$="-${name}"]`);

    function fillFlavors(select, tags, force) {
      const role = roleOf(splitTags(tags));
      if (!force && select.dataset.role === role) return;
      select.dataset.role = role;
      const current = select.value;
      const flavors = catalog.flavors || [];
      const fitting = flavors.filter((f) => (f.roles || []).includes(role));
      select.innerHTML = "";
      for (const f of fitting) select.add(new Option(flavorLabel(f), f.name));
      /* a flavor the person picked, or the spec's own, stays (marked); one never picked follows the role */
      const kept = current && (select.dataset.picked === current || select.dataset.savedType === current);
      if (kept && !fitting.some((f) => f.name === current)) {
        const known = flavors.find((f) => f.name === current);
        select.add(new Option(known ? flavorLabel(known) + " (below minimum)" : current + " (not offered by this cloud)", current));
      }
      select.value = current && Array.from(select.options).some((o) => o.value === current) ? current : (fitting[0] || {}).name || "";
    }

    function relabel(row) {
      const kind = row.dataset.row;
      let who;
      if (kind === "inst") who = field(row, "prefix").value.trim() || "new group";
      else {
        const tag = field(row, "tag").value.trim();
        const name = field(row, "name").value.trim();
        who = name ? `${tag}/${name}` : "new volume";
      }
      row.querySelectorAll("label[data-label-for]").forEach((l) => { l.textContent = `${who} ${l.dataset.labelFor}`; });
      const remove = row.querySelector("[data-remove-row]");
      if (remove) remove.setAttribute("aria-label", "Remove " + who);
    }

    function needs() {
      const byName = Object.fromEntries((catalog.flavors || []).map((f) => [f.name, f]));
      const volumes = {};
      for (const row of rows("vol")) {
        const tag = field(row, "tag").value.trim();
        if (!tag || !field(row, "name").value.trim()) continue;
        (volumes[tag] = volumes[tag] || []).push(int(field(row, "size").value));
      }
      const total = Object.fromEntries(QUOTA_KEYS.map((k) => [k, 0]));
      for (const row of rows("inst")) {
        if (!field(row, "prefix").value.trim()) continue;
        const n = int(field(row, "count").value);
        const tags = splitTags(field(row, "tags").value);
        const flavor = byName[field(row, "type").value];
        const root = int(field(row, "disk_size").value) ||
          (roleOf(tags) === "mgmt" ? RULES.mgmt_root_disk_gb : RULES.root_disk_gb);
        const boot = flavor && flavor.disk < root ? root : 0;
        total.instances += n;
        if (flavor) {
          total.cores += n * flavor.vcpus;
          total.ram += n * flavor.ram;
        }
        if (boot) {
          total.volumes += n;
          total.gigabytes += n * boot;
        }
        if (tags.includes("public")) total.floating_ips += n;
        for (const tag of tags) {
          const sizes = volumes[tag] || [];
          total.volumes += n * sizes.length;
          total.gigabytes += n * sizes.reduce((a, b) => a + b, 0);
        }
      }
      return total;
    }

    function usageTable() {
      const tbody = document.querySelector("#usage tbody");
      if (!tbody) return;
      tbody.innerHTML = "";
      const quotas = catalog.quotas || {};
      for (const key of QUOTA_KEYS) {
        const q = quotas[key];
        if (!q) continue;
        const tr = tbody.insertRow();
        tr.dataset.quota = key;
        tr.dataset.limit = q.limit === null ? "" : q.limit;
        tr.dataset.remaining = q.remaining === null ? "" : q.remaining;
        /* a quota whose part the cloud did not show: unknown, never unlimited */
        if (q.unknown) tr.dataset.unknown = (catalog.unknown || {})[(RULES.quota_parts || {})[key]] || "the cloud did not show it";
        const th = document.createElement("th");
        th.scope = "row";
        th.textContent = LABELS[key];
        tr.appendChild(th);
        tr.insertCell().className = "num need";
        const free = tr.insertCell();
        free.className = "num free";
        free.textContent = q.unknown ? "unknown" : amount(key, q.remaining);
        const bar = tbody.insertRow();
        bar.className = "bar-row";
        bar.dataset.quotaBar = key;
        const cell = bar.insertCell();
        cell.colSpan = 3;
        if (q.limit !== null && !q.unknown) {
          const meter = document.createElement("meter");
          meter.min = 0;
          meter.max = q.limit || 1;
          meter.low = q.limit * 0.8;
          meter.high = q.limit;
          meter.optimum = 0;
          meter.setAttribute("aria-label", th.textContent + " after this cluster");
          cell.appendChild(meter);
        }
      }
    }

    function recompute() {
      const need = needs();
      const over = [];
      const cannot = []; /* quotas the cloud did not show: neither "fits" nor "does not fit" */
      document.querySelectorAll("#usage tr[data-quota]").forEach((tr) => {
        const key = tr.dataset.quota;
        const unknown = tr.dataset.unknown !== undefined;
        const limit = tr.dataset.limit === "" ? null : Number(tr.dataset.limit);
        const free = tr.dataset.remaining === "" ? null : Number(tr.dataset.remaining);
        tr.querySelector(".need").textContent = amount(key, need[key]);
        tr.querySelector(".free").textContent = unknown ? "unknown" : amount(key, free);
        if (unknown && need[key] > 0) cannot.push(LABELS[key]);
        const isOver = !unknown && free !== null && need[key] > free;
        tr.classList.toggle("over", isOver);
        const bar = document.querySelector(`tr[data-quota-bar="${key}"]`);
        if (bar) bar.classList.toggle("over", isOver);
        const meter = bar && bar.querySelector("meter");
        if (meter && limit !== null) meter.value = Math.min(limit, limit - free + need[key]);
        if (isOver) over.push(`${LABELS[key]}: needs ${amount(key, need[key])}, ${amount(key, Math.max(free, 0))} free`);
      });
      const fit = document.getElementById("fit");
      if (!fit) return;
      if (!document.querySelector("#usage tr[data-quota]")) {
        fit.hidden = true;
        return;
      }
      fit.hidden = false;
      const unchecked = cannot.length ? ` Cannot check ${cannot.join(", ")}: the cloud did not show ${cannot.length > 1 ? "these quotas" : "this quota"}.` : "";
      if (over.length) {
        fit.className = "notice error";
        fit.innerHTML = "";
        const strong = document.createElement("strong");
        strong.textContent = "Does not fit in the remaining quota. ";
        fit.appendChild(strong);
        fit.appendChild(document.createTextNode(over.join("; ") + ". " + (WORDS.over_quota || "The hub will refuse to build it until there is room.") + unchecked));
      } else if (cannot.length) {
        fit.className = "notice warn";
        fit.textContent = unchecked.trim() + " The other quotas have room.";
      } else {
        fit.className = "notice ok";
        fit.textContent = "Fits in the remaining quota.";
      }
    }

    /* Volume types: the catalog's (its default labelled), a row's own type kept and marked when the
       cloud does not offer it; no types and no type of its own: no select (the cloud's default). */
    function typeChoices(current) {
      const types = (catalog.volume_types || []).filter((t) => t && t.name);
      const unknown = "volume_types" in (catalog.unknown || {});
      const out = types.length && !current ? [["", WORDS.cloud_default]] : [];
      for (const t of types) out.push([t.name, t.name + (t.default ? " (default)" : "") + (t.description ? ` · ${t.description}` : "")]);
      if (current && !types.some((t) => t.name === current)) out.push([current, `${current} (${unknown ? WORDS.types_unknown : WORDS.not_offered})`]);
      return out;
    }

    function fillVolumeTypes(row, wanted) {
      const cell = row.querySelector("td.vtype");
      if (!cell) return;
      let select = cell.querySelector("select");
      const current = wanted !== undefined ? wanted : select ? select.value : "";
      const offered = typeChoices(current);
      const plain = cell.querySelector("[data-cloud-default]");
      if (!offered.length) {
        if (select) select.remove();
        const label = cell.querySelector("label");
        if (label) label.remove();
        if (!plain) {
          const span = document.createElement("span");
          span.className = "muted";
          span.dataset.cloudDefault = "";
          span.textContent = WORDS.cloud_default;
          cell.prepend(span);
        }
        return;
      }
      if (plain) plain.remove();
      if (!select) {
        const id = field(row, "tag").name.replace(/-tag$/, "-type");
        select = document.createElement("select");
        select.id = select.name = id;
        select.className = "vtype";
        const label = document.createElement("label");
        label.className = "sr-only";
        label.htmlFor = id;
        label.dataset.labelFor = "type";
        cell.prepend(label, select);
        relabel(row);
      }
      select.replaceChildren(...offered.map(([value, text]) => new Option(text, value)));
      select.value = current;
    }

    function unknownParts() {
      const box = document.getElementById("unknown-parts");
      if (!box) return;
      const unknown = catalog.unknown || {};
      box.replaceChildren(...(RULES.parts || []).filter((p) => p in unknown).map((p) => {
        const note = document.createElement("p");
        note.className = "notice warn unknown-part";
        note.setAttribute("role", "status");
        note.dataset.unknownPart = p;
        note.textContent = `${(RULES.part_labels || {})[p] || p}: unknown (${unknown[p]})`;
        return note;
      }));
    }

    function nextIndex(kind) {
      let max = -1;
      rows(kind).forEach((row) => {
        const m = /^(?:inst|vol)-(\d+)-/.exec(row.querySelector("input").name);
        if (m) max = Math.max(max, Number(m[1]));
      });
      return max + 1;
    }

    function addRow(kind) {
      const tplId = kind === "instances" ? "inst-row-template" : "vol-row-template";
      const html = document.getElementById(tplId).innerHTML.replace(/__i__/g, String(nextIndex(kind === "instances" ? "inst" : "vol")));
      const tpl = document.createElement("template");
      tpl.innerHTML = "<table><tbody>" + html + "</tbody></table>";
      const row = tpl.content.querySelector("tr");
      document.querySelector(`#${kind} tbody`).appendChild(row);
      if (row.dataset.row === "inst") fillFlavors(field(row, "type"), field(row, "tags").value, true);
      else fillVolumeTypes(row, ((catalog.volume_types || []).find((t) => t && t.default) || {}).name || "");
      relabel(row);
      recompute();
      row.querySelector("input").focus();
    }

    /* Preview: what Spawn / Save would do, planned by the hub only when asked (it takes seconds).
       The answer is a server-rendered fragment for the live region; any change of the form clears
       it (and drops a preview under way), so what is shown always matches the form. */
    const previewButton = document.getElementById("preview-button");
    const previewBox = document.getElementById("preview");
    let previewing = null;

    function previewIdle() {
      if (!previewButton) return;
      previewButton.removeAttribute("aria-disabled");
      previewButton.textContent = "Preview";
    }
    function clearPreview() {
      if (previewing) previewing.abort();
      previewing = null;
      previewIdle();
      if (previewBox && previewBox.childNodes.length) previewBox.replaceChildren();
    }
    function previewMessage(text, tone) {
      const p = document.createElement("p");
      p.className = "notice preview-result " + tone;
      p.textContent = text;
      if (tone === "loading") {
        const spin = document.createElement("span");
        spin.className = "spinner";
        spin.setAttribute("aria-hidden", "true");
        p.prepend(spin);
      }
      previewBox.replaceChildren(p);
    }
    async function runPreview() {
      if (previewing) return; /* one at a time: a change of the form cancels it */
      const controller = new AbortController();
      previewing = controller;
      previewButton.setAttribute("aria-disabled", "true");
      previewButton.textContent = "Previewing…";
      previewMessage("Planning the change with Terraform; this takes a few seconds…", "loading");
      let status = 0;
      let html = "";
      try {
        const r = await fetch(previewButton.dataset.url, {
          method: "POST", body: new URLSearchParams(new FormData(form)), credentials: "same-origin",
          redirect: "manual", cache: "no-store", signal: controller.signal,
        });
        status = r.type === "opaqueredirect" ? -1 : r.status;
        html = status > 0 ? await r.text() : "";
      } catch (err) {
        if (controller.signal.aborted) return;
      }
      if (previewing !== controller) return;
      previewing = null;
      previewIdle();
      const tpl = document.createElement("template");
      tpl.innerHTML = html;
      const result = tpl.content.querySelector("[data-preview-result]");
      if (result) previewBox.replaceChildren(result);
      else if (status === -1) previewMessage("Your session has ended: reload the page to sign in again.", "error");
      else if (status) previewMessage(`No preview: the hub answered with an error (HTTP ${status}); try again.`, "error");
      else previewMessage("No preview: the hub could not be reached; try again.", "error");
    }
    if (previewButton) {
      previewButton.addEventListener("click", runPreview);
      previewBox.addEventListener("click", (e) => {
        const link = e.target.closest("[data-focus-input]");
        const input = link && document.getElementById(link.dataset.focusInput);
        if (!input) return;
        e.preventDefault();
        const details = input.closest("details");
        if (details) details.open = true;
        input.focus();
      });
    }

    form.addEventListener("click", (e) => {
      const add = e.target.closest("[data-add-row]");
      if (add) {
        clearPreview();
        addRow(add.dataset.addRow);
        return;
      }
      const remove = e.target.closest("[data-remove-row]");
      if (remove) {
        clearPreview();
        remove.closest("tr").remove();
        recompute();
      }
    });
    form.addEventListener("input", (e) => {
      clearPreview();
      const row = e.target.closest("tr[data-row]");
      if (row) {
        if (/-tags$/.test(e.target.name)) fillFlavors(field(row, "type"), e.target.value, false);
        if (/-(prefix|tag|name)$/.test(e.target.name)) relabel(row);
      }
      recompute();
    });
    form.addEventListener("change", async (e) => {
      clearPreview();
      if (e.target.name === "cloud" || e.target.name === "project") {
        /* a project's figures are its cloud's (its allocation): the server resolves which */
        const which = e.target.name === "project" && e.target.value ? "project" : "cloud";
        const cloud = form.elements.namedItem("cloud");
        const query = which === "project" ? e.target.value : (cloud && cloud.value) || "";
        const r = await fetch(`/api/resources?${which}=` + encodeURIComponent(query), { credentials: "same-origin" });
        if (!r.ok) return;
        catalog = await r.json();
        document.getElementById("usage-cloud").textContent = catalog.cloud;
        const image = document.getElementById("image");
        const chosen = image.value;
        image.innerHTML = "";
        for (const name of catalog.images || []) image.add(new Option(typeof name === "string" ? name : name.name));
        if (Array.from(image.options).some((o) => o.value === chosen)) image.value = chosen;
        rows("inst").forEach((row) => fillFlavors(field(row, "type"), field(row, "tags").value, true));
        rows("vol").forEach((row) => fillVolumeTypes(row));
        unknownParts();
        usageTable();
      }
      recompute();
    });
    rows("inst").forEach((row) => { field(row, "type").dataset.role = roleOf(splitTags(field(row, "tags").value)); });
    recompute();
  }

  document.addEventListener("DOMContentLoaded", () => {
    relativeTimes(document);
    setInterval(() => relativeTimes(document), 30000);
    dashboard();
    clusterPage();
    destroyForm();
    clusterForm();
  });
})();
