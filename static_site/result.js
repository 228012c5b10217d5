// The result panel: the digit, its confidence, all ten probabilities and the
// 28x28 image the model saw (the API's `input`).

import { $ } from "./dom.js";

/** One decimal, except the ends: "100%" and "0%" read better than "100.0%" and "0.0%". */
const percent = (p) => (p >= 0.9995 ? "100%" : p < 0.0005 ? "0%" : `${(p * 100).toFixed(1)}%`);

/** "a 7", "an 8": as a screen reader says it. */
const aDigit = (d) => `${d === 8 ? "an" : "a"} ${d}`;

/**
 * Under this top probability the answer is shown as unsure. On MNIST the confidence is
 * calibrated, but drawings are not MNIST: of the canvas-style set's 2,960 drawings the model
 * reads 42 wrong, and under 50% it was on 3 of them (and on 3 of the 2,918 right ones); under
 * 90% it is on 28 of the 42, and on 44 of the right ones (1.5%): `python -m
 * training.canvas_eval` prints these (its UNSURE_BELOW is this one). Letters in handwriting
 * fonts, which still get a digit: 34% under 90%, 5% under 50% (2,496 of them, a one-off
 * measurement). At 90% and over the answer looks as it always did. Exported for no module:
 * tests/test_canvas_eval.py reads it here to check that canvas_eval uses the same value.
 */
export const UNSURE_BELOW = 0.9;

/**
 * The one place that decides whether an answer is unsure: its runner-up, { digit, p }, the
 * likeliest other digit, which the note and the announcement name; null when it is sure.
 */
function doubt({ digit, confidence, probabilities }) {
  if (confidence >= UNSURE_BELOW) return null;
  const others = probabilities.map((p, d) => ({ digit: d, p })).filter((o) => o.digit !== digit);
  return others.reduce((best, o) => (o.p > best.p ? o : best));
}

/** Ten rows, built once; each shows its probability as a bar and as text. */
export function buildBars() {
  const list = $("probs");
  list.replaceChildren();
  for (let d = 0; d < 10; d++) {
    const li = document.createElement("li");
    li.className = "prob";
    li.dataset.digit = String(d);
    li.innerHTML = `<span class="prob-digit">${d}</span>
      <span class="prob-track"><span class="prob-fill"></span></span>
      <span class="prob-value"></span>`;
    clearRow(li);
    list.append(li);
  }
}

/** A row shows its digit's probability `p`; `top` marks the answer's row. */
function showRow(li, p, top) {
  li.querySelector(".prob-fill").style.width = `${Math.max(p * 100, 0)}%`;
  li.querySelector(".prob-value").textContent = percent(p);
  li.dataset.p = String(p);
  li.classList.toggle("top", top);
  li.setAttribute("aria-label", `${li.dataset.digit}: ${percent(p)}`);
}

/** A row with no probability: an empty bar and a dash. */
function clearRow(li) {
  li.querySelector(".prob-fill").style.width = "0%";
  li.querySelector(".prob-value").textContent = "–";
  delete li.dataset.p;
  li.classList.remove("top");
  li.setAttribute("aria-label", `${li.dataset.digit}: no prediction yet`);
}

let shown = null; // the answer on the card, or null

export function showPrediction(result) {
  shown = result;
  const { digit, confidence, probabilities, model } = result;
  $("digit").textContent = String(digit);
  $("digit").dataset.empty = "false";
  $("confidence").textContent = percent(confidence);
  for (const li of $("probs").children) {
    const d = Number(li.dataset.digit);
    showRow(li, probabilities[d], d === digit); // the API's digit is the top probability
  }
  $("model-name").textContent = model ? `${model.name} ${model.version}` : "–";
  const runnerUp = doubt(result);
  showUnsure(runnerUp && `Unsure: maybe ${digit} (${percent(confidence)}) or ${runnerUp.digit} `
    + `(${percent(runnerUp.p)})`);
  showBadge(answerBadge(result), "answer");
  drawSeen(result.input);
}

/**
 * The answer on the card in words (null: none), for the sentence a screen reader hears: unsure,
 * it says so and names the runner-up, as the note on the card does; greyed, that it is outdated.
 */
