// msau studio: the page. No build step, no dependencies; every colour comes from the server (msau's runtime).
"use strict";

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const ui = {
  open: $("open"), canvas: $("canvas"), color: $("color"), radius: $("radius"), result: $("result"),
  undo: $("undo"), redo: $("redo"), beforeAfter: $("before-after"), saveHints: $("save-hints"),
  loadHints: $("load-hints"), download: $("download"), status: $("status"), swatches: $("swatches"),
  radiusValue: document.getElementById("radius-value"), caption: document.getElementById("result-caption"),
  dropZone: document.body, dropHint: document.getElementById("drop-hint"),
};
const MAX_RECENT = 6;
const EDGE_SLACK = 0.02; // CSS pixels; see photoPoint
const HIT_CSS_PX = 9; // how close (on screen) a press must be to a hint to grab it

const state = {
  config: null,
  session: null, // {session, name, width, height, preview_width, preview_height}
  hints: [], // [{x, y, rgb: [r, g, b], radius}] in the photo's pixels, msau-run's format
  selected: -1,
  undo: [], redo: [],
  edit: 0, // number of the latest edit sent
  shownEdit: -1, // number of the edit whose result is shown
  gray: null, // the photo as drawn on the canvas (an Image)
  grayUrl: null, resultUrl: null,
  before: false,
  recent: [], predicted: null,
  drag: null, // {index, before: hints before the drag, moved}
};
const sampler = document.createElement("canvas"); // the shown result, to read the predicted colour at a point

// ---- status -------------------------------------------------------------------------------------------------
function setStatus(text, isError = false) {
  ui.status.textContent = text;
  ui.status.title = text; // the whole line, where the bar is too narrow for it
  ui.status.classList.toggle("error", isError);
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error;
  } catch (_) { /* not JSON: fall through */ }
  return `the studio answered ${response.status} ${response.statusText}`;
}

// ---- colours ------------------------------------------------------------------------------------------------
const toHex = (rgb) => "#" + rgb.map((c) => c.toString(16).padStart(2, "0")).join("");
const fromHex = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
const currentColour = () => fromHex(ui.color.value);
const currentRadius = () => parseInt(ui.radius.value, 10) || 0;

function remember(rgb) {
  const hex = toHex(rgb);
  state.recent = [hex, ...state.recent.filter((c) => c !== hex)].slice(0, MAX_RECENT);
  drawSwatches();
}

function drawSwatches() {
  ui.swatches.replaceChildren();
  const offers = state.predicted ? [state.predicted, ...state.recent.filter((c) => c !== state.predicted)] : state.recent;
  offers.forEach((hex, i) => {
    const button = document.createElement("button");
    button.type = "button";
    button.style.background = hex;
    button.dataset.color = hex;
    const predicted = i === 0 && hex === state.predicted;
    button.className = predicted ? "predicted" : "";
    button.title = predicted ? `${hex}: what the model predicts at the clicked point` : `${hex}: used recently`;
    button.addEventListener("click", () => pickColour(hex));
    ui.swatches.append(button);
  });
}

function pickColour(hex) {
  ui.color.value = hex;
  const rgb = fromHex(hex);
  if (state.selected >= 0) {
    const hints = cloneHints();
    hints[state.selected].rgb = rgb;
    commit(hints);
  }
  remember(rgb);
}

function predictedAt(x, y) {
  // The shown result is at the preview size: scale the photo pixel to it.
  if (state.shownEdit < 0 || !sampler.width) return null;
  const px = Math.min(sampler.width - 1, Math.floor(((x + 0.5) * sampler.width) / state.session.width));
  const py = Math.min(sampler.height - 1, Math.floor(((y + 0.5) * sampler.height) / state.session.height));
  const d = sampler.getContext("2d", { willReadFrequently: true }).getImageData(px, py, 1, 1).data;
  return toHex([d[0], d[1], d[2]]);
}

// ---- hints and history --------------------------------------------------------------------------------------
const cloneHints = (hints = state.hints) => hints.map((h) => ({ ...h, rgb: [...h.rgb] }));
// Hints as the server gives them (msau-run's format leaves out radius 0) -> the page's own, with every field.
const fromDocument = (hints) => hints.map((h) => ({ x: h.x, y: h.y, rgb: [...h.rgb], radius: h.radius || 0 }));

function commit(hints, { record = true, before = state.hints } = {}) {
  if (record) {
    state.undo.push(cloneHints(before));
    state.redo = [];
  }
  state.hints = hints;
  if (state.selected >= hints.length) state.selected = -1;
  afterEdit();
}

