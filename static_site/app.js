// The page: wires the drawing pad, the API client and the result panel.
// Predictions run on demand (button, Enter) and live, 250 ms after a stroke
// ends; a newer drawing cancels the request for an older one.

import { dropUnsaid, say, sayAtOnce, sayOnceRested } from "./announce.js";
import { ApiError, EMPTY_CANVAS, explain, health, loadConfig, predict, problem } from "./api.js";
import { $ } from "./dom.js";
import { DrawPad, squarePhoto } from "./drawpad.js";
import { listenForPhotos } from "./photo-input.js";
import {
  buildBars, describeAnswer, hideProblem, resetPrediction, setStale, showBadge, showBusy,
  showMessage, showPrediction,
} from "./result.js";

const LIVE_DELAY_MS = 250;
// Live, a digit's first strokes get answers too; a screen reader hears what a stroke brings
// (its answer, "keep drawing") only once the drawing has been left alone this long after it
// (a new stroke drops it). Asked for, or after an Undo or a Clear: at once.
const LIVE_ANNOUNCE_MS = 1000;
// A dot, a dash or a canvas inked all over is no digit, yet the model would name one,
// surely (a tap: "0, 96%"; ink everywhere, taken for the paper: "1, 99.5%"). The page
// knows its brush and its pixels, so it says so itself and sends nothing.
const MIN_SIDE_IN_BRUSHES = 2.5; // the ink's longer side, in widths of the widest brush
const MAX_INK_SHARE = 0.6; // no digit drawn on this canvas covers that much
const DOT = problem("That's a dot or a dash:", "draw a whole digit, from 0 to 9.",
  "Not a digit", "warn");
const COVERED = problem("That covers most of the canvas:", "clear it and draw one digit.",
  "Not a digit", "warn");
const NOT_A_PICTURE = problem("This browser cannot open that file as a picture:",
  "try a PNG, JPEG or WebP photo of one digit.", "Not a picture", "warn");

const state = {
  config: null, // from config.json: read only after `configReady`
  configReady: null,
  inflight: null, // AbortController of the request in flight; aborted, its answer is stale
  liveTimer: 0,
  problem: null, // the problem shown (message and badge), or null
  sample: Math.floor(Math.random() * 10), // the last sample digit shown
  answer: null, // the last answer shown, { drawing, result }: pad.drawing when it was asked
};

const pad = new DrawPad($("pad"), {
  brushSize: Number($("brush-size").value),
  onstrokestart: () => {
    cancelPending();
    dropUnsaid();
    setPhase("drawing");
  },
  onchange: (why) => drawingChanged(why),
});

/** Cancels the request in flight and makes any answer still on its way stale. */
function cancelPending() {
  clearTimeout(state.liveTimer);
  state.inflight?.abort();
  state.inflight = null;
  setBusy(false);
}

function drawingChanged(why) {
  const empty = pad.isEmpty;
  setDisabled($("undo"), !pad.canUndo);
  setDisabled($("clear"), empty);
  $("pad-placeholder").hidden = !empty;
  cancelPending();
  const live = $("live").checked;
  if (why === "stroke" && live) sayOnceRested(LIVE_ANNOUNCE_MS);
  else sayAtOnce();
  if (empty) {
    dropProblem();
    resetPrediction();
    say(why === "clear" ? "Canvas cleared." : "No prediction yet.");
    setPhase("empty");
    return;
  }
  if (pad.shows(state.answer?.drawing)) {
    showAnswer(state.answer.result); // nothing to ask: it has one
    return;
  }
  // Live, a problem with the API (not with the drawing: unreachable, 500, 429) stays until
  // this drawing's own outcome, so that the same problem again is not announced again.
  if (!(live && aboutTheApi(state.problem))) dropProblem();
  setStale(true); // an answer shown is outdated
  say(describeAnswer() ?? (state.problem ? "" : "No prediction yet."));
  setPhase("pending");
  if (live) state.liveTimer = setTimeout(() => recognise({ live: true }), LIVE_DELAY_MS);
}

