// The API client: where the API lives (config.json, written by the deploy)
// and one prediction request with a timeout, turned into a clear outcome.

const DEFAULT_TIMEOUT_MS = 8000;
const CONFIG_TIMEOUT_MS = 3000;

/** An API failure with a message meant for the person using the page. */
export class ApiError extends Error {
  constructor(kind, message, status = 0) {
    super(message);
    this.kind = kind; // "unreachable" | "timeout" | "http" | "aborted"
    this.status = status;
  }
}

/**
 * The deploy writes config.json = {"apiUrl": "https://..."} next to the page;
 * locally there is none and the API is on the same origin.
 */
export async function loadConfig() {
  const config = { apiBase: "", timeoutMs: DEFAULT_TIMEOUT_MS };
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), CONFIG_TIMEOUT_MS);
  try {
    const r = await fetch("config.json", { cache: "no-store", signal: ctrl.signal });
    if (!r.ok) return config;
    const data = await r.json();
    if (typeof data.apiUrl === "string" && data.apiUrl.trim()) {
      config.apiBase = data.apiUrl.trim().replace(/\/+$/, "");
    }
    if (Number.isFinite(data.timeoutMs) && data.timeoutMs > 0) config.timeoutMs = data.timeoutMs;
  } catch {
    // No, slow or unreadable config: same origin.
  } finally {
    clearTimeout(timer);
  }
  return config;
}

/**
 * The reason in an error body. Our API's 4xx (413, 422) list the problems as
 * `{"detail": [{"loc", "msg", "type"}]}`, as FastAPI's own 422 does; its 5xx and
 * Starlette's 404 have a plain string; API Gateway's own errors a `message`.
 */
function detailText(body) {
  const detail = body?.detail ?? body?.message;
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail)) {
    const text = detail
      .filter((d) => typeof d?.msg === "string")
      .map((d) => {
        const where = Array.isArray(d.loc) ? d.loc.filter((p) => p !== "body").join(".") : "";
        return where ? `${where}: ${d.msg}` : d.msg;
      })
      .join("; ");
    if (text) return text;
  }
  return "no reason given."; // shown after "The API answered 502:" or a title
}

/** One JSON request with a timeout; `signal` lets the caller cancel it as stale. */
export async function requestJson(url, { body, signal, timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
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
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: ctrl.signal,
      cache: "no-store",
    });
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      throw new ApiError("http", detailText(data), response.status);
    }
    if (data === null) throw new ApiError("http", "The API sent an unreadable answer.", response.status);
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

/** POST /predict with the canvas as a PNG data URL. */
export function predict(config, dataUrl, signal) {
  return requestJson(`${config.apiBase}/predict`, {
    body: { image: dataUrl },
    signal,
    timeoutMs: config.timeoutMs,
  });
}

/** GET /health: is the API there and is its model loaded? */
export function health(config) {
  return requestJson(`${config.apiBase}/health`, { timeoutMs: config.timeoutMs });
}
