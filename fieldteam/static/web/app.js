/* fieldteam mobile web: plain JavaScript, no build step.

   Every write (assistance logs, households, residents, training sessions) is first put in an
   IndexedDB outbox with a client-made UUID, then sent through POST /api/v1/sync/. The same path
   runs with and without signal: the outbox survives reloads and closing the browser, and is sent
   on load, when the connection returns ("online"), and on a retry timer with backoff. Items the
   server rejects stay with its (translated) reason until corrected or discarded; they never hold
   back the rest. All texts come from the page (#ft-i18n), rendered in the page's language. */
(function () {
  "use strict";
  const body = document.body;
  const i18nNode = document.getElementById("ft-i18n");
  if (!body || !i18nNode) return;
  const I = JSON.parse(i18nNode.textContent);
  const M = I.m;
  const USER = body.dataset.user || "";
  const SYNC_URL = body.dataset.sync;
  const ROSTER_URL = body.dataset.roster;
  const LANG = document.documentElement.lang || "vi";
  const CHUNK = 100; // items per request: small requests get through on 3G
  const MAX_BACKOFF = 5 * 60 * 1000;

  // --- small helpers -------------------------------------------------------------------------
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }
  function fmt(text, params) {
    return String(text).replace(/%\((\w+)\)s/g, (_, key) => (params && key in params ? params[key] : ""));
  }
  function fold(text) {
    // Vietnamese without diacritics, lower case: "Nguyễn Đức" -> "nguyen duc".
    return String(text || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/đ/g, "d").replace(/Đ/g, "d").toLowerCase();
  }
  function nameMatches(name, query) {
    // Each word of the query begins a word of the name, accents optional ("an" finds "Anh", not "Lan").
    // A word also starts after an apostrophe or a hyphen: "linh" finds "H'Linh" (selectors/people.py).
    const words = fold(name).split(/[\s'’-]+/);
    return fold(query).split(/\s+/).filter(Boolean).every((w) => words.some((word) => word.startsWith(w)));
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16)); // plain http on a LAN has no randomUUID
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const x = Array.from(b, (v) => v.toString(16).padStart(2, "0")).join("");
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
  }
  const isUuid = (v) => typeof v === "string" && /^[0-9a-f]{8}-[0-9a-f]{4}-/i.test(v);
  const idOrUuid = (v) => (/^\d+$/.test(String(v)) ? parseInt(v, 10) : String(v));
  function csrfToken() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  function localInput(date) {
    // A Date as the value of <input type=datetime-local> (the phone's local time).
    const d = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
    return d.toISOString().slice(0, 16);
  }
  function fromLocalInput(value) {
    return value ? new Date(value).toISOString() : "";
  }
  // Dates as the server pages write them (backend/formats/vi): dd/mm/yyyy and HH:MM, in the
  // phone's local time. Intl's "short" styles differ by browser ("7/12/26", "03:59 7/12/26").
  const two = (n) => String(n).padStart(2, "0");
  function shortDate(d) {
    return `${two(d.getDate())}/${two(d.getMonth() + 1)}/${d.getFullYear()}`;
  }
  function shortTime(iso) {
    const d = new Date(iso);
    if (isNaN(d.getTime())) return iso;
    return `${shortDate(d)} ${two(d.getHours())}:${two(d.getMinutes())}`;
  }
  let toastTimer = null;
  function toast(text, bad) {
    const node = $("#toast");
    if (!node) return;
    node.textContent = text;
    node.className = bad ? "toast bad" : "toast";
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { node.hidden = true; }, 5000);
  }

  // --- the outbox (IndexedDB) ----------------------------------------------------------------
  let dbPromise = null;
  function db() {
    if (!dbPromise) {
      dbPromise = new Promise((resolve, reject) => {
        const request = indexedDB.open("fieldteam", 1);
        request.onupgradeneeded = () => {
          const d = request.result;
          if (!d.objectStoreNames.contains("outbox")) d.createObjectStore("outbox", {keyPath: "client_id"});
          if (!d.objectStoreNames.contains("sent")) d.createObjectStore("sent", {keyPath: "client_id"});
        };
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
    }
    return dbPromise;
  }
  async function tx(stores, mode, work) {
    const d = await db();
    return new Promise((resolve, reject) => {
      const t = d.transaction(stores, mode);
      let result;
      t.oncomplete = () => resolve(result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error);
      work(t, (value) => { result = value; });
    });
  }
  const outbox = {
    all: () => tx(["outbox"], "readonly", (t, done) => {
      t.objectStore("outbox").getAll().onsuccess = (e) => done(e.target.result.sort((a, b) => a.seq - b.seq));
    }),
    mine: async () => (await outbox.all()).filter((item) => item.user === USER),
    put: (items) => tx(["outbox"], "readwrite", (t) => { for (const item of [].concat(items)) t.objectStore("outbox").put(item); }),
    remove: (ids) => tx(["outbox"], "readwrite", (t) => { for (const id of ids) t.objectStore("outbox").delete(id); }),
    sent: () => tx(["sent"], "readonly", (t, done) => {
      t.objectStore("sent").getAll().onsuccess = (e) => {
        const map = {};
        for (const row of e.target.result) map[row.client_id] = row.id;
        done(map);
      };
    }),
    // Received items leave the outbox and are remembered (client id -> server id) in one transaction.
    received: (pairs) => tx(["outbox", "sent"], "readwrite", (t) => {
      const now = Date.now();
      for (const [clientId, id, kind] of pairs) {
        t.objectStore("outbox").delete(clientId);
        t.objectStore("sent").put({client_id: clientId, id: id, kind: kind, at: now});
      }
    }),
  };
  // A shared phone: whoever signs in next must not find a CCCD or phone number typed by someone
  // else. Sign-out removes them from every entry (refused ones too); so does a page opened by
  // another user (a session that ended without the sign-out button). The rest is still sent.
  const IDENTIFIER_KEYS = ["citizen_id", "phone"];
  function withoutIdentifiers(value) {
    if (Array.isArray(value)) return value.map(withoutIdentifiers);
    if (!value || typeof value !== "object") return value;
    const copy = {};
    for (const [key, v] of Object.entries(value)) if (!IDENTIFIER_KEYS.includes(key)) copy[key] = withoutIdentifiers(v);
    return copy;
  }
  function holdsIdentifier(value) {
    return JSON.stringify(withoutIdentifiers(value)) !== JSON.stringify(value);
  }
  function forgetIdentifiers(which) {
    return tx(["outbox"], "readwrite", (t) => {
      const store = t.objectStore("outbox");
      store.getAll().onsuccess = (e) => {
        for (const item of e.target.result) {
          // ``data`` as typed and ``payload`` as frozen for sending; the server's reasons hold no number.
          if (!which(item) || !holdsIdentifier([item.data, item.payload])) continue;
          store.put(Object.assign({}, item, {data: withoutIdentifiers(item.data), payload: withoutIdentifiers(item.payload), identifiers_removed: true}));
        }
      };
    });
  }
  async function pruneSent() {
    // Server ids of received items are kept a month: long enough for anything still queued to refer to.
    const limit = Date.now() - 30 * 24 * 3600 * 1000;
    await tx(["sent"], "readwrite", (t) => {
      const store = t.objectStore("sent");
      store.getAll().onsuccess = (e) => {
        for (const row of e.target.result) if (row.at < limit) store.delete(row.client_id);
      };
    });
  }
  let seqCounter = 0;
  function newItem(kind, data, label, clientId) {
    return {
      client_id: clientId || uuid(),
      kind: kind,
      data: data,
      label: label,
      user: USER,
      seq: Date.now() * 1000 + (seqCounter++ % 1000),
      created_at: new Date().toISOString(),
      status: "pending",
      errors: null,
    };
  }
  async function enqueue(items) {
    await outbox.put(items); // one transaction: a household and its people are saved together
    await refreshStatus();
    return sync();
  }

  // --- sending -------------------------------------------------------------------------------
  let backoff = 0;
  let retryTimer = null;
  let running = null;
  let again = false;
  let authProblem = false;
  let lastProblem = "";

  function refsOf(item) {
    const d = item.data || {};
    if (item.kind === "resident") return [d.household];
    if (item.kind === "assistance_log") return [d.resident, d.household];
    if (item.kind === "training_session") return d.attendees || [];
    return [];
  }
  function nestedIds(item) {
    // The people of a household item: later items refer to them by their own client ids.
    return item.kind === "household" ? ((item.data || {}).residents || []).map((p) => p.client_id).filter(Boolean) : [];
  }
  function byClientId(items) {
    const map = new Map();
    for (const item of items) {
      map.set(item.client_id, item);
      for (const id of nestedIds(item)) map.set(id, item);
    }
    return map;
  }
  function resolved(item, sent) {
    // References to items already received become their server ids.
    const map = (v) => (isUuid(v) && sent[v] !== undefined && sent[v] !== null ? idOrUuid(sent[v]) : v);
    const d = JSON.parse(JSON.stringify(item.data));
    if (item.kind === "resident") d.household = map(d.household);
    if (item.kind === "assistance_log") {
      if (d.resident !== undefined) d.resident = map(d.resident);
      if (d.household !== undefined) d.household = map(d.household);
    }
    if (item.kind === "training_session") d.attendees = (d.attendees || []).map(map);
    return d;
  }

  function sync() {
    if (running) {
      again = true;
      return running;
    }
    const run = () => (navigator.locks ? navigator.locks.request("fieldteam-sync", sendAll) : sendAll());
    running = run().catch(() => null).then(async () => {
      running = null;
      if (again) {
        again = false;
        return sync();
      }
      await refreshStatus();
    });
    return running;
  }

  function scheduleRetry() {
    backoff = Math.min(backoff ? backoff * 2 : 2000, MAX_BACKOFF);
    const delay = Math.round(backoff * (0.75 + Math.random() / 2));
    clearTimeout(retryTimer);
    retryTimer = setTimeout(sync, delay);
    lastProblem = fmt(M.retry_in, {s: Math.round(delay / 1000)});
  }

  async function post(items) {
    return fetch(SYNC_URL, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Accept-Language": LANG,
        "X-CSRFToken": csrfToken(),
      },
      body: JSON.stringify({items: items.map((i) => ({kind: i.kind, client_id: i.client_id, data: i.payload}))}),
    });
  }

  function flatErrors(payload) {
    if (!payload) return {non_field_errors: [M.rejected]};
    if (payload.errors && typeof payload.errors === "object") return payload.errors;
    if (payload.detail) return {non_field_errors: [String(payload.detail)]};
    if (typeof payload === "object") return payload;
    return {non_field_errors: [String(payload)]};
  }

  async function sendAll() {
    clearTimeout(retryTimer);
    const items = await outbox.mine();
    if (!items.some((i) => i.status !== "rejected")) {
      backoff = 0;
      lastProblem = "";
      return;
    }
    if (!navigator.onLine) return; // the "online" event sends
    const sent = await outbox.sent();
    const byId = byClientId(items);
    const ready = [];
    const changed = [];
    for (const item of items) {
      if (item.status === "rejected") continue;
      const parent = refsOf(item).map((r) => byId.get(r)).find((p) => p && (p.status === "rejected" || p.status === "blocked"));
      if (parent) {
        if (item.status !== "blocked" || item.blocked_by !== parent.client_id) {
          item.status = "blocked";
          item.blocked_by = parent.client_id;
          changed.push(item);
        }
        continue;
      }
      if (item.status === "blocked") {
        item.status = "pending";
        delete item.blocked_by;
        changed.push(item);
      }
      ready.push(item);
    }
    if (changed.length) await outbox.put(changed);
    await refreshStatus(true);
    for (let start = 0; start < ready.length; start += CHUNK) {
      const ok = await sendChunk(ready.slice(start, start + CHUNK), byId);
      if (!ok) return;
    }
    backoff = 0;
    lastProblem = "";
    authProblem = false;
    refreshRoster();
  }

  async function sendChunk(chunk, byId) {
    const sent = await outbox.sent();
    const frozen = [];
    for (const item of chunk) {
      // Resent exactly as first sent, so the server recognises it ("already received").
      if (!item.payload) {
        item.payload = resolved(item, sent);
        frozen.push(item);
      }
    }
    if (frozen.length) await outbox.put(frozen);
    let response;
    try {
      response = await post(chunk);
    } catch (e) {
      scheduleRetry();
      return false;
    }
    if (response.status === 401 || response.status === 403) {
      authProblem = true;
      return false;
    }
    if (response.status === 200) {
      let answer = null;
      try {
        answer = await response.json();
      } catch (e) {
        scheduleRetry();
        return false;
      }
      await applyResults(chunk, answer.results || [], byId);
      return true;
    }
    if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
      // The batch as a whole was refused: find the item at fault by sending them one by one.
      if (chunk.length > 1) {
        for (const item of chunk) {
          if (!(await sendChunk([item], byId))) return false;
        }
        return true;
      }
      let payload = null;
      try {
        payload = await response.json();
      } catch (e) { /* not JSON */ }
      const item = chunk[0];
      item.status = "rejected";
      item.errors = flatErrors(payload);
      delete item.payload;
      await outbox.put(item);
      return true;
    }
    lastProblem = fmt(M.server_error, {status: response.status});
    scheduleRetry();
    return false;
  }

  async function applyResults(chunk, results, byId) {
    const received = [];
    const kept = [];
    const rejectedNow = new Set();
    const byClient = new Map(results.map((r) => [r.client_id, r]));
    for (const item of chunk) {
      const result = byClient.get(item.client_id);
      if (!result) continue; // not answered: stays pending
      if (result.status === "created" || result.status === "already_received") {
        received.push([item.client_id, result.id, item.kind]);
        for (const person of result.residents || []) received.push([person.client_id, person.id, "resident"]);
        continue;
      }
      const parentRejected = refsOf(item).some((r) => rejectedNow.has(r));
      item.status = parentRejected ? "blocked" : "rejected";
      item.blocked_by = parentRejected ? refsOf(item).find((r) => rejectedNow.has(r)) : undefined;
      item.errors = result.errors || {};
      item.conflict = result.status === "conflict";
      delete item.payload;
      rejectedNow.add(item.client_id);
      for (const id of nestedIds(item)) rejectedNow.add(id);
      kept.push(item);
      byId.set(item.client_id, item);
    }
    if (received.length) await outbox.received(received);
    if (kept.length) await outbox.put(kept);
  }

  // --- status everywhere ---------------------------------------------------------------------
  async function refreshStatus(sending) {
    let items = [];
    try {
      items = await outbox.all();
    } catch (e) {
      return;
    }
    const mine = items.filter((i) => i.user === USER);
    const others = items.length - mine.length;
    const rejected = mine.filter((i) => i.status === "rejected").length;
    const waiting = mine.length - rejected;
    body.dataset.waiting = waiting; // for the browser tests (and a glance in the inspector)
    body.dataset.rejected = rejected;
    const chip = $("#outbox-chip");
    if (chip) {
      chip.hidden = !mine.length;
      chip.className = rejected ? "chip bad" : "chip";
      chip.textContent = [waiting ? (sending && navigator.onLine ? M.sending : fmt(M.waiting_n, {n: waiting})) : "", rejected ? fmt(M.rejected_n, {n: rejected}) : ""].filter(Boolean).join(" · ");
    }
    const net = $("#net");
    if (net) {
      const text = authProblem ? M.signin_again : !navigator.onLine ? M.offline : waiting && lastProblem ? lastProblem : "";
      net.hidden = !text;
      net.textContent = text;
      if (authProblem) net.append(" ", h("a", {href: "/login/?next=" + encodeURIComponent(location.pathname), text: "→"}));
    }
    const card = $("#outbox-card");
    if (card) {
      card.hidden = !mine.length && !others;
      card.replaceChildren(
        mine.length ? h("p", {}, h("b", {text: [waiting ? fmt(M.waiting_n, {n: waiting}) : "", rejected ? fmt(M.rejected_n, {n: rejected}) : ""].filter(Boolean).join(" · ")}), " ", h("a", {href: "/outbox/", text: "→"})) : "",
        others ? h("p", {class: "small", text: fmt(M.other_user, {n: others})}) : "",
        waiting && navigator.onLine ? h("button", {type: "button", class: "secondary", text: M.send_now, onclick: () => { backoff = 0; sync(); }}) : ""
      );
    }
    for (const list of $$("#outbox-list")) renderOutbox(list, mine);
  }

  function describeErrors(item) {
    const lines = [];
    for (const [field, messages] of Object.entries(item.errors || {})) {
      let label = I.fields[field.replace(/\[\d+\].*$/, "")] || "";
      const person = /^residents\[(\d+)\](?:\.(\w+))?/.exec(field);
      if (person) {
        // A person of a household item: which one, by number and name, and which of their fields.
        const entry = ((item.data && item.data.residents) || [])[parseInt(person[1], 10)] || {};
        label = [`${fmt(M.person_n, {n: parseInt(person[1], 10) + 1})}${entry.full_name ? ` (${entry.full_name})` : ""}`, person[2] ? I.fields[person[2]] || person[2] : ""].filter(Boolean).join(" · ");
      }
      for (const message of [].concat(messages)) {
        const text = typeof message === "string" ? message : JSON.stringify(message);
        lines.push(label && field !== "non_field_errors" ? `${label}: ${text}` : text);
      }
    }
    return lines;
  }

  function renderOutbox(list, items) {
    if (list.querySelector("form.editor")) return; // do not redraw under a correction being typed
    const byId = byClientId(items);
    list.replaceChildren(
      ...items.map((item) => {
        const status = item.status === "rejected" ? M.rejected : M.waiting;
        const parent = item.status === "blocked" ? byId.get(item.blocked_by) : null;
        const node = h("div", {class: `item ${item.status}`, "data-client-id": item.client_id, "data-status": item.status},
          h("div", {class: "st", text: `${status} · ${M["kind_" + item.kind] || item.kind}`}),
          h("b", {text: (item.label && item.label.title) || ""}),
          item.label && item.label.detail ? h("div", {class: "small", text: item.label.detail}) : "",
          h("div", {class: "small muted", text: fmt(M.saved_at, {time: shortTime(item.created_at)})}),
          parent ? h("div", {class: "small", text: fmt(M.blocked, {what: (parent.label && parent.label.title) || ""})}) : "",
          item.status === "rejected" ? h("div", {class: "reason"}, h("div", {text: item.conflict ? M.conflict : M.rejected_reason}), describeErrors(item).map((line) => h("div", {text: line}))) : "",
          item.status === "rejected" && !list.dataset.compact ? h("div", {class: "actions"},
            h("button", {type: "button", class: "secondary", text: M.correct, onclick: () => openEditor(node, item)}),
            h("button", {type: "button", class: "danger", text: M.discard, onclick: () => discard(item)})) : ""
        );
        return node;
      })
    );
    if (!items.length && !list.dataset.compact) list.append(h("p", {class: "muted", text: M.nothing_waiting}));
    if (list.dataset.compact && items.some((i) => i.status === "rejected")) {
      list.append(h("a", {href: "/outbox/", text: `${M.correct} →`}));
    }
  }

  async function discard(item) {
    if (!window.confirm(M.discard_confirm)) return;
    // What depends on it (people of a discarded household, help for a discarded person) goes too.
    const items = await outbox.mine();
    const gone = new Set([item.client_id, ...nestedIds(item)]);
    for (const other of items) {
      if (refsOf(other).some((r) => gone.has(r))) {
        gone.add(other.client_id);
        for (const id of nestedIds(other)) gone.add(id);
      }
    }
    await outbox.remove(Array.from(gone));
    await refreshStatus();
    sync();
  }

  // --- correcting a rejected item ------------------------------------------------------------
  const EDITABLE = {
    household: ["code", "head_name", "address"],
    resident: ["full_name", "sex", "birth_year", "birth_date", "citizen_id", "phone"],
    assistance_log: ["occurred_at", "channel", "note"],
    training_session: ["topic", "started_at", "ended_at"],
  };
  function fieldInput(name, value) {
    if (name === "sex" || name === "channel") {
      const options = name === "sex" ? I.sex : I.channels;
      return h("select", {name: name}, Object.entries(options).map(([v, l]) => h("option", {value: v, selected: v === value, text: l})));
    }
    if (name === "note") return h("textarea", {name: name, rows: 2, maxlength: 1000}, value || "");
    if (name.endsWith("_at")) return h("input", {name: name, type: "datetime-local", value: value ? localInput(new Date(value)) : ""});
    if (name === "birth_date") return h("input", {name: name, type: "date", value: value || ""});
    return h("input", {name: name, value: value === undefined || value === null ? "" : value, inputmode: /year|citizen|phone/.test(name) ? "numeric" : null});
  }
  function openEditor(node, item) {
    const errors = item.errors || {};
    const form = h("form", {class: "editor", novalidate: true});
    for (const name of EDITABLE[item.kind] || []) {
      const errs = [].concat(errors[name] || []);
      const input = fieldInput(name, item.data[name]);
      if (errs.length) input.classList.add("invalid");
      form.append(h("label", {}, I.fields[name] || name, input, errs.map((e) => h("p", {class: "field-error", text: e}))));
    }
    (item.kind === "household" ? item.data.residents || [] : []).forEach((person, index) => {
      // Each person of a household item, with the errors the server gave for them.
      const group = h("fieldset", {}, h("legend", {text: `${fmt(M.person_n, {n: index + 1})} ${person.full_name || ""}`}));
      for (const name of EDITABLE.resident) {
        const errs = [].concat(errors[`residents[${index}].${name}`] || []);
        const input = fieldInput(name, person[name]);
        input.name = `residents.${index}.${name}`;
        if (errs.length) input.classList.add("invalid");
        group.append(h("label", {}, I.fields[name] || name, input, errs.map((e) => h("p", {class: "field-error", text: e}))));
      }
      form.append(group);
    });
    if (item.kind === "assistance_log") {
      (item.data.items || []).forEach((line, index) => {
        const errs = Object.entries(errors).filter(([k]) => k.startsWith(`items[${index}]`)).flatMap(([, v]) => v);
        const outcome = h("select", {name: `outcome-${index}`},
          h("option", {value: "done", selected: line.outcome === "done", text: M.done}),
          h("option", {value: "not_done", selected: line.outcome === "not_done", text: M.not_done}));
        const reason = h("select", {name: `reason-${index}`}, h("option", {value: "", text: "—"}),
          Object.entries(I.reasons).map(([v, l]) => h("option", {value: v, selected: v === line.reason, text: l})));
        form.append(h("label", {}, line.name || line.capability, outcome, reason, errs.map((e) => h("p", {class: "field-error", text: e}))));
      });
    }
    form.append(h("div", {class: "actions"},
      h("button", {type: "submit", class: "primary", text: M.save_correction}),
      h("button", {type: "button", text: M.cancel, onclick: () => { form.remove(); refreshStatus(); }})));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = JSON.parse(JSON.stringify(item.data));
      for (const name of EDITABLE[item.kind] || []) {
        const raw = form.elements[name].value.trim();
        let value = name.endsWith("_at") ? fromLocalInput(raw) : raw;
        if (name === "birth_year" && value) value = parseInt(value, 10);
        if (value === "" || Number.isNaN(value)) delete data[name];
        else data[name] = value;
      }
      if (item.kind === "household") {
        (data.residents || []).forEach((person, index) => {
          for (const name of EDITABLE.resident) {
            const raw = form.elements[`residents.${index}.${name}`].value.trim();
            const value = name === "birth_year" && raw ? parseInt(raw, 10) : raw;
            if (value === "" || Number.isNaN(value)) delete person[name];
            else person[name] = value;
          }
        });
      }
      if (item.kind === "assistance_log") {
        data.items.forEach((line, index) => {
          line.outcome = form.elements[`outcome-${index}`].value;
          const reason = form.elements[`reason-${index}`].value;
          if (line.outcome === "not_done" && reason) line.reason = reason;
          else delete line.reason;
        });
      }
      const corrected = Object.assign({}, item, {data: data, status: "pending", errors: null, conflict: false});
      delete corrected.payload;
      if (item.conflict) {
        // The id is taken by other content on the server: send the correction as a new record.
        corrected.client_id = uuid();
        const others = (await outbox.mine()).filter((o) => refsOf(o).includes(item.client_id));
        for (const other of others) other.data = JSON.parse(JSON.stringify(other.data).split(item.client_id).join(corrected.client_id));
        await outbox.remove([item.client_id]);
        await outbox.put(others);
      }
      await outbox.put(corrected);
      form.remove();
      backoff = 0;
      await refreshStatus();
      sync();
    });
    node.append(form);
  }

  // --- the roster (the member's villages, cached by the service worker) -------------------------
  let rosterPromise = null;
  function loadRoster() {
    if (!rosterPromise) {
      rosterPromise = fetch(ROSTER_URL, {credentials: "same-origin"})
        .then((r) => (r.ok ? r.json() : null))
        .then((data) => (data && data.user === USER ? data : null))
        .catch(() => null);
    }
    return rosterPromise;
  }
  function refreshRoster() {
    rosterPromise = null;
    return loadRoster();
  }
  async function people() {
    // The roster plus the people and households saved on this phone and not yet received.
    const roster = (await loadRoster()) || {villages: [], households: [], residents: [], capabilities: []};
    const items = await outbox.mine().catch(() => []);
    const households = roster.households.slice();
    const residents = roster.residents.slice();
    const local = new Map();
    for (const item of items) {
      if (item.kind === "household") {
        const hh = {i: item.client_id, v: item.data.village, k: item.data.code || "", n: item.data.head_name || "", b: [], local: true};
        local.set(item.client_id, hh);
        households.push(hh);
        for (const p of item.data.residents || []) {
          residents.push({i: p.client_id, h: item.client_id, v: hh.v, n: p.full_name,
            y: p.birth_year || (p.birth_date || "").slice(0, 4), s: p.sex, p: "", c: "", b: [], local: true});
        }
      }
    }
    for (const item of items) {
      if (item.kind !== "resident") continue;
      const hh = households.find((x) => String(x.i) === String(item.data.household));
      residents.push({i: item.client_id, h: item.data.household, v: hh ? hh.v : null, n: item.data.full_name,
        y: item.data.birth_year || (item.data.birth_date || "").slice(0, 4), s: item.data.sex, p: "", c: "", b: [], local: true});
    }
    return {roster: roster, households: households, residents: residents};
  }
  // Follow-up visits (issue 17): one logged on this phone since the list was made, not yet received,
  // is struck through, offline too; the server closes it when the log arrives (the same sync).
  async function markFollowUps() {
    const logs = (await outbox.mine().catch(() => [])).filter((item) => item.kind === "assistance_log");
    for (const li of $$("[data-follow-ups] li[data-id]")) {
      const kind = li.dataset.subject;
      const pending = logs.some((item) => String(item.data[kind]) === li.dataset.id
        && (item.data.items || []).some((x) => x.capability === li.dataset.capability)
        && (!li.dataset.visited || new Date(item.data.occurred_at) > new Date(li.dataset.visited)));
      li.classList.toggle("pending", pending);
    }
  }
  const residentUrl = (r) => (r.local ? `/shell/resident/#${r.i}` : `/residents/${r.i}/`);
  const householdUrl = (hh) => (hh.local ? `/shell/household/#${hh.i}` : `/households/${hh.i}/`);
  function villageName(roster, id) {
    const v = roster.villages.find((x) => String(x.id) === String(id));
    return v ? v.name : "";
  }
  function personItem(r, all) {
    const hh = all.households.find((x) => String(x.i) === String(r.h));
    return h("li", {}, h("a", {href: residentUrl(r)}, r.n, " ",
      h("small", {text: [r.y, hh && hh.k, villageName(all.roster, r.v)].filter(Boolean).join(" · ")}),
      r.local ? h("span", {class: "tag", text: M.local_tag}) : ""));
  }

  // --- log help (resident and household pages) --------------------------------------------------
  function initLogForm(form) {
    const choices = new Map(); // capability code -> {outcome, reason}
    const reasons = $("#reasons", form);
    const save = $("button[type=submit]", form);
    const error = $(".form-error", form);
    let reasonFor = null;
    const saveLabel = save.textContent;
    const channelKey = "ft-channel";
    const lastChannel = localStorage.getItem(channelKey);
    if (lastChannel) {
      const radio = $(`input[name=channel][value="${lastChannel}"]`, form);
      if (radio) radio.checked = true;
    }
    function draw() {
      for (const li of $$(".cap", form)) {
        const choice = choices.get(li.dataset.code);
        for (const button of $$("button[data-o]", li)) button.setAttribute("aria-pressed", String(!!choice && choice.outcome === button.dataset.o));
      }
      for (const button of $$("button[data-reason]", reasons)) {
        const choice = reasonFor && choices.get(reasonFor);
        button.setAttribute("aria-pressed", String(!!choice && choice.reason === button.dataset.reason));
      }
      save.disabled = !choices.size;
      save.textContent = choices.size ? fmt(M.save_n, {n: choices.size}) : saveLabel;
    }
    function showReasons(li) {
      reasonFor = li ? li.dataset.code : null;
      reasons.hidden = !li;
      if (li) li.append(reasons);
    }
    form.addEventListener("click", (event) => {
      const outcome = event.target.closest("button[data-o]");
      if (outcome) {
        const li = outcome.closest(".cap");
        const code = li.dataset.code;
        const current = choices.get(code);
        if (current && current.outcome === outcome.dataset.o) choices.delete(code);
        else choices.set(code, {outcome: outcome.dataset.o, reason: ""});
        const chosen = choices.get(code);
        if (chosen && chosen.outcome === "not_done") showReasons(li);
        else if (reasonFor === code) showReasons(null);
        error.hidden = true;
        draw();
        return;
      }
      const reason = event.target.closest("button[data-reason]");
      if (reason && reasonFor && choices.get(reasonFor)) {
        choices.get(reasonFor).reason = reason.dataset.reason;
        draw();
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const lines = [];
      for (const li of $$(".cap", form)) {
        const choice = choices.get(li.dataset.code);
        if (!choice) continue;
        if (choice.outcome === "not_done" && !choice.reason) {
          showReasons(li);
          error.textContent = M.choose_reason;
          error.hidden = false;
          return;
        }
        lines.push({li: li, capability: li.dataset.code, outcome: choice.outcome, reason: choice.reason, name: li.dataset.name});
      }
      if (!lines.length) {
        error.textContent = M.choose_capability;
        error.hidden = false;
        return;
      }
      const channel = ($("input[name=channel]:checked", form) || {}).value || "home_visit";
      localStorage.setItem(channelKey, channel);
      const note = form.elements.note.value.trim();
      const data = {
        team: parseInt(form.dataset.team, 10),
        [form.dataset.subject]: idOrUuid(form.dataset.id),
        occurred_at: new Date().toISOString(),
        channel: channel,
        items: lines.map((l) => (l.outcome === "not_done" ? {capability: l.capability, outcome: l.outcome, reason: l.reason} : {capability: l.capability, outcome: l.outcome})),
      };
      if (note) data.note = note;
      const detail = lines.map((l) => `${l.name}: ${l.outcome === "done" ? M.done : M.not_done}${l.reason ? ` (${I.reasons[l.reason]})` : ""}`).join("; ");
      const item = newItem("assistance_log", data, {title: form.dataset.title, detail: detail});
      save.disabled = true;
      await enqueue([item]);
      const still = (await outbox.mine()).find((i) => i.client_id === item.client_id);
      toast(!still ? M.saved_sent : still.status === "rejected" ? `${M.rejected}: ${describeErrors(still).join(" ")}` : M.saved_waiting, still && still.status === "rejected");
      // What was done shows at once, as held since today; the history gets the new entry on top.
      for (const line of lines) {
        if (line.outcome === "done") {
          line.li.classList.add("held");
          $(".since", line.li).textContent = fmt(M.held_since, {date: shortDate(new Date())});
        }
      }
      const history = $("[data-f=history]");
      if (history) history.prepend(h("li", {class: "log-entry"}, h("time", {text: shortTime(data.occurred_at)}), " ",
        h("span", {class: "small muted", text: still ? M.waiting : M.sent}), h("ul", {class: "items"}, lines.map((l) => h("li", {class: l.outcome, text: `${l.name}: ${l.outcome === "done" ? M.done : M.not_done}`})))));
      choices.clear();
      showReasons(null);
      form.elements.note.value = "";
      draw();
    });
    draw();
  }

  async function fillShell(kind) {
    // A resident or household page drawn from the roster (no connection, or not yet received).
    const key = decodeURIComponent(location.hash.slice(1)) || (location.pathname.match(/\/(\d+)\/$/) || [])[1] || "";
    const all = await people();
    const form = $("#log-form");
    const set = (name, ...content) => {
      const node = $(`[data-f=${name}]`);
      if (node) node.replaceChildren(...content);
    };
    const list = kind === "resident" ? all.residents : all.households;
    const found = list.find((x) => String(x.i) === key);
    if (!found) {
      set("name", M.unknown);
      if (!all.roster.villages.length) set("meta", M.no_roster);
      $("[data-f=log-body]").hidden = true;
      return;
    }
    const village = all.roster.villages.find((v) => String(v.id) === String(found.v));
    if (kind === "resident") {
      const hh = all.households.find((x) => String(x.i) === String(found.h));
      set("name", found.n);
      set("meta", [I.sex[found.s], found.y ? fmt(M.born, {year: found.y}) : ""].filter(Boolean).join(" · "));
      set("household", hh ? h("a", {href: householdUrl(hh), text: fmt(M.household_of, {name: hh.n || hh.k})}) : "", village ? ` · ${village.name}` : "");
      set("ids", [found.p, found.c].filter(Boolean).join(" · "));
      document.title = found.n;
    } else {
      set("name", fmt(M.household_of, {name: found.n || found.k}));
      set("meta", [found.k, village ? village.name : ""].filter(Boolean).join(" · "));
      const members = all.residents.filter((r) => String(r.h) === String(found.i));
      set("members", ...members.map((r) => personItem(r, all)));
      const add = $("[data-f=add-person]");
      if (add && village) {
        add.href = `/register/?household=${encodeURIComponent(found.i)}`;
        add.hidden = false;
      }
    }
    if (found.local) $(".history").replaceChildren(h("li", {class: "muted", text: M.local_tag}));
    const held = new Set(found.b || []);
    for (const li of $$(".cap", form)) {
      if (held.has(parseInt(li.dataset.bit, 10))) li.classList.add("held");
    }
    form.dataset.id = found.i;
    form.dataset.team = village ? village.team : "";
    form.dataset.title = kind === "resident" ? found.n : fmt(M.household_of, {name: found.n || found.k});
    $("[data-f=log-body]").hidden = !village;
    $("[data-f=no-team]").hidden = !!village;
  }

  // --- register a household and its people -------------------------------------------------------
  function initRegister(form) {
    const container = $("#people");
    const template = $("#person-tpl");
    const thisYear = parseInt(form.dataset.thisYear, 10) || new Date().getFullYear();
    // "Add people to a household": from the page, or from the URL when the page came from the
    // cache without a connection (or the household itself is still waiting to be sent).
    const existing = form.dataset.existing || new URLSearchParams(location.search).get("household") || "";
    if (existing && !form.dataset.existing) {
      const fields = $(".hh-fields", form);
      if (fields) fields.remove();
      people().then((all) => {
        const hh = all.households.find((x) => String(x.i) === existing);
        $("h1", form).textContent = fmt(M.add_people_to, {household: hh ? fmt(M.household_of, {name: hh.n || hh.k}) : existing});
      });
    }
    let counter = 0;
    function number() {
      $$(".person-form", container).forEach((fs, index) => {
        $("legend", fs).textContent = fmt(M.person_n, {n: index + 1});
        $(".remove", fs).hidden = $$(".person-form", container).length < 2;
      });
    }
    function addPerson() {
      const fs = template.content.firstElementChild.cloneNode(true);
      counter += 1;
      for (const radio of $$("input[type=radio]", fs)) radio.name = `sex-${counter}`;
      $(".remove", fs).addEventListener("click", () => { fs.remove(); number(); });
      container.append(fs);
      number();
      return fs;
    }
    $("#add-person").addEventListener("click", () => $("input[name=full_name]", addPerson()).focus());
    addPerson();
    function fieldError(input, message) {
      input.classList.add("invalid");
      input.closest("label, .radios").append(h("p", {class: "field-error", text: message}));
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      $$(".field-error", form).forEach((n) => n.remove());
      $$(".invalid", form).forEach((n) => n.classList.remove("invalid"));
      const error = $(".form-error", form);
      error.hidden = true;
      const persons = [];
      let bad = false;
      for (const fs of $$(".person-form", container)) {
        const get = (name) => $(`[name=${name}]`, fs).value.trim();
        const fullName = get("full_name").replace(/\s+/g, " ");
        const sexInput = $("input[type=radio]:checked", fs);
        const birthDate = get("birth_date");
        let year = get("birth_year");
        if (!year && birthDate) year = birthDate.slice(0, 4);
        const phone = get("phone").replace(/[\s.\-()]/g, "").replace(/^\+84/, "0").replace(/^84(\d{9})$/, "0$1");
        const citizenId = get("citizen_id").replace(/[\s.\-]/g, "");
        if (!fullName) { fieldError($("[name=full_name]", fs), M.need_name); bad = true; }
        if (!sexInput) { fieldError($("input[type=radio]", fs), M.need_sex); bad = true; }
        if (!year) { fieldError($("[name=birth_year]", fs), M.need_birth_year); bad = true; }
        else if (!/^\d{4}$/.test(year) || year < 1890 || year > thisYear) { fieldError($("[name=birth_year]", fs), M.bad_birth_year); bad = true; }
        if (citizenId && !/^\d{12}$/.test(citizenId)) { fieldError($("[name=citizen_id]", fs), M.bad_citizen_id); bad = true; }
        if (phone && !/^0\d{9}$/.test(phone)) { fieldError($("[name=phone]", fs), M.bad_phone); bad = true; }
        // Identifiers are kept only with the person's consent to the notice read out to them.
        const agreed = $("[name=consent]", fs).checked;
        if ((citizenId || phone) && !agreed) { fieldError($("[name=consent]", fs), M.need_consent); bad = true; }
        const data = {full_name: fullName, sex: sexInput ? sexInput.value : ""};
        if (birthDate) data.birth_date = birthDate;
        else if (year) data.birth_year = parseInt(year, 10);
        if (citizenId) data.citizen_id = citizenId;
        if (phone) data.phone = phone;
        if (agreed) {
          const notice = $("#consent-notice");
          data.consent = {channel: "in_person", notice_version: notice ? notice.dataset.version : undefined, given_at: new Date().toISOString()};
        }
        persons.push(data);
      }
      if (bad) {
        error.textContent = M.fix_errors;
        error.hidden = false;
        const first = $(".invalid", form);
        if (first) first.focus();
        return;
      }
      const items = [];
      let householdRef = existing ? idOrUuid(existing) : null;
      let householdTitle = "";
      if (!existing) {
        const village = form.elements.village;
        if (!village || !village.value) {
          error.textContent = M.need_village;
          error.hidden = false;
          return;
        }
        const data = {village: parseInt(village.value, 10)};
        for (const name of ["code", "head_name", "address"]) {
          const value = form.elements[name].value.trim();
          if (value) data[name] = value;
        }
        if (!data.head_name && persons.length) data.head_name = persons[0].full_name;
        householdTitle = fmt(M.household_of, {name: data.head_name || data.code || ""});
        // The household and its people in one item: the server registers all of them or none.
        data.residents = persons.map((person) => Object.assign({client_id: uuid()}, person));
        const household = newItem("household", data, {title: householdTitle, detail: village.selectedOptions[0].textContent});
        items.push(household);
      } else {
        householdTitle = $("h1", form).textContent;
        for (const person of persons) {
          person.household = householdRef;
          items.push(newItem("resident", person, {title: person.full_name, detail: householdTitle}));
        }
      }
      $("button[type=submit]", form).disabled = true;
      await enqueue(items);
      const left = new Map((await outbox.mine()).map((i) => [i.client_id, i]));
      const sent = await outbox.sent();
      const rejected = items.filter((i) => left.has(i.client_id) && left.get(i.client_id).status === "rejected");
      const waiting = items.some((i) => left.has(i.client_id)) && !rejected.length;
      // Exactly what happened: everything saved (sent or waiting), or what was refused and why.
      const people = existing ? items.map((i) => ({client_id: i.client_id, name: i.data.full_name, item: i}))
        : items[0].data.residents.map((p) => ({client_id: p.client_id, name: p.full_name, item: items[0]}));
      const refused = new Set(rejected.map((i) => i.client_id));
      const savedPeople = people.filter((p) => !refused.has(p.item.client_id));
      let heading;
      if (!existing) heading = rejected.length ? M.household_not_saved : fmt(waiting ? M.household_saved_waiting : M.household_saved, {n: persons.length});
      else heading = rejected.length ? fmt(M.people_partly_saved, {saved: savedPeople.length, n: persons.length}) : fmt(waiting ? M.people_saved_waiting : M.people_saved, {n: persons.length});
      const done = $("#register-done");
      done.className = rejected.length ? "card warn" : "card ok";
      done.replaceChildren(
        h("h2", {text: heading}),
        rejected.length ? h("ul", {class: "reasons"}, rejected.map((i) => h("li", {text: describeErrors(left.get(i.client_id)).join(" ")}))) : "",
        rejected.length ? h("p", {}, h("a", {href: "/outbox/", text: `${M.correct} →`})) : h("p", {text: waiting ? M.saved_waiting : M.saved_sent}),
        h("ul", {class: "people"}, savedPeople.map((p) => {
          const id = sent[p.client_id];
          return h("li", {}, h("a", {href: id ? `/residents/${id}/` : `/shell/resident/#${p.client_id}`, text: fmt(M.log_for, {name: p.name})}));
        })),
        h("button", {type: "button", class: "secondary", text: M.register_another, onclick: () => location.assign(location.pathname)})
      );
      form.hidden = true;
      done.hidden = false;
      done.scrollIntoView();
      if (rejected.length) toast(M.rejected, true);
    });
  }

  // --- training session and attendance -------------------------------------------------------
  function initTraining(form) {
    const list = $("#attendees");
    const filter = $("#att-filter");
    const count = $("#att-count");
    const ticked = new Set();
    form.elements.started_at.value = localInput(new Date());
    let all = {roster: {villages: []}, residents: []};
    const populationsNode = document.getElementById("ft-populations");
    const populations = populationsNode ? JSON.parse(populationsNode.textContent) : {};
    function admitted(r) {
      // Only the people the skill's indicators count (the server checks the exact birth month).
      const bounds = populations[form.elements.capability.value];
      if (!bounds) return true;
      const years = bounds[r.s];
      const year = parseInt(r.y, 10);
      return !!years && year >= years[0] && year <= years[1];
    }
    function draw() {
      const village = form.elements.village.value;
      const rows = all.residents
        .filter((r) => String(r.v) === String(village))
        .filter((r) => admitted(r))
        .filter((r) => !filter.value.trim() || nameMatches(r.n, filter.value));
      // Grouped by household, as people come to a session: households by name, people by name.
      const households = new Map(all.households.map((x) => [String(x.i), x]));
      const groups = new Map();
      for (const r of rows) {
        if (!groups.has(String(r.h))) groups.set(String(r.h), []);
        groups.get(String(r.h)).push(r);
      }
      const title = (key) => { const hh = households.get(key); return hh ? fmt(M.household_of, {name: hh.n || hh.k}) : ""; };
      const ordered = Array.from(groups.keys()).sort((a, b) => title(a).localeCompare(title(b), LANG));
      list.replaceChildren(...ordered.map((key) => h("li", {class: "household-group"},
        h("b", {text: title(key)}),
        h("ul", {class: "checklist"}, groups.get(key).sort((a, b) => a.n.localeCompare(b.n, LANG)).map((r) => h("li", {}, h("label", {},
          h("input", {type: "checkbox", value: r.i, checked: ticked.has(String(r.i)), onchange: (e) => { if (e.target.checked) ticked.add(String(r.i)); else ticked.delete(String(r.i)); counted(); }}),
          r.n, h("small", {text: r.y ? String(r.y) : ""}), r.local ? h("span", {class: "tag", text: M.local_tag}) : "")))))));
      if (!all.roster.villages.length) list.replaceChildren(h("li", {class: "muted", text: M.no_roster}));
      counted();
    }
    function counted() {
      count.textContent = fmt(M.selected_n, {n: ticked.size});
    }
    people().then((loaded) => {
      all = loaded;
      draw();
    });
    filter.addEventListener("input", draw);
    form.elements.village.addEventListener("change", () => { ticked.clear(); draw(); });
    form.elements.capability.addEventListener("change", () => { ticked.clear(); draw(); });
    counted();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = $(".form-error", form);
      const topic = form.elements.topic.value.trim();
      const started = form.elements.started_at.value;
      const village = form.elements.village;
      let message = "";
      if (!village.value) message = M.need_village;
      else if (!topic) message = M.need_topic;
      else if (!started) message = M.need_start;
      else if (!ticked.size) message = M.need_attendee;
      if (message) {
        error.textContent = message;
        error.hidden = false;
        return;
      }
      error.hidden = true;
      const data = {
        team: parseInt(village.selectedOptions[0].dataset.team, 10),
        village: parseInt(village.value, 10),
        topic: topic,
        started_at: fromLocalInput(started),
        capability: form.elements.capability.value,
        attendees: Array.from(ticked, idOrUuid),
      };
      if (form.elements.ended_at.value) data.ended_at = fromLocalInput(form.elements.ended_at.value);
      const item = newItem("training_session", data, {title: topic, detail: `${village.selectedOptions[0].textContent} · ${fmt(M.selected_n, {n: ticked.size})}`});
      await enqueue([item]);
      const still = (await outbox.mine()).find((i) => i.client_id === item.client_id);
      toast(!still ? M.saved_sent : still.status === "rejected" ? `${M.rejected}: ${describeErrors(still).join(" ")}` : M.saved_waiting, still && still.status === "rejected");
      ticked.clear();
      form.elements.started_at.value = localInput(new Date());
      form.elements.ended_at.value = "";
      draw();
    });
  }

  // --- search (from the roster as you type; identifiers only through the server) -------------------
  function initSearch(form) {
    const input = form.elements.q;
    const results = $("#results");
    const hint = $("#search-hint");
    const looksLikeId = (q) => /^[+\d][\d\s.\-]{8,}$/.test(q);
    let timer = null;
    async function local() {
      const q = input.value.trim();
      hint.textContent = "";
      if (looksLikeId(q)) {
        hint.textContent = M.identifier_search;
        return;
      }
      if (q.length < 2) return;
      const all = await people();
      if (!all.roster.villages.length && !navigator.onLine) {
        hint.textContent = M.no_roster;
        return;
      }
      // As the server does: each word begins a word of the name (accents optional), or the
      // household code exactly; the village is a filter; the name as typed first.
      const folded = fold(q).split(/\s+/).filter(Boolean).join(" ");
      const households = new Map(all.households.map((x) => [String(x.i), x]));
      const village = form.elements.village ? form.elements.village.value : "";
      const rank = (r) => (r.n === q ? 0 : fold(r.n) === folded ? 1 : fold(r.n).startsWith(folded) ? 2 : 3);
      const found = all.residents.filter((r) => {
        if (village && String(r.v) !== village) return false;
        const hh = households.get(String(r.h));
        return nameMatches(r.n, q) || (hh && hh.k && fold(hh.k) === fold(q));
      }).sort((a, b) => rank(a) - rank(b) || a.n.localeCompare(b.n, LANG)).slice(0, 50);
      results.replaceChildren(...(found.length ? found.map((r) => personItem(r, all)) : [h("li", {class: "muted", text: M.not_found})]));
      if (!navigator.onLine) hint.textContent = M.searching_offline;
    }
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(local, 150);
    });
    if (form.elements.village) form.elements.village.addEventListener("change", local);
    form.addEventListener("submit", (event) => {
      if (!navigator.onLine) {
        event.preventDefault();
        local();
      }
    });
  }

  // --- every page ----------------------------------------------------------------------------
  // Cached pages may carry an old CSRF token: posts always take the current one from the cookie.
  document.addEventListener("submit", (event) => {
    const tokenInput = event.target.querySelector && event.target.querySelector("input[name=csrfmiddlewaretoken]");
    if (tokenInput && csrfToken()) tokenInput.value = csrfToken();
  }, true);

  const logout = $("#logout-form");
  if (logout) {
    logout.addEventListener("submit", async (event) => {
      event.preventDefault();
      const mine = await outbox.mine().catch(() => []);
      // Say what is lost: each record not yet sent loses its CCCD and phone; the rest is sent later.
      const lines = mine.map((i) => `• ${(i.label && i.label.title) || i.kind}${i.status === "rejected" ? ` (${M.rejected})` : ""}`);
      if (mine.length && !window.confirm(`${M.logout_pending}\n\n${lines.join("\n")}`)) return;
      await forgetIdentifiers(() => true);
      // The pages and the roster hold this user's villages: they go; the outbox stays for them.
      if (window.caches) {
        for (const key of await caches.keys()) {
          if (key === "ft-pages" || key === "ft-data") await caches.delete(key);
        }
      }
      logout.submit();
    });
  }

  window.addEventListener("online", () => { backoff = 0; refreshStatus(); sync(); });
  window.addEventListener("offline", () => refreshStatus());
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") sync(); });

  const pageName = body.dataset.page;
  // Progress bars carry their lengths as data: the Content-Security-Policy refuses style attributes.
  for (const bar of $$("[data-width]")) bar.style.width = bar.dataset.width + "%";
  for (const mark of $$("[data-left]")) mark.style.left = mark.dataset.left + "%";
  const logForm = $("#log-form");
  if (logForm) initLogForm(logForm);
  const shell = $("[data-shell]");
  if (shell) fillShell(shell.dataset.shell);
  if ($("#register-form")) initRegister($("#register-form"));
  if ($("#training-form")) initTraining($("#training-form"));
  if ($("#search-form")) initSearch($("#search-form"));
  const sendNow = $("#send-now");
  if (sendNow) sendNow.addEventListener("click", () => { backoff = 0; authProblem = false; sync(); });
  if (pageName === "home") loadRoster().then(markFollowUps); // keeps the offline copy of the villages fresh

  if ("serviceWorker" in navigator && body.dataset.sw) {
    navigator.serviceWorker.register(body.dataset.sw, {scope: "/"}).catch(() => null);
  }
  forgetIdentifiers((item) => item.user !== USER).catch(() => null).then(refreshStatus).then(sync);
  pruneSent().catch(() => null);

  window.fieldteam = {sync: sync, outbox: outbox, refreshStatus: refreshStatus, forgetIdentifiers: forgetIdentifiers}; // for the browser tests
})();