/** Whether a problem is the API's (down, slow, busy), not the drawing's (a 422, a 413). */
const aboutTheApi = (problem) => Boolean(problem?.api) && problem.api[0] !== "ready";

/** A focused button that disables itself would drop focus to <body>: keep it at the drawing. */
function setDisabled(button, disabled) {
  const hadFocus = document.activeElement === button;
  button.disabled = disabled;
  if (disabled && hadFocus) $("pad").focus();
}

/** The result panel's phase (tests read it; so does the live toggle): empty, drawing, pending,
 * busy, shown or error. */
function setPhase(phase) {
  $("result").dataset.phase = phase;
}

function setBusy(on) {
  $("busy").hidden = !on;
  $("predict").setAttribute("aria-busy", String(on));
  showBusy(on, state.problem); // on the badge too: on a phone "Thinking…" is below the fold
}

/**
 * What is wrong with the drawing before any request, or null: an empty canvas is said so
 * as the API would (a blank image sent for a 422), and a photo (its paper is ink to the
 * other checks) goes to the API.
 */
function drawingProblem() {
  if (pad.isEmpty) return EMPTY_CANVAS;
  if (pad.hasPhoto) return null;
  const { side, share } = pad.inkExtent();
  if (share > MAX_INK_SHARE) return COVERED;
  if (side < MIN_SIDE_IN_BRUSHES * pad.widestStroke) return DOT;
  return null;
}

/**
 * Sends the drawing, unless drawingProblem finds it is none.
 * `live`: after a stroke, where a dot or a dash may be a digit's first stroke (the bar
 * of a 5, a 4's tick): wait quietly for the next one rather than warn mid-digit.
 */
async function recognise({ live = false } = {}) {
  cancelPending();
  if (!live) sayAtOnce(); // asked for
  const refusal = drawingProblem();
  if (refusal === DOT && live) waitForMoreStrokes();
  else if (refusal) showProblem(refusal);
  else await send();
}

/** Live, a dot or a dash so far: no answer, no warning, only a word to keep drawing. */
function waitForMoreStrokes() {
  dropProblem();
  resetPrediction(); // an older answer is not this drawing's
  say("No digit yet: keep drawing.");
}

/** Asks the API about the drawing and shows its answer or its problem, unless stale by then. */
async function send() {
  const ctrl = new AbortController(); // a newer drawing or request aborts it (cancelPending)
  state.inflight = ctrl;
  setBusy(true);
  setPhase("busy");
  await state.configReady;
  try {
    const drawing = pad.drawing; // what is sent; a change before the answer aborts it
    const result = await predict(state.config, pad.toDataURL(), ctrl.signal);
    if (ctrl.signal.aborted) return;
    state.answer = { drawing, result };
    showAnswer(result);
    setApiStatus("ready", "API ready");
  } catch (err) {
    if (ctrl.signal.aborted) return; // stale: a newer drawing or request took over
    const problem = explain(err, { photo: pad.hasPhoto });
    if (problem.api) setApiStatus(...problem.api);
    showProblem({ ...problem, unreachable: err instanceof ApiError && err.kind === "unreachable" });
  } finally {
    if (!ctrl.signal.aborted) {
      state.inflight = null;
      setBusy(false);
    }
  }
}

/**
 * The answer, as this drawing's: just in, or kept for a drawing back on the canvas (an Undo
 * brings it back after a stroke, a clear or a problem), which is announced as one just in
 * (live, after a stroke, once the drawing rests: say).
 */
function showAnswer(result) {
  dropProblem();
  showPrediction(result);
  setStale(false);
  say(describeAnswer());
  setPhase("shown");
}