export function describeAnswer() {
  if (!shown) return null;
  const { digit, confidence } = shown;
  const runnerUp = doubt(shown);
  const old = isStale();
  const verb = runnerUp ? `${old ? "was" : "is"} unsure: maybe` : old ? "read" : "reads";
  let words = `model ${verb} ${aDigit(digit)}, with ${percent(confidence)} confidence`;
  if (runnerUp) words += `, or ${aDigit(runnerUp.digit)}, with ${percent(runnerUp.p)}`;
  return old ? `Outdated: the ${words}; the drawing has changed since.` : `The ${words}.`;
}

/**
 * The card's note (null: none) and the unsure look (body.unsure in style.css: the digit's
 * box and the badge in amber), which a stale answer keeps, greyed, as it is still that answer.
 */
function showUnsure(note) {
  document.body.classList.toggle("unsure", Boolean(note));
  $("unsure-note").textContent = note ?? "";
  $("unsure-note").hidden = !note;
}

/**
 * The badge over the canvas: on a phone the result card is below the fold, so the
 * answer, or why there is none, shows where the person is looking.
 */
export function showBadge(text, kind) {
  const badge = $("pad-badge");
  badge.textContent = text;
  badge.dataset.kind = kind; // "answer", "busy", "warn" or "error": its colour
  badge.hidden = false;
}

/**
 * While a request is in flight the badge says so; after, what it said before: the `problem`
 * still shown (live, the API's, kept across strokes), else the answer on the card, if any.
 */
export function showBusy(on, problem = null) {
  if (on) showBadge("Thinking…", "busy");
  else if ($("pad-badge").dataset.kind === "busy") {
    if (problem) showBadge(problem.short, problem.kind);
    else if (shown) showBadge(answerBadge(shown), "answer");
    else $("pad-badge").hidden = true;
  }
}

/** "7 · 97.0%", or "8? · 34.0%" when unsure. */
const answerBadge = (result) => `${result.digit}${doubt(result) ? "?" : ""} · `
  + `${percent(result.confidence)}`;

/** No answer on the card (the sentence is the caller's: announce.js, say). */
export function resetPrediction() {
  shown = null;
  setStale(false);
  $("digit").textContent = "?";
  $("digit").dataset.empty = "true";
  $("confidence").textContent = "–";
  $("pad-badge").hidden = true;
  showUnsure(null);
  for (const li of $("probs").children) clearRow(li);
  drawSeen(null);
}

/** The model's 28x28 input, bright ink on black as in MNIST, scaled up by CSS. */
function drawSeen(pixels) {
  const canvas = $("seen");
  const ctx = canvas.getContext("2d");
  if (!Array.isArray(pixels) || pixels.length !== 784) {
    ctx.clearRect(0, 0, 28, 28);
    canvas.setAttribute("aria-label", "The 28 by 28 image the model saw: nothing yet.");
    return;
  }
  const img = ctx.createImageData(28, 28);
  pixels.forEach((v, i) => {
    img.data.set([v, v, v, 255], i * 4);
  });
  ctx.putImageData(img, 0, 0);
  canvas.setAttribute(
    "aria-label",
    "The 28 by 28 image the model saw: your digit, scaled and centred, light on dark.",
  );
}

/** A message above the result; kind picks the colour ("error" or "warn"). */
export function showMessage(title, text, kind = "error") {
  const box = $("message");
  // The same problem, still shown (live, the next stroke's answer): an alert rebuilt is said again.
  if (!box.hidden && box.dataset.kind === kind && box.textContent === `${title} ${text}`) return;
  box.dataset.kind = kind;
  box.replaceChildren();
  const strong = document.createElement("strong");
  strong.textContent = title;
  const span = document.createElement("span");
  span.textContent = text;
  box.append(strong, " ", span);
  box.hidden = false;
}

/** Why the last drawing had no answer (message and badge) goes: it is not this drawing's. */
export function hideProblem() {
  $("message").hidden = true;
  const badge = $("pad-badge");
  // An answer stays, greyed; "Thinking…" stays while its request runs.
  if (badge.dataset.kind !== "answer" && badge.dataset.kind !== "busy") badge.hidden = true;
}

/** The answer shown is for an older drawing (greyed), or it is not; no answer is never stale. */
export function setStale(stale) {
  document.body.classList.toggle("stale", stale && Boolean(shown));
}

const isStale = () => document.body.classList.contains("stale");
