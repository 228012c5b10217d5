// The API client: where the API lives (config.json, written by the deploy),
// one prediction request with a timeout, and what went wrong in plain words.

const DEFAULT_TIMEOUT_MS = 8000;
const CONFIG_TIMEOUT_MS = 3000;

/** An API failure; `type` is the API's name for the problem (its first one), if any. */
export class ApiError extends Error {
  constructor(kind, message, status = 0, type = "") {
    super(message);
    this.kind = kind; // "unreachable" | "timeout" | "http" | "aborted"
    this.status = status;
    this.type = type; // e.g. "empty_drawing", "no_digit"; "unreadable" for a 200 that is no answer
  }
}

/**
 * The deploy writes config.json = {"apiUrl": "https://..."} next to the page;
 * locally there is none and the API is on the same origin (as with an apiUrl that is no
 * http or https URL).
 */
export async function loadConfig() {
  const config = { apiBase: "", timeoutMs: DEFAULT_TIMEOUT_MS };
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), CONFIG_TIMEOUT_MS);
  try {
    const r = await fetch("config.json", { cache: "no-store", signal: ctrl.signal });
    if (!r.ok) return config;
    const data = await r.json();
    const apiUrl = typeof data.apiUrl === "string" ? data.apiUrl.trim() : "";
    // An http(s) URL only: anything else (a javascript: URL) would become the docs link.
    if (/^https?:\/\/[^/]/i.test(apiUrl)) config.apiBase = apiUrl.replace(/\/+$/, "");
    if (Number.isFinite(data.timeoutMs) && data.timeoutMs > 0) config.timeoutMs = data.timeoutMs;
  } catch {
    // No, slow or unreadable config: same origin.
  } finally {
    clearTimeout(timer);
  }
  return config;
}

/**
 * The first problem in an error body, as {type, msg}. Our API's 4xx (413, 422) list
 * them as `{"detail": [{"loc", "msg", "type"}]}`, as FastAPI's own 422 does; its 5xx
 * and Starlette's 404 have a plain string; API Gateway's own errors a `message`.
 * Only the first is kept: a list of 21 problems in one line helps nobody. The API's
 * 503 without a model says "model unavailable: <why>" (/health: `{"ok": false,
 * "reason"}`); API Gateway's own 503 is "Service Unavailable", not about the model.
 */
function firstProblem(body) {
  if (body?.ok === false) return { type: MODEL_UNAVAILABLE, msg: String(body.reason ?? "") };
  const detail = body?.detail ?? body?.message;
  if (typeof detail === "string" && /^model unavailable\b/.test(detail)) {
    return { type: MODEL_UNAVAILABLE, msg: detail };
  }
  if (typeof detail === "string" && detail) return { type: "", msg: detail };
  const first = Array.isArray(detail) ? detail.find((d) => typeof d?.msg === "string") : null;
  return first ? { type: String(first.type ?? ""), msg: first.msg } : { type: "", msg: "" };
}

const unreadable = (status) => new ApiError("http", "", status, "unreadable");
const MODEL_UNAVAILABLE = "model_unavailable"; // the API's name for it (app.py, _require_model)

/**
 * One JSON request with a timeout; `signal` lets the caller cancel it as stale. A body
 * goes as text/plain: the API parses JSON whatever the Content-Type, and a cross-origin
 * POST with a CORS-safelisted type needs no preflight (one round trip less).
 */
