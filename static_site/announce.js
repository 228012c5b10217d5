// The sentence a screen reader hears: the polite live region (#verdict-text), which holds
// nothing else. Said at once, or, live after a stroke, once the drawing has rested (app.js,
// LIVE_ANNOUNCE_MS says why); a new stroke drops a sentence still waiting.

import { $ } from "./dom.js";

let restsAt = 0; // when the drawing will have rested (Date.now()'s time); before, say waits
let waiting = 0; // the timer of the sentence waiting for that

/** From now on, what is said waits until the drawing has rested `ms` (live, after a stroke). */
export function sayOnceRested(ms) {
  restsAt = Date.now() + ms;
}

/** From now on, what is said is said at once (asked for, or after an Undo or a Clear). */
export function sayAtOnce() {
  restsAt = 0;
}

/** A stroke has begun: the drawing is not resting, and what was to be said once it rests goes. */
export function dropUnsaid() {
  clearTimeout(waiting);
}

/** Says `text`, at once or once the drawing has rested. Emptied at once: that says nothing. */
export function say(text) {
  clearTimeout(waiting);
  const wait = text ? restsAt - Date.now() : 0;
  if (wait > 0) waiting = setTimeout(() => setSentence(text), wait);
  else setSentence(text);
}

/** A screen reader says the region each time it changes, so the same words are not set again. */
function setSentence(text) {
  const el = $("verdict-text");
  if (el.textContent !== text) el.textContent = text;
}
