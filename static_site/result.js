// The result panel: the digit, its confidence, all ten probabilities and the
// 28x28 image the model saw (the API's `input`).

import { $ } from "./dom.js";

/** One decimal, except the ends: "100%" and "0%" read better than "100.0%" and "0.0%". */
const percent = (p) => (p >= 0.9995 ? "100%" : p < 0.0005 ? "0%" : `${(p * 100).toFixed(1)}%`);

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
      <span class="prob-value">–</span>`;
    li.setAttribute("aria-label", `${d}: no prediction yet`);
    list.append(li);
  }
}

export function showPrediction(result) {
  const { digit, confidence, probabilities, model } = result;
  $("digit").textContent = String(digit);
  $("digit").dataset.empty = "false";
  $("confidence").textContent = percent(confidence);
  for (const li of $("probs").children) {
    const d = Number(li.dataset.digit);
    const p = probabilities[d];
    li.querySelector(".prob-fill").style.width = `${Math.max(p * 100, 0)}%`;
    li.querySelector(".prob-value").textContent = percent(p);
    li.dataset.p = String(p);
    li.classList.toggle("top", d === digit); // the API's digit is the top probability
    li.setAttribute("aria-label", `${d}: ${percent(p)}`);
  }
  $("model-name").textContent = model ? `${model.name} ${model.version}` : "–";
  showBadge(`${digit} · ${percent(confidence)}`, "answer");
  drawSeen(result.input);
}

/** The answer in the polite status region: said by a screen reader, once the page says so. */
export function announcePrediction({ digit, confidence }) {
  const article = digit === 8 ? "an" : "a"; // "an eight"
  $("verdict-text").textContent =
    `The model reads ${article} ${digit}, with ${percent(confidence)} confidence.`;
}

/**
 * The badge over the canvas: on a phone the result card is below the fold, so the
 * answer, or why there is none, shows where the person is looking.
 */
export function showBadge(text, kind) {
  const badge = $("pad-badge");
  badge.textContent = text;
  badge.dataset.kind = kind; // "answer", "warn" or "error": its colour
  badge.hidden = false;
}

export function resetPrediction(text = "No prediction yet.") {
  $("digit").textContent = "?";
  $("digit").dataset.empty = "true";
  $("confidence").textContent = "–";
  $("verdict-text").textContent = text;
  $("pad-badge").hidden = true;
  for (const li of $("probs").children) {
    li.querySelector(".prob-fill").style.width = "0%";
    li.querySelector(".prob-value").textContent = "–";
    li.classList.remove("top");
    delete li.dataset.p;
    li.setAttribute("aria-label", `${li.dataset.digit}: no prediction yet`);
  }
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

/** A message above the result; kind picks the colour ("error", "warn", "info"). */
export function showMessage(title, text, kind = "error") {
  const box = $("message");
  box.dataset.kind = kind;
  box.replaceChildren();
  const strong = document.createElement("strong");
  strong.textContent = title;
  const span = document.createElement("span");
  span.textContent = text;
  box.append(strong, " ", span);
  box.hidden = false;
}

export function hideMessage() {
  $("message").hidden = true;
}

/** Why the last drawing had no answer (message and badge) goes: it is not this drawing's. */
export function hideProblem() {
  hideMessage();
  const badge = $("pad-badge");
  if (badge.dataset.kind !== "answer") badge.hidden = true; // an answer stays, greyed
}

/** The answer shown is for an older drawing (greyed), or it is not. */
export function setStale(stale) {
  document.body.classList.toggle("stale", stale);
}

export const isStale = () => document.body.classList.contains("stale");