/**
 * No answer, and why: the old answer goes (it would read as this drawing's), the badge
 * over the canvas says it in a few words, the message (an alert) in full. The polite
 * status region is emptied, not given the short words: a screen reader said them twice.
 */
function showProblem(reason) {
  state.problem = reason;
  resetPrediction();
  say("");
  showBadge(reason.short, reason.kind);
  showMessage(reason.title, reason.text, reason.kind);
  setPhase("error");
}

/** The problem shown goes: message, badge (an answer's stays) and state.problem. */
function dropProblem() {
  state.problem = null;
  hideProblem();
}

/** The API answers again after "Unreachable": that goes, and live, the drawing is sent again. */
function reconnected() {
  dropProblem();
  if (state.inflight) return; // a request already on its way brings the outcome
  setPhase(pad.isEmpty ? "empty" : "pending");
  if ($("live").checked && !pad.isEmpty) recognise({ live: true });
  else say("No prediction yet.");
}

function setApiStatus(status, text) {
  const el = $("api-status");
  el.dataset.state = status;
  el.textContent = text;
}

/** The header's API status from GET /health, read as the answers to /predict are. */
async function checkApi() {
  try {
    await health(state.config);
    setApiStatus("ready", "API ready");
    if (state.problem?.unreachable) reconnected();
  } catch (err) {
    setApiStatus(...(explain(err).api ?? ["down", "API error"]));
  }
}

/** A photo of a digit on paper, from the file picker, a drop or a paste: read at once. */
async function openPhoto(file) {
  let bitmap;
  try {
    bitmap = await squarePhoto(file);
  } catch {
    cancelPending();
    showProblem(NOT_A_PICTURE);
    return;
  }
  pad.addPhoto(bitmap);
  recognise();
}

function wireControls() {
  $("predict").addEventListener("click", () => recognise());
  $("undo").addEventListener("click", () => pad.undo());
  $("clear").addEventListener("click", () => pad.clear());
  $("sample").addEventListener("click", () => {
    state.sample = (state.sample + 1 + Math.floor(Math.random() * 9)) % 10; // never the same twice
    pad.addGlyph(String(state.sample));
  });
  $("brush-size").addEventListener("input", (e) => {
    pad.brushSize = Number(e.target.value);
    $("brush-value").textContent = `${pad.brushSize} px`; // seen; the slider's value is heard
    e.target.setAttribute("aria-valuetext", `${pad.brushSize} px`);
  });
  $("live").addEventListener("change", (e) => {
    if (!e.target.checked) clearTimeout(state.liveTimer); // off means no request after all
    if (e.target.checked && $("result").dataset.phase === "pending") recognise({ live: true });
  });
  document.addEventListener("keydown", onKey);
  listenForPhotos(openPhoto);
}

/** Enter recognises, Ctrl/Cmd+Z undoes, Escape clears; buttons keep their own keys. */
function onKey(e) {
  const tag = e.target?.tagName;
  const key = e.key ?? ""; // autofill sends keydown events without a key
  if (key === "Enter" && !e.repeat && !["BUTTON", "A", "SELECT", "TEXTAREA"].includes(tag)) {
    if (tag === "INPUT" && e.target.type === "checkbox") return;
    e.preventDefault();
    recognise();
  } else if (key.toLowerCase() === "z" && (e.ctrlKey || e.metaKey) && !e.shiftKey) {
    e.preventDefault();
    pad.undo();
  } else if (key === "Escape") {
    pad.clear();
  }
}

function showApiBase() {
  const base = state.config.apiBase;
  $("api-docs").href = base ? `${base}/docs` : "docs";
}

async function start() {
  buildBars();
  resetPrediction();
  wireControls();
  state.configReady = loadConfig().then((config) => {
    state.config = config;
    showApiBase();
  });
  await state.configReady;
  document.body.dataset.ready = "true"; // tests wait for this
  window.addEventListener("online", () => checkApi()); // "API unreachable" may be over
  await checkApi();
}

start();
