// The clipface web page: plain JavaScript over the server's REST API (the same API scripts use).
// No framework and no build step: this file is served as it is, from inside the binary.

const $ = (selector) => document.querySelector(selector);
const state = { info: null, file: null, threshold: null, events: null };

// --- talking to the server ---

function apiKey() {
  return localStorage.getItem("clipface-key") || "";
}

function headers(extra = {}) {
  const key = apiKey();
  return key ? { "x-api-key": key, ...extra } : extra;
}

async function api(method, path, body) {
  const options = { method, headers: headers() };
  if (body instanceof FormData) {
    options.body = body;
  } else if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, options);
  const type = response.headers.get("Content-Type") || "";
  const data = type.startsWith("application/json") ? await response.json() : await response.blob();
  if (!response.ok) {
    const error = new Error(data.message || `${response.status} ${response.statusText}`);
    error.status = response.status;
    error.code = data.code;
    throw error;
  }
  return data;
}

function show(text, kind = "error") {
  const box = $("#message");
  box.textContent = text;
  box.className = kind;
  box.hidden = !text;
}

function withImage(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  return form;
}

// A stored face crop as an <img> (fetched with the key, so it never appears in a URL).
async function cropImage(imageId, alt) {
  const img = document.createElement("img");
  img.alt = alt;
  img.className = "crop";
  try {
    img.src = URL.createObjectURL(await api("GET", `/api/v1/recognition/faces/${imageId}/img`));
  } catch (e) {
    img.alt = `${alt} (no crop: ${e.message})`;
  }
  return img;
}

// --- tabs ---

function openTab(name) {
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  document.querySelectorAll(".tab").forEach((s) => s.classList.toggle("active", s.id === name));
  show("");
  if (name === "people") loadPeople();
  if (name === "keys") loadKeys();
  if (name === "live") startEvents();
}

// --- recognize ---

async function recognize() {
  if (!state.file) return;
  const params = new URLSearchParams({ prediction_count: "3", threshold: String(state.threshold) });
  try {
    const data = await api("POST", `/api/v1/recognition/recognize?${params}`, withImage(state.file));
    drawFaces(data.result);
    show("");
  } catch (e) {
    drawFaces([]);
    show(e.code === 28 ? "No face found in this photo." : `Recognize failed: ${e.message}`);
  }
}