async function requestJson(url, { body, signal, timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
  // An abort event never fires for a signal that is already aborted.
  if (signal?.aborted) throw new ApiError("aborted", "Cancelled.");
  const ctrl = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ctrl.abort();
  }, timeoutMs);
  const onAbort = () => ctrl.abort();
  signal?.addEventListener("abort", onAbort, { once: true });
  let response;
  try {
    response = await fetch(url, {
      method: body === undefined ? "GET" : "POST",
      headers: body === undefined ? {} : { "Content-Type": "text/plain;charset=UTF-8" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: ctrl.signal,
      cache: "no-store",
    });
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const { type, msg } = firstProblem(data);
      throw new ApiError("http", msg, response.status, type);
    }
    if (data === null) throw unreadable(response.status);
    return data;
  } catch (err) {
    // First: an abort or a timeout while the body was read makes it look unreadable.
    if (signal?.aborted) throw new ApiError("aborted", "Cancelled.");
    if (timedOut) {
      const seconds = Math.max(1, Math.round(timeoutMs / 1000));
      throw new ApiError("timeout", `no answer within ${seconds} s. Try again in a moment.`);
    }
    if (err instanceof ApiError) throw err;
    const where = new URL(url, location.href).host;
    throw new ApiError("unreachable", `cannot connect to the API at ${where}. Check your connection and try again.`);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

/** A prediction the page can show: anything else would be drawn as "undefined" and "NaN%". */
function isPrediction(data) {
  const { digit, confidence, probabilities: p } = data ?? {};
  return Number.isInteger(digit) && digit >= 0 && digit <= 9 && Number.isFinite(confidence)
    && Array.isArray(p) && p.length === 10 && p.every(Number.isFinite);
}

/** POST /predict with the canvas as a PNG data URL. */
export async function predict(config, dataUrl, signal) {
  const data = await requestJson(`${config.apiBase}/predict`, {
    body: { image: dataUrl },
    signal,
    timeoutMs: config.timeoutMs,
  });
  if (!isPrediction(data)) throw unreadable(200);
  return data;
}

/** GET /health: is the API there and is its model loaded? A 200 without one throws too. */
export async function health(config) {
  const data = await requestJson(`${config.apiBase}/health`, { timeoutMs: config.timeoutMs });
  if (data?.ok === false) throw new ApiError("http", "", 200, MODEL_UNAVAILABLE);
  return data;
}

/**
 * Why there is no answer, in plain words, in the one shape the page shows: a title and a
 * sentence for the message, `short` (a few words) for the badge over the canvas and the
 * live region, and `kind`: "warn" when the drawing is the problem, else "error".
 */
export const problem = (title, text, short, kind = "error") => ({ title, text, short, kind });

/** The API's answer to an empty canvas, which the page also gives itself without asking. */
export const EMPTY_CANVAS = problem("Nothing to recognise:",
  "the canvas is empty. Draw a digit from 0 to 9.", "Empty canvas", "warn");

// The problems the API can answer with: by its error type first, then by HTTP status.
const BY_TYPE = {
  empty_drawing: EMPTY_CANVAS,
  no_digit: problem("Not a digit:", "the model finds no digit in this drawing. Clear it and "
    + "draw one digit, big and centred.", "Not a digit", "warn"),
  image_too_large: problem("Drawing too large:",
    "it is too big to send. Clear the canvas and draw again.", "Too large"),
  unreadable: problem("Unreadable answer:",
    "the API answered, but not with a prediction. Try again in a moment.", "No answer"),
  [MODEL_UNAVAILABLE]: problem("Model not loaded:",
    "the API cannot recognise digits right now. Try again later.", "No answer"),
};
BY_TYPE.body_too_large = BY_TYPE.image_too_large;
const BY_STATUS = {
  429: problem("Too many requests:", "the API is busy. Wait a few seconds and try again.",
    "API busy"),
  503: problem("Service unavailable:", "the API cannot answer right now. Try again in a moment.",
    "No answer"),
};

/** A message from elsewhere as a sentence: it ends with a full stop. */
const sentence = (msg) => (/[.!?]$/.test(msg) ? msg : `${msg}.`);

function plainWords(err) {
  if (!(err instanceof ApiError)) {
    return problem("Something went wrong:", sentence(String(err?.message ?? err)), "Error");
  }
  if (err.kind === "timeout") return problem("Slow:", err.message, "No answer");
  if (err.kind === "unreachable") return problem("Unreachable:", err.message, "No connection");
  const known = BY_TYPE[err.type] ?? BY_STATUS[err.status];
  if (known) return known;
  if (err.status >= 500) {
    return problem("Server error:", `the API failed (${err.status}). Try again in a moment.`,
      "No answer");
  }
  // Never the field name ("image: ..."): the person drew, they did not name a field.
  const what = err.status === 422 ? "the drawing" : `the request (${err.status})`;
  return problem(`The API refused ${what}:`, sentence(err.message || "no reason given"),
    "No answer");
}

/**
 * The header's API status after a failed request (to /predict or /health), or null to
 * leave it as it is.
 */
function apiState(err) {
  if (!(err instanceof ApiError)) return null;
  if (err.kind === "unreachable") return ["down", "API unreachable"];
  if (err.kind === "timeout") return ["slow", "API slow"];
  if (err.type === MODEL_UNAVAILABLE) return ["down", "Model not loaded"];
  if (err.status === 503) return ["slow", "API unavailable"]; // API Gateway's: for a while
  if (err.status >= 500 || err.type === "unreadable") return ["down", "API error"];
  if (err.status === 429) return ["slow", "API busy"];
  if (err.status === 422) return ["ready", "API ready"]; // it read the drawing and refused it
  return null;
}

// A photo refused as no digit: it is not to be redrawn, but taken again or cropped.
const PHOTO_NO_DIGIT = problem("Not a digit:", "the model finds no digit in this photo. "
  + "Try a photo of one digit on plain paper, cropped close to it.", "Not a digit", "warn");

/**
 * A failed request as a `problem`, with `api`: [state, text] for the header, or null.
 * `photo`: what was sent holds a photo (Photo...), not only strokes.
 */
export function explain(err, { photo = false } = {}) {
  const words = photo && err?.type === "no_digit" ? PHOTO_NO_DIGIT : plainWords(err);
  return { ...words, api: apiState(err) };
}