function afterEdit() {
  drawCanvas();
  updateButtons();
  requestPreview();
}

function travel(from, to) {
  // Undo (from the undo stack to the redo stack) or redo (the other way).
  if (!from.length) return;
  to.push(cloneHints());
  state.hints = from.pop();
  state.selected = -1;
  afterEdit();
}
const undo = () => travel(state.undo, state.redo);
const redo = () => travel(state.redo, state.undo);

function removeHint(index) {
  if (index < 0) return;
  const hints = cloneHints();
  hints.splice(index, 1);
  state.selected = -1;
  commit(hints);
}

function updateButtons() {
  const open = state.session !== null;
  ui.undo.disabled = !state.undo.length;
  ui.redo.disabled = !state.redo.length;
  for (const button of [ui.saveHints, ui.download, ui.beforeAfter]) button.disabled = !open;
}

// ---- the canvas ---------------------------------------------------------------------------------------------
function scale() {
  return { sx: ui.canvas.width / state.session.width, sy: ui.canvas.height / state.session.height };
}

function drawCanvas() {
  const ctx = ui.canvas.getContext("2d");
  if (!state.session || !state.gray) return;
  ctx.drawImage(state.gray, 0, 0, ui.canvas.width, ui.canvas.height);
  const { sx, sy } = scale();
  const rect = ui.canvas.getBoundingClientRect();
  const cssToCanvas = rect.width ? ui.canvas.width / rect.width : 1;
  const dot = 4.5 * cssToCanvas;
  state.hints.forEach((h, i) => {
    const cx = (h.x + 0.5) * sx, cy = (h.y + 0.5) * sy;
    const r = Math.max(dot, (h.radius + 0.5) * sx);
    ctx.beginPath();
    ctx.arc(cx, cy, r, 0, 2 * Math.PI);
    ctx.fillStyle = toHex(h.rgb);
    ctx.fill();
    ctx.lineWidth = (i === state.selected ? 3 : 1.5) * cssToCanvas;
    ctx.strokeStyle = i === state.selected ? "#ffd400" : "#000";
    ctx.stroke();
    ctx.lineWidth = 1 * cssToCanvas;
    ctx.strokeStyle = "#fff";
    ctx.beginPath();
    ctx.arc(cx, cy, r + ctx.lineWidth * 1.5, 0, 2 * Math.PI);
    ctx.stroke();
  });
}

function photoPoint(event) {
  // A pointer position -> the photo's pixel under it (the canvas is scaled to its displayed size).
  const rect = ui.canvas.getBoundingClientRect();
  const { width, height } = state.session;
  // Pointer coordinates arrive rounded (a click on the canvas's middle, 90 px down, came as 89.9987): a little
  // slack puts a position on a pixel's edge on the pixel that the position names.
  const x = Math.floor(((event.clientX - rect.left + EDGE_SLACK) / rect.width) * width);
  const y = Math.floor(((event.clientY - rect.top + EDGE_SLACK) / rect.height) * height);
  return { x: Math.min(width - 1, Math.max(0, x)), y: Math.min(height - 1, Math.max(0, y)) };
}

function hintAt(event) {
  const rect = ui.canvas.getBoundingClientRect();
  const perCss = state.session.width / rect.width; // photo pixels per CSS pixel
  const p = photoPoint(event);
  let best = -1, bestDistance = Infinity;
  state.hints.forEach((h, i) => {
    const distance = Math.hypot(h.x - p.x, h.y - p.y);
    if (distance <= Math.max(HIT_CSS_PX * perCss, h.radius) && distance < bestDistance) {
      best = i;
      bestDistance = distance;
    }
  });
  return best;
}

function onPointerDown(event) {
  if (!state.session || event.button !== 0) return;
  event.preventDefault();
  const hit = hintAt(event);
  if (hit >= 0) {
    state.selected = hit;
    const h = state.hints[hit];
    ui.color.value = toHex(h.rgb);
    ui.radius.value = h.radius;
    ui.radiusValue.value = h.radius;
    state.drag = { index: hit, before: cloneHints(), moved: false };
    ui.canvas.setPointerCapture(event.pointerId);
    drawCanvas();
    return;
  }
  const p = photoPoint(event);
  state.predicted = predictedAt(p.x, p.y);
  drawSwatches();
  const rgb = currentColour();
  const hints = cloneHints();
  hints.push({ x: p.x, y: p.y, rgb, radius: currentRadius() });
  state.selected = hints.length - 1;
  remember(rgb);
  commit(hints);
}