function drawFaces(faces) {
  const img = $("#recognize-image");
  const boxes = $("#boxes");
  boxes.replaceChildren();
  const rows = $("#recognize-table tbody");
  rows.replaceChildren();
  const scaleX = img.clientWidth / img.naturalWidth;
  const scaleY = img.clientHeight / img.naturalHeight;
  faces.forEach((face, i) => {
    const d = face.decision;
    const box = document.createElement("div");
    box.className = `face-box ${d.known ? "known" : "unknown"}`;
    box.style.left = `${face.box.x_min * scaleX}px`;
    box.style.top = `${face.box.y_min * scaleY}px`;
    box.style.width = `${(face.box.x_max - face.box.x_min) * scaleX}px`;
    box.style.height = `${(face.box.y_max - face.box.y_min) * scaleY}px`;
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = d.label;
    box.append(label);
    boxes.append(box);
    const row = document.createElement("tr");
    const nearest = face.subjects.map((s) => `${s.subject} ${s.similarity.toFixed(3)}`).join(", ");
    for (const text of [String(i + 1), d.label, d.score.toFixed(3), `${d.votes}/${d.voters}`, nearest]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    rows.append(row);
  });
  $("#recognize-table").hidden = faces.length === 0;
}

function chooseRecognizeFile(file) {
  if (!file) return;
  state.file = file;
  const img = $("#recognize-image");
  img.onload = () => recognize();
  img.src = URL.createObjectURL(file);
  $("#stage").hidden = false;
}

let thresholdTimer = null;
function onThreshold() {
  state.threshold = Number($("#threshold").value);
  $("#threshold-value").textContent = state.threshold.toFixed(2);
  clearTimeout(thresholdTimer);
  thresholdTimer = setTimeout(recognize, 150);  // re-decide once the slider rests
}

// --- enroll ---

async function enroll(files) {
  const name = $("#enroll-name").value.trim();
  if (!name) {
    show("Give the person a name first.");
    $("#enroll-name").focus();
    return;
  }
  const list = [...files];
  const progress = $("#enroll-progress");
  progress.hidden = false;
  progress.max = list.length;
  progress.value = 0;
  const results = $("#enroll-results");
  let added = 0;
  for (const file of list) {
    $("#enroll-status").textContent = `${file.name} (${progress.value + 1} of ${list.length})`;
    const item = document.createElement("figure");
    try {
      const params = new URLSearchParams({ subject: name });
      const face = await api("POST", `/api/v1/recognition/faces?${params}`, withImage(file));
      item.append(await cropImage(face.image_id, `${name}: face from ${file.name}`));
      item.className = "ok";
      added += 1;
    } catch (e) {
      item.className = "failed";
      item.append(e.code === 28 ? "no face" : e.code === 31 ? "several faces" : e.message);
    }
    const caption = document.createElement("figcaption");
    caption.textContent = file.name;
    item.append(caption);
    results.append(item);
    progress.value += 1;
  }
  $("#enroll-status").textContent = `${name}: ${added} of ${list.length} photos enrolled`;
  refreshInfo();
}

// --- people ---

async function loadPeople() {
  const list = $("#people-list");
  try {
    const data = await api("GET", "/api/v1/recognition/subjects");
    list.replaceChildren();
    $("#people-count").textContent = `${data.subjects.length} people`;
    for (const person of data.details) list.append(await personItem(person));
  } catch (e) {
    show(`Cannot list people: ${e.message}`);
  }
}

async function personItem(person) {
  const item = document.createElement("li");
  item.dataset.subject = person.subject;
  const thumbs = document.createElement("div");
  thumbs.className = "thumbs";
  const params = new URLSearchParams({ subject: person.subject, size: "6" });
  const faces = await api("GET", `/api/v1/recognition/faces?${params}`);
  for (const face of faces.faces) thumbs.append(await cropImage(face.image_id, person.subject));
  const name = document.createElement("strong");
  name.className = "name";
  name.textContent = person.subject;
  const count = document.createElement("span");
  count.className = "muted";
  count.textContent = `${person.faces} faces`;
  const rename = document.createElement("button");
  rename.textContent = "Rename";
  rename.className = "rename";
  rename.onclick = () => startRename(item, person.subject);
  const remove = document.createElement("button");
  remove.textContent = "Delete";
  remove.className = "delete danger";
  remove.onclick = async () => {
    if (!confirm(`Delete ${person.subject} with every face of theirs?`)) return;
    try {
      await api("DELETE", `/api/v1/recognition/subjects/${encodeURIComponent(person.subject)}`);
      show(`${person.subject} deleted.`, "info");
      loadPeople();
      refreshInfo();
    } catch (e) {
      show(`Delete failed: ${e.message}`);
    }
  };
  item.append(thumbs, name, count, rename, remove);
  return item;
}

function startRename(item, subject) {
  const form = document.createElement("form");
  form.className = "rename-form";
  const input = document.createElement("input");
  input.value = subject;
  input.setAttribute("aria-label", `new name for ${subject}`);
  const save = document.createElement("button");
  save.textContent = "Save";
  save.type = "submit";
  form.append(input, save);
  form.onsubmit = async (event) => {
    event.preventDefault();
    const to = input.value.trim();
    if (!to) return;
    try {
      const r = await api("PUT", `/api/v1/recognition/subjects/${encodeURIComponent(subject)}`, { subject: to });
      show(r.merged ? `${subject} merged into ${to}.` : `${subject} is now ${to}.`, "info");
      loadPeople();
    } catch (e) {
      show(`Rename failed: ${e.message}`);
    }
  };
  item.append(form);
  input.focus();
}

// --- live events (fetch streaming, so the key goes in a header) ---

async function startEvents() {
  if (state.events) return;
  const controller = new AbortController();
  state.events = controller;
  showPreview();
  try {
    // Last-Event-ID 0: the events the server still holds first (a clip may have played already).
    const response = await fetch("/api/v1/events", { headers: headers({ "Last-Event-ID": "0" }), signal: controller.signal });
    if (!response.ok) throw new Error((await response.json()).message);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        onEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") show(`Live events stopped: ${e.message}`);
  }
  state.events = null;
}

function showPreview() {
  const key = apiKey();
  const source = $("#preview-source").value;
  const preview = $("#preview");
  preview.src = `/api/v1/preview?source=${encodeURIComponent(source)}${key ? `&api_key=${encodeURIComponent(key)}` : ""}`;
  preview.hidden = false;
}

// A video source's name joins the preview's choices when its first event arrives.
function addSource(name) {
  if (!name || [...$("#preview-source").options].some((o) => o.value === name)) return;
  const option = document.createElement("option");
  option.value = option.textContent = name;
  $("#preview-source").append(option);
}

// Recognize requests: {faces: [{label, score}]}. Video sources (clipface watch's events):
// track_started / identified / track_ended with track, label, score, time; source_started/_ended.
function describeEvent(type, event) {
  if (Array.isArray(event.faces)) {
    return event.faces.map((f) => `${f.label} (${f.score.toFixed(2)})`).join(", ") || "no face";
  }
  const who = event.score !== undefined ? `${event.label} (${event.score.toFixed(2)})` : event.label;
  const at = event.time !== undefined ? ` at ${event.time.toFixed(1)} s` : "";
  switch (type) {
    case "track_started": return `${event.source}: track ${event.track} started${at}`;
    case "identified": return `${event.source}: track ${event.track} is ${who}${at}`;
    case "track_ended": return `${event.source}: track ${event.track} (${who}) left${at}, ${event.frames} frames`;
    case "source_started": return `${event.source}: started`;
    case "source_ended": return `${event.source}: ended${event.message ? ` (${event.message})` : ""}, ${event.frames} frames`;
    default: return `${event.source || ""} ${type}`;
  }
}

function onEvent(text) {
  const lines = text.split("\n");
  const data = lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
  if (!data) return;
  const type = (lines.find((l) => l.startsWith("event: ")) || "event: message").slice(7);
  const event = JSON.parse(data);
  addSource(event.source);
  const item = document.createElement("li");
  item.textContent = `${new Date().toLocaleTimeString()}: ${describeEvent(type, event)}`;
  $("#events").prepend(item);
  while ($("#events").children.length > 50) $("#events").lastChild.remove();
}

// --- keys ---

async function loadKeys() {
  const rows = $("#key-table tbody");
  try {
    const data = await api("GET", "/api/v1/keys");
    rows.replaceChildren();
    for (const key of data.keys) {
      const row = document.createElement("tr");
      for (const text of [key.id, key.name, key.scopes.join(", "), key.created, key.revoked || "-"]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      const cell = document.createElement("td");
      if (!key.revoked) {
        const revoke = document.createElement("button");
        revoke.textContent = "Revoke";
        revoke.className = "danger";
        revoke.onclick = async () => {
          if (!confirm(`Revoke key ${key.id} (${key.name})?`)) return;
          try {
            await api("DELETE", `/api/v1/keys/${key.id}`);
            loadKeys();
          } catch (e) {
            show(`Revoke failed: ${e.message}`);
          }
        };
        cell.append(revoke);
      }
      row.append(cell);
      rows.append(row);
    }
  } catch (e) {
    show(e.status === 403 ? "Managing keys needs a key with the admin scope." : `Cannot list keys: ${e.message}`);
  }
}

async function createKey(event) {
  event.preventDefault();
  const scopes = [...document.querySelectorAll("#key-form input[name=scope]:checked")].map((c) => c.value);
  try {
    const key = await api("POST", "/api/v1/keys", { name: $("#key-name").value, scopes });
    $("#new-key-value").textContent = key.key;
    $("#new-key").hidden = false;
    loadKeys();
  } catch (e) {
    show(`Cannot create the key: ${e.message}`);
  }
}

// --- start ---

async function refreshInfo() {
  try {
    state.info = await api("GET", "/api/v1/info");
    const g = state.info.gallery;
    $("#gallery-info").textContent = !g
      ? "this server needs an API key: paste one on the right"
      : `${g.people} people, ${g.faces} faces · ${state.info.embedder.name}` +
        (state.info.auth_required ? " · keys required" : "");
  } catch (e) {
    $("#gallery-info").textContent = `server not reachable: ${e.message}`;
  }
}

function dropZone(zone, onFiles) {
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    onFiles(e.dataTransfer.files);
  });
}

