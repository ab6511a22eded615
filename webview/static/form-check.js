/* MC Hub web view: the cluster form checked as the person types, by the server's own rules handed
   over as data, never a second copy of them:
   - the spec's JSON Schema (#spec-schema: reconciler.model.spec.json_schema with the hub's limits):
     name, domain and user name patterns, counts and sizes, tags;
   - the catalog (#catalog-data): the flavors each role may use; the quota panel (app.js) says
     whether the cluster fits;
   - the SSH key tables of reconciler/model/sshkeys.py (#form-rules .ssh), parsed by a port of its
     code below (tests/data/ssh_key_cases.json runs through both);
   - whether a name is free: GET /api/names/<name>, the rule the create applies.
   Shows each problem beside its field and in a summary on top (links to the fields), clears them as
   they are fixed, and marks Spawn / Save disabled with why beside them. The server checks it all
   again and lists every problem at once; this only says it sooner. */
"use strict";

(function () {
  const data = (id) => JSON.parse((document.getElementById(id) || {}).textContent || "{}");
  const RULES = data("form-rules");

  /* ---- SSH public keys: reconciler/model/sshkeys.py, ported (same checks, same words) ---------- */
  function keyChecker(rules) {
    const types = rules.key_types || [];
    const refused = rules.refused || {};
    const curves = {};
    for (const [name, [size, p, b]] of Object.entries(rules.curves || {})) curves[name] = [size, BigInt("0x" + p), BigInt("0x" + b)];
    class Problem extends Error {}
    const big = (bytes) => (bytes.length ? BigInt("0x" + Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join("")) : 0n);
    const ascii = (bytes) => Array.from(bytes, (x) => (x < 0x80 ? String.fromCharCode(x) : "\uFFFD")).join("");
    const article = (word) => ("aeiou".includes(word.slice(0, 1)) || word.startsWith("ssh") ? "an" : "a");

    function reader(bytes) {
      let at = 0;
      const r = {
        string(what) {
          if (at + 4 > bytes.length) throw new Problem(`is cut short: its key data ends before the ${what}`);
          const size = bytes[at] * 2 ** 24 + (bytes[at + 1] << 16) + (bytes[at + 2] << 8) + bytes[at + 3];
          const start = at + 4;
          at = start + size;
          if (at > bytes.length) throw new Problem(`is cut short: its key data ends inside the ${what}`);
          return bytes.subarray(start, at);
        },
        mpint(what) {
          const raw = r.string(what);
          if (raw.length && raw[0] & 0x80) throw new Problem(`is damaged: its ${what} is negative, which no key has`);
          return big(raw);
        },
        end() {
          if (at !== bytes.length) throw new Problem(`is damaged: ${bytes.length - at} bytes follow its key data (two keys run together?)`);
        },
      };
      return r;
    }

    function decode(encoded) {
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4) {
        throw new Problem("is damaged: its base64 has characters missing, added or outside A-Z a-z 0-9 + /");
      }
      let text;
      try {
        text = atob(encoded);
      } catch (err) {
        throw new Problem("is damaged: its base64 does not decode");
      }
      if (btoa(text) !== encoded) throw new Problem("is damaged: the last characters of its base64 do not decode exactly");
      return Uint8Array.from(text, (c) => c.charCodeAt(0));
    }

    function rsa(r) {
      const exponent = r.mpint("RSA exponent");
      const modulus = r.mpint("RSA modulus");
      if (exponent < 3n || exponent % 2n === 0n) throw new Problem(`is damaged: its RSA exponent ${exponent} is not an odd number of 3 or more`);
      const bits = modulus === 0n ? 0 : modulus.toString(2).length;
      if (bits < rules.min_rsa_bits) {
        throw new Problem(`is a ${bits}-bit RSA key; OpenSSH refuses RSA keys under ${rules.min_rsa_bits} bits (make an ed25519 key: ssh-keygen -t ed25519)`);
      }
      if (modulus % 2n === 0n) throw new Problem("is damaged: its RSA modulus is even, which no key has");
    }
    function ed25519(r) {
      const key = r.string("ed25519 key");
      if (key.length !== 32) throw new Problem(`holds a ${key.length}-byte ed25519 key; an ed25519 key has 32 bytes`);
    }
    function ecdsa(r, declared) {
      const wanted = declared.replace(/^sk-/, "").replace(/^ecdsa-sha2-/, "").replace(/@openssh\.com$/, "");
      const curve = ascii(r.string("curve name"));
      if (curve !== wanted) throw new Problem(`says ${declared} but its curve is ${curve.slice(0, 20) || "missing"}`);
      const point = r.string("ECDSA point");
      const [size, p, b] = curves[curve];
      if (point.length !== 1 + 2 * size || point[0] !== 4) throw new Problem(`is damaged: its ECDSA point is not an uncompressed ${curve} point`);
      const x = big(point.subarray(1, 1 + size));
      const y = big(point.subarray(1 + size));
      if (x >= p || y >= p || (y * y - (x * x * x - 3n * x + b)) % p !== 0n) throw new Problem(`is damaged: its ECDSA point is not on the ${curve} curve`);
    }
    function fieldsOf(declared) {
      const plain = declared.includes("ed25519") ? ed25519 : declared.includes("ecdsa") ? ecdsa : declared === "ssh-rsa" ? rsa : null;
      if (!plain || !declared.startsWith("sk-")) return plain;
      return (r, d) => {
        plain(r, d);
        const app = r.string("security key application");
        if (ascii(app.subarray(0, 4)) !== "ssh:") throw new Problem('is damaged: its security key application does not start with "ssh:"');
      };
    }

    /* {type} for a key Nova and OpenSSH accept, else {problem} (the words after "this key "). */
    return function check(line) {
      try {
        const words = line.trim().split(/\s+/);
        if (words.length < 2) throw new Problem("is not an OpenSSH public key: expected `<type> <base64> [comment]`, e.g. ssh-ed25519 AAAA...");
        const [declared, encoded] = words;
        if (declared in refused) throw new Problem(refused[declared]);
        if (!types.includes(declared)) throw new Problem(`is not an OpenSSH public key: type "${declared.slice(0, 40)}" is not one of ${types.join(", ")}`);
        const r = reader(decode(encoded));
        const inner = ascii(r.string("key type"));
        if ((types.includes(inner) || inner in refused) && inner !== declared) throw new Problem(`says ${declared} but holds ${article(inner)} ${inner} key`);
        if (inner !== declared) throw new Problem(`is damaged: its key data does not start with its type (${declared})`);
        const fields = fieldsOf(declared);
        if (!fields) return { type: declared }; /* a type this port does not know: the server checks it */
        fields(r, declared);
        r.end();
        return { type: declared };
      } catch (err) {
        if (err instanceof Problem) return { problem: err.message };
        throw err;
      }
    };
  }
  const checkKey = keyChecker(RULES.ssh || {});
  window.MCHubFormCheck = { checkKey };

  /* ---- the form ---------------------------------------------------------------------------- */
  function formCheck() {
    const form = document.getElementById("cluster-form");
    if (!form) return;
    const schema = data("spec-schema");
    const props = schema.properties || {};
    const defs = schema.$defs || {};
    const inst = (defs.Instance || {}).properties || {};
    const vol = (defs.Volume || {}).properties || {};
    const words = RULES.words || {};
    const submit = document.getElementById("submit");
    const note = document.getElementById("submit-note");
    const touched = new Set();
    const server = new Map(); /* input id -> the server's message, shown until the field changes */
    const names = new Map(); /* cluster name -> why it is taken (null: free) */
    let tried = false; /* a submit was attempted: every problem shows, even of untouched fields */

    document.querySelectorAll("#cluster-form .field-error[id^='err-']").forEach((p) => server.set(p.id.slice(4), p.textContent.trim()));
    const catalog = () => data("catalog-data"); /* app.js may swap the catalog; the page keeps the first */
    let flavors = catalog().flavors || [];
    let flavorsUnknown = "flavors" in (catalog().unknown || {});

    const bounded = (s) => (s.anyOf ? s.anyOf.find((o) => o.type === "integer") || s : s);
    function wholeNumber(text, spec, required) {
      const value = text.trim();
      if (!value) return required ? "required" : null;
      if (!/^-?\d{1,9}$/.test(value)) return "a whole number";
      const n = Number(value);
      const s = bounded(spec || {});
      if (s.minimum !== undefined && n < s.minimum) return `at least ${s.minimum}`;
      if (s.maximum !== undefined && n > s.maximum) return `at most ${s.maximum}`;
      return null;
    }
    const matches = (spec, value) => !spec || !spec.pattern || new RegExp(spec.pattern).test(value);
    const splitTags = (text) => text.replace(/,/g, " ").split(/\s+/).filter(Boolean);
    const roleOf = (tags) => (RULES.roles || []).find((r) => tags.includes(r)) || RULES.default_role;
    const value = (id) => (document.getElementById(id) || { value: "" }).value;

    function nameProblem(input) {
      if (input.readOnly) return null;
      const name = input.value.trim();
      if (!name) return "required";
      if (!matches(props.cluster_name, name)) return `"${name.slice(0, 40)}" is not a valid name: start with a lower-case letter, then 1 to 40 lower-case letters, digits or dashes`;
      if (!names.has(name)) askName(name);
      return names.get(name) || null;
    }
    let nameTimer = null;
    function askName(name) {
      clearTimeout(nameTimer);
      nameTimer = setTimeout(async () => {
        try {
          const r = await fetch("/api/names/" + encodeURIComponent(name), { credentials: "same-origin", cache: "no-store" });
          if (!r.ok) return; /* the server checks it at Spawn */
          const answer = await r.json();
          names.set(name, answer.available ? null : answer.problem);
          check();
        } catch (err) {
          /* the hub unreachable: the server checks the name at Spawn */
        }
      }, 300);
    }

    function keysProblem(text) {
      const keys = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
      if (!keys.length) return "paste at least one SSH public key";
      const item = (props.public_keys || {}).items || {};
      const out = [];
      keys.forEach((key, i) => {
        const which = keys.length > 1 ? `key ${i + 1}: ` : "";
        if (item.maxLength && key.length > item.maxLength) out.push(`${which}this key is longer than ${item.maxLength} characters`);
        else {
          const found = checkKey(key);
          if (found.problem) out.push(`${which}this key ${found.problem}`);
        }
      });
      return out.join("; ") || null;
    }

    function flavorProblem(select, tags) {
      const role = roleOf(tags);
      const minimum = (RULES.role_minimums || {})[role] || role;
      if (!select.options.length || (select.options.length === 1 && select.options[0].disabled)) {
        select.replaceChildren(new Option((words.no_flavor || "").replace("{role}", role), "", true, true));
        select.options[0].disabled = true;
      }
      if (flavorsUnknown) return null;
      const chosen = select.value;
      if (!chosen) return `no flavor of this cloud meets Magic Castle's minimum for ${minimum}`;
      const flavor = flavors.find((f) => f.name === chosen);
      const kept = select.dataset.savedType === chosen && select.dataset.savedRole === role;
      if (flavor && !(flavor.roles || []).includes(role) && !kept) return `flavor "${chosen}" is below Magic Castle's minimum for ${minimum}; choose a larger one`;
      return null;
    }

    /* Every input's problem: [id, message, pending]; pending: an empty required field not yet
       touched (counted for the button, not shown as an error). */
    function problems() {
      const out = [];
      const add = (id, message) => { if (message) out.push([id, message, message === "required" && !touched.has(id) && !tried]); };
      const project = document.getElementById("project"); /* a select: the hub has projects to choose */
      if (project && project.tagName === "SELECT") add("project", project.value ? null : "required");
      const nameInput = document.getElementById("cluster_name");
      if (nameInput) add("cluster_name", nameProblem(nameInput));
      const domain = value("domain").trim();
      add("domain", !domain ? "required" : matches(props.domain, domain) ? null : `"${domain.slice(0, 40)}" is not a valid domain: lower-case letters, digits, dashes and dots`);
      add("nb_users", wholeNumber(value("nb_users") || "0", props.nb_users, false));
      const keys = keysProblem(value("public_keys"));
      add("public_keys", keys && keys.startsWith("paste") && !touched.has("public_keys") && !tried ? "required" : keys);
      const sudoer = value("sudoer_username").trim();
      add("sudoer_username", sudoer && !matches(props.sudoer_username, sudoer) ? "must match " + props.sudoer_username.pattern : null);
      const passwd = value("guest_passwd");
      add("guest_passwd", passwd && passwd.length < 8 ? "must be empty or at least 8 characters" : null);
      const prefixes = new Set();
      const tagsInUse = new Set();
      form.querySelectorAll('tr[data-row="inst"]').forEach((row) => {
        const id = (part) => row.querySelector(`[name$="-${part}"]`).id;
        const prefix = value(id("prefix")).trim();
        const tags = splitTags(value(id("tags")));
        if (!prefix && !tags.length && !value(id("disk_size")).trim()) return; /* a blank row is dropped */
        if (!prefix) add(id("prefix"), "give this group a host name prefix");
        else if (prefixes.has(prefix)) add(id("prefix"), `prefix "${prefix}" is used twice`);
        else if (!matches((props.instances || {}).propertyNames, prefix)) add(id("prefix"), `host names ${prefix}1, ${prefix}2, … must match ^[a-z][0-9a-z-]{1,63}$`);
        prefixes.add(prefix);
        const known = ((inst.tags || {}).items || {}).enum || [];
        const unknown = tags.find((t) => known.length && !known.includes(t));
        if (unknown) add(id("tags"), `unknown tag "${unknown.slice(0, 40)}"; choose among ${known.join(", ")}`);
        else if (new Set(tags).size !== tags.length) add(id("tags"), "a tag is listed twice");
        tags.forEach((t) => tagsInUse.add(t));
        add(id("count"), wholeNumber(value(id("count")) || "1", inst.count, false));
        add(id("disk_size"), wholeNumber(value(id("disk_size")), inst.disk_size, false));
        add(id("type"), flavorProblem(document.getElementById(id("type")), tags));
      });
      const volumes = new Set();
      form.querySelectorAll('tr[data-row="vol"]').forEach((row) => {
        const id = (part) => row.querySelector(`[name$="-${part}"]`).id;
        const tag = value(id("tag")).trim();
        const name = value(id("name")).trim();
        if (!name && !value(id("size")).trim()) return; /* a blank row is dropped */
        if (!tag) add(id("tag"), "give this volume a tag");
        else if (!tagsInUse.has(tag)) add(id("tag"), `no instance carries the tag "${tag}"; tags in use: ${[...tagsInUse].sort().join(", ")}`);
        if (!name) add(id("name"), "give this volume a name");
        else if (volumes.has(tag + "/" + name)) add(id("name"), `volume "${tag}/${name}" is listed twice`);
        volumes.add(tag + "/" + name);
        add(id("size"), wholeNumber(value(id("size")), vol.size, true));
      });
      /* the server's word stands for a field not changed since (it may know more) */
      const mine = new Map(out.map(([id, m, pending]) => [id, [m, pending]]));
      for (const [id, message] of server) if (!touched.has(id)) mine.set(id, [message, false]);
      return mine;
    }

    function label(id) {
      const l = document.querySelector(`label[for="${CSS.escape(id)}"]`);
      if (l) return l.textContent.trim();
      return { instances: "Instances", volumes: "Volumes" }[id] || id;
    }

    function showAt(id, message) {
      const input = document.getElementById(id);
      let p = document.getElementById("err-" + id);
      if (!message) {
        if (p) p.remove();
        if (input) {
          input.removeAttribute("aria-invalid");
          const rest = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter((x) => x && x !== "err-" + id);
          const hint = document.getElementById("hint-" + id);
          if (hint && !rest.includes(hint.id)) rest.push(hint.id);
          if (rest.length) input.setAttribute("aria-describedby", rest.join(" "));
          else input.removeAttribute("aria-describedby");
          const field = input.closest(".field");
          if (field) field.classList.remove("has-error");
        }
        return;
      }
      if (!p) {
        p = document.createElement("p");
        p.className = "field-error";
        p.id = "err-" + id;
        const holder = input ? input.closest(".field") || input.closest("td") : null;
        if (!holder) return;
        holder.appendChild(p);
      }
      p.textContent = message;
      if (input) {
        input.setAttribute("aria-invalid", "true");
        const ids = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
        if (!ids.includes(p.id)) input.setAttribute("aria-describedby", [...ids, p.id].join(" "));
        const field = input.closest(".field");
        if (field) field.classList.add("has-error");
      }
    }

    let shownKey = "";
    function summary(shown) {
      let box = document.getElementById("form-errors");
      const general = box ? box.querySelector("#general-errors, details") : null;
      const key = JSON.stringify(shown);
      if (key === shownKey) return;
      shownKey = key;
      if (!shown.length) {
        const list = document.getElementById("error-list");
        if (list) list.remove();
        if (box && !general) box.hidden = true;
        else if (box) box.querySelector("strong").textContent = "The spec was not saved.";
        return;
      }
      if (!box) {
        box = document.createElement("div");
        box.className = "notice error error-summary";
        box.id = "form-errors";
        box.tabIndex = -1;
        box.setAttribute("role", "alert");
        box.setAttribute("aria-labelledby", "form-errors-title");
        const title = document.createElement("strong");
        title.id = "form-errors-title";
        box.appendChild(title);
        form.querySelector(".form-grid").before(box);
      }
      box.hidden = false;
      const n = shown.length;
      box.querySelector("strong").textContent = `${n} problem${n === 1 ? "" : "s"} to fix before you ${submit.dataset.verb}:`;
      let list = document.getElementById("error-list");
      if (!list) {
        list = document.createElement("ul");
        list.id = "error-list";
        box.querySelector("strong").after(list);
      }
      list.replaceChildren(...shown.map(([id, message]) => {
        const li = document.createElement("li");
        li.dataset.errorFor = id;
        const a = document.createElement("a");
        a.href = "#" + ({ instances: "instances-h", volumes: "volumes-h" }[id] || id);
        a.textContent = label(id);
        li.append(a, ": " + message);
        return li;
      }));
    }

    let blocking = 0;
    function button(shown, pending) {
      const fit = document.getElementById("fit");
      const over = fit && !fit.hidden && fit.classList.contains("error");
      const verb = submit.dataset.verb;
      blocking = shown.length + pending.length;
      let text = "";
      if (shown.length) text = `Fix ${shown.length} problem${shown.length === 1 ? "" : "s"} above to ${verb}.`;
      else if (pending.length) text = `Fill in ${pending.map(([id]) => label(id)).join(", ")} to ${verb}.`;
      else if (over && !RULES.quota_waits) {
        blocking = 1;
        text = `It does not fit in the free quota: make it smaller to ${verb}.`;
      } else if (over) text = words.over_quota;
      note.textContent = text;
      if (blocking) submit.setAttribute("aria-disabled", "true");
      else submit.removeAttribute("aria-disabled");
    }

    function check() {
      const found = problems();
      const shown = [];
      const pending = [];
      const ids = new Set([...found.keys(), ...Array.from(form.querySelectorAll(".field-error[id^='err-']"), (p) => p.id.slice(4))]);
      for (const id of ids) {
        const [message, isPending] = found.get(id) || [null, false];
        if (message && isPending) pending.push([id, message]);
        else if (message) shown.push([id, message]);
        showAt(id, isPending ? null : message);
      }
      summary(shown);
      button(shown, pending);
      guests();
    }

    function guests() {
      const hint = document.getElementById("hint-nb_users");
      const raw = value("nb_users").trim();
      if (!hint || !/^\d{1,4}$/.test(raw)) return;
      const n = Number(raw);
      const first = "user" + "1".padStart(String(n).length, "0");
      hint.textContent = n <= 0 ? "No guest accounts." : n === 1 ? `${first}, sharing one password.` : `${first} … user${n}, sharing one password.`;
    }

    function touch(e) {
      const target = e.target;
      if (!target.id) return;
      touched.add(target.id);
      if (target.closest('tr[data-row="inst"]')) server.delete("instances");
      if (target.closest('tr[data-row="vol"]')) server.delete("volumes");
      setTimeout(check, 0); /* after app.js refilled the flavors and the quota panel */
    }
    form.addEventListener("input", touch);
    form.addEventListener("change", (e) => {
      if (e.target.matches("select.flavor")) e.target.dataset.picked = e.target.value; /* app.js keeps it */
      touch(e);
      if (e.target.name === "cloud" || e.target.name === "project") setTimeout(refreshCatalog, 600);
    });
    form.addEventListener("click", (e) => {
      if (e.target.closest("[data-add-row], [data-remove-row]")) setTimeout(check, 0);
      const link = e.target.closest("#form-errors a[href^='#']");
      if (!link) return;
      const input = document.getElementById(link.getAttribute("href").slice(1));
      if (!input) return;
      e.preventDefault();
      const details = input.closest("details");
      if (details) details.open = true;
      input.focus();
    });
    /* The quota panel changes with the catalog (a cloud or a project chosen): follow it. */
    async function refreshCatalog() {
      try {
        const project = form.elements.namedItem("project");
        const query = project && project.value ? "project=" + encodeURIComponent(project.value) : "cloud=" + encodeURIComponent(value("cloud"));
        const r = await fetch("/api/resources?" + query, { credentials: "same-origin" });
        if (!r.ok) return;
        const fresh = await r.json();
        flavors = fresh.flavors || [];
        flavorsUnknown = "flavors" in (fresh.unknown || {});
      } catch (err) {
        /* keep the flavors known */
      }
      check();
    }
    const fit = document.getElementById("fit");
    if (fit) new MutationObserver(() => check()).observe(fit, { attributes: true, childList: true, characterData: true, subtree: true });
    form.addEventListener("submit", (e) => {
      tried = true;
      check();
      if (!blocking) return;
      e.preventDefault();
      e.stopImmediatePropagation();
      const box = document.getElementById("form-errors");
      const first = box && !box.hidden ? box : form.querySelector("[aria-invalid='true']");
      (first || submit).focus();
    }, true);

    const sent = document.getElementById("form-errors"); /* the server's: a save was refused */
    check();
    if (sent && !sent.hidden) sent.focus();
  }

  document.addEventListener("DOMContentLoaded", formCheck);
})();