function onPointerMove(event) {
  const drag = state.drag;
  if (!drag) return;
  const p = photoPoint(event);
  const h = state.hints[drag.index];
  if (p.x === h.x && p.y === h.y) return;
  const hints = cloneHints();
  hints[drag.index] = { ...h, x: p.x, y: p.y };
  drag.moved = true;
  commit(hints, { record: false }); // the whole drag is one undo step, recorded when it ends
}

function onPointerUp() {
  const drag = state.drag;
  state.drag = null;
  if (drag && drag.moved) {
    state.undo.push(drag.before);
    state.redo = [];
    updateButtons();
  }
}

function onContextMenu(event) {
  if (!state.session) return;
  event.preventDefault();
  removeHint(hintAt(event));
}

// ---- talking to the server ----------------------------------------------------------------------------------
const api = (path) => `/api/sessions/${encodeURIComponent(state.session.session)}${path}`;

function postJson(path, body) {
  return fetch(api(path), {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
}

async function requestPreview() {
  if (!state.session) return;
  const edit = ++state.edit;
  const session = state.session;
  setStatus("colorizing…");
  let response;
  try {
    response = await postJson("/preview", { edit, hints: state.hints });
  } catch (_) {
    if (edit === state.edit) setStatus("the studio server cannot be reached (is msau-studio still running?)", true);
    return;
  }
  if (session !== state.session) return; // another photo was opened meanwhile
  if (response.status === 204) return; // superseded: a later edit is being colorized
  if (!response.ok) {
    const message = await errorText(response);
    if (edit === state.edit) setStatus(message, true);
    return;
  }
  const blob = await response.blob();
  if (edit < state.shownEdit || session !== state.session) return;
  await showResult(blob, edit);
}

async function showResult(blob, edit) {
  const url = URL.createObjectURL(blob);
  const image = new Image();
  image.src = url;
  try {
    await image.decode();
  } catch (_) {
    URL.revokeObjectURL(url);
    if (edit === state.edit) setStatus("the result could not be shown", true);
    return;
  }
  if (edit < state.shownEdit) { URL.revokeObjectURL(url); return; }
  sampler.width = image.naturalWidth;
  sampler.height = image.naturalHeight;
  sampler.getContext("2d", { willReadFrequently: true }).drawImage(image, 0, 0);
  if (state.resultUrl) URL.revokeObjectURL(state.resultUrl);
  state.resultUrl = url;
  state.shownEdit = edit;
  showPane();
  if (edit === state.edit) setStatus("ready");
}

function showPane() {
  const url = state.before ? state.grayUrl : state.resultUrl;
  if (url && ui.result.getAttribute("src") !== url) ui.result.src = url;
  ui.caption.textContent = state.before ? "Before (the photo's lightness)" : "Result";
  ui.beforeAfter.setAttribute("aria-pressed", String(state.before));
  ui.beforeAfter.textContent = state.before ? "After" : "Before";
}

function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

function fileName(response, fallback) {
  const match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  return match ? match[1] : fallback;
}

async function fetchFile(path, fallback, busy) {
  if (!state.session) return;
  const previous = ui.status.textContent;
  setStatus(busy);
  try {
    const response = await postJson(path, { hints: state.hints });
    if (!response.ok) { setStatus(await errorText(response), true); return; }
    saveBlob(await response.blob(), fileName(response, fallback));
    setStatus(state.shownEdit === state.edit ? "ready" : previous);
  } catch (_) {
    setStatus("the studio server cannot be reached (is msau-studio still running?)", true);
  }
}

async function upload(path, file) {
  if (state.config && file.size > state.config.max_upload_bytes) {
    const mb = (n) => (n / 2 ** 20).toFixed(1);
    throw new Error(`${file.name} is ${mb(file.size)} MB; the studio accepts up to ${mb(state.config.max_upload_bytes)} MB (msau-studio --max-upload-mb)`);
  }
  const response = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/octet-stream", "X-Filename": encodeURIComponent(file.name) }, body: file,
  });
  if (!response.ok) throw new Error(await errorText(response));
  return response.json();
}

async function openSession(info) {
  const gray = new Image();
  gray.src = `/api/sessions/${encodeURIComponent(info.session)}/gray.png`;
  await gray.decode();
  if (state.session) {
    fetch(api(""), { method: "DELETE", keepalive: true }).catch(() => {});
  }
  state.session = info;
  state.gray = gray;
  state.grayUrl = gray.src;
  state.hints = fromDocument(info.hints || []);
  state.selected = -1;
  state.undo = [];
  state.redo = [];
  state.shownEdit = -1;
  state.predicted = null;
  state.before = false;
  ui.canvas.width = info.preview_width;
  ui.canvas.height = info.preview_height;
  ui.canvas.dataset.photoWidth = info.width; // the photo's own size, which clicks map to
  ui.canvas.dataset.photoHeight = info.height;
  ui.dropHint.textContent = `${info.name}: ${info.width}×${info.height}`;
  document.title = `${info.name} · msau studio`;
  drawSwatches();
  afterEdit();
}