async function start() {
  $("#api-key").value = apiKey();
  $("#api-key").addEventListener("change", (e) => {
    localStorage.setItem("clipface-key", e.target.value.trim());
    if (state.events) state.events.abort();
    refreshInfo().then(() => {
      if (state.info && state.info.vote && !state.file) {
        state.threshold = state.info.vote.threshold;
        $("#threshold").value = state.threshold;
        $("#threshold-value").textContent = state.threshold.toFixed(2);
      }
    });
  });
  document.querySelectorAll("#tabs button").forEach((b) => (b.onclick = () => openTab(b.dataset.tab)));
  await refreshInfo();
  state.threshold = state.info && state.info.vote ? state.info.vote.threshold : 0.35;
  $("#threshold").value = state.threshold;
  $("#threshold-value").textContent = state.threshold.toFixed(2);
  $("#threshold").addEventListener("input", onThreshold);
  $("#preview-source").addEventListener("change", showPreview);
  // Reset after each choice, so that choosing the same photo again recognizes it again.
  $("#recognize-file").addEventListener("change", (e) => {
    chooseRecognizeFile(e.target.files[0]);
    e.target.value = "";
  });
  dropZone($("#recognize-drop"), (files) => chooseRecognizeFile(files[0]));
  $("#enroll-files").addEventListener("change", (e) => {
    enroll([...e.target.files]);
    e.target.value = "";
  });
  dropZone($("#enroll-drop"), enroll);
  $("#enroll-form").addEventListener("submit", (e) => e.preventDefault());
  $("#people-refresh").onclick = loadPeople;
  $("#key-form").addEventListener("submit", createKey);
  window.addEventListener("resize", () => state.file && recognize());
  document.body.dataset.ready = "true";
}

start();