async function openPhoto(file) {
  if (!file) return;
  setStatus(`opening ${file.name}…`);
  try {
    await openSession(await upload("/api/sessions", file));
  } catch (error) {
    setStatus(error.message || String(error), true); // the current photo, if any, stays as it was
  }
}

async function loadHints(file) {
  if (!file) return;
  if (!state.session) { setStatus("open a photo before loading its hints", true); return; }
  try {
    const document_ = await upload(api("/load-hints"), file);
    state.selected = -1;
    commit(fromDocument(document_.hints));
  } catch (error) {
    setStatus(error.message || String(error), true);
  }
}

// ---- wiring -------------------------------------------------------------------------------------------------
function onKey(event) {
  const typing = event.target instanceof HTMLInputElement && !["range", "color", "file"].includes(event.target.type);
  if (typing || !state.session) return;
  const key = event.key.toLowerCase();
  if ((event.ctrlKey || event.metaKey) && key === "z") {
    event.preventDefault();
    event.shiftKey ? redo() : undo();
  } else if ((event.ctrlKey || event.metaKey) && key === "y") {
    event.preventDefault();
    redo();
  } else if (key === "delete" || key === "backspace") {
    if (state.selected >= 0) { event.preventDefault(); removeHint(state.selected); }
  } else if (key === "escape") {
    state.selected = -1;
    drawCanvas();
  }
}

function wire() {
  ui.open.addEventListener("change", () => { openPhoto(ui.open.files[0]); ui.open.value = ""; });
  ui.loadHints.addEventListener("change", () => { loadHints(ui.loadHints.files[0]); ui.loadHints.value = ""; });
  ui.color.addEventListener("change", () => pickColour(ui.color.value));
  ui.radius.addEventListener("input", () => {
    ui.radiusValue.value = ui.radius.value;
  });
  ui.radius.addEventListener("change", () => {
    if (state.selected < 0) return;
    const hints = cloneHints();
    hints[state.selected].radius = currentRadius();
    commit(hints);
  });
  ui.undo.addEventListener("click", undo);
  ui.redo.addEventListener("click", redo);
  ui.beforeAfter.addEventListener("click", () => { state.before = !state.before; showPane(); });
  ui.saveHints.addEventListener("click", () => fetchFile("/hints", "hints.json", "saving hints…"));
  ui.download.addEventListener("click", () => fetchFile("/download", "photo_color.png", "colorizing at full resolution…"));
  ui.canvas.addEventListener("pointerdown", onPointerDown);
  ui.canvas.addEventListener("pointermove", onPointerMove);
  ui.canvas.addEventListener("pointerup", onPointerUp);
  ui.canvas.addEventListener("pointercancel", onPointerUp);
  ui.canvas.addEventListener("contextmenu", onContextMenu);
  window.addEventListener("resize", drawCanvas);
  document.addEventListener("keydown", onKey);
  ui.dropZone.addEventListener("dragover", (event) => {
    event.preventDefault();
    document.getElementById("drop-zone").classList.add("dragging");
  });
  ui.dropZone.addEventListener("dragleave", () => document.getElementById("drop-zone").classList.remove("dragging"));
  ui.dropZone.addEventListener("drop", (event) => {
    event.preventDefault();
    document.getElementById("drop-zone").classList.remove("dragging");
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (!file) return;
    const isHints = /\.json$/i.test(file.name);
    isHints ? loadHints(file) : openPhoto(file);
  });
  window.addEventListener("pagehide", () => {
    if (state.session) fetch(api(""), { method: "DELETE", keepalive: true }).catch(() => {});
  });
}

async function start() {
  wire();
  updateButtons();
  try {
    state.config = await (await fetch("/api/config")).json();
  } catch (_) {
    setStatus("the studio server cannot be reached (is msau-studio still running?)", true);
    return;
  }
  if (state.config.startup_photo) {
    setStatus(`opening ${state.config.startup_photo}…`);
    const response = await fetch("/api/sessions/initial", { method: "POST" });
    if (response.ok) { await openSession(await response.json()); return; }
    setStatus(await errorText(response), true);
    return;
  }
  setStatus("open a photo (the button, or drop it on the page)");
}

start();
