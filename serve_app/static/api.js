// The shop's HTTP API (docs/api.md), as the page uses it. Every error answer is
// {"error": {"code", "message"}}: it becomes an ApiError that keeps the status, the
// code (what the views branch on), the message (what they always show) and Retry-After.

import { dropSession, session } from "./session.js";

export class ApiError extends Error {
  constructor(status, code, message, retryAfterS = null) {
    super(message);
    this.status = status; // 0: no answer at all (network)
    this.code = code;
    this.retryAfterS = retryAfterS;
  }

  // What the shop asks to be retried (busy, rate limited), lost connections, and
  // answers that are not the shop's at all (no JSON error): Ray Serve's gateway while
  // a replica is replaced or the app redeployed (a plain-text 500 from its HAProxy, a
  // text 404 from its proxy before the routes are back). A purchase is retried with
  // the same Idempotency-Key, so a retry never buys twice.
  get retriable() {
    const gateway = this.status >= 400 && this.code === `http_${this.status}`;
    return this.status === 503 || this.status === 429 || this.status === 0 || gateway;
  }
}

// -> {status, data}; throws ApiError. auth: send the session's bearer token (and on a
// 401 the session is dropped: the token is expired or no longer accepted).
export async function call(method, path, { body, headers = {}, auth = false } = {}) {
  const init = { method, cache: "no-store", headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  if (auth) {
    const who = session();
    if (!who) throw new ApiError(401, "unauthorized", "please log in first");
    init.headers.Authorization = `Bearer ${who.token}`;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network", "the shop could not be reached; check your connection");
  }
  const data = await response.json().catch(() => null);
  if (response.ok) return { status: response.status, data };
  const error = data?.error ?? {};
  const retryAfter = response.headers.get("Retry-After");
  const seconds = retryAfter === null ? null : Number(retryAfter);
  if (auth && response.status === 401) dropSession("Your session has ended: please log in again.");
  throw new ApiError(
    response.status,
    error.code ?? `http_${response.status}`,
    error.message ?? `the shop answered ${response.status}`,
    Number.isFinite(seconds) ? seconds : null,
  );
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Runs attempt() until it succeeds, fails for good, or `tries` attempts were made.
// Waits never less than Retry-After, else an exponential back-off; the random extra
// (up to half again) keeps a crowd of buyers from coming back in lockstep.
export async function withRetries(attempt, { tries = 6, onRetry = () => {} } = {}) {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (!(err instanceof ApiError) || !err.retriable || n >= tries) throw err;
      const backoffMs = Math.min(8000, 500 * 2 ** (n - 1));
      const waitMs = Math.max(backoffMs, (err.retryAfterS ?? 0) * 1000) * (1 + Math.random() / 2);
      onRetry(err, n, waitMs);
      await sleep(waitMs);
    }
  }
}

// 32 hex characters from the browser's CSPRNG: a valid Idempotency-Key (1-64 of
// [A-Za-z0-9_-]). Not crypto.randomUUID, which plain-http pages off localhost lack.
export function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const id = (value) => encodeURIComponent(value);

export const api = {
  config: () => call("GET", "/api/config"),
  deals: () => call("GET", "/api/deals"),
  deal: (dealId) => call("GET", `/api/deals/${id(dealId)}`),
  register: (username, password) =>
    call("POST", "/api/auth/register", { body: { username, password } }),
  login: (username, password) => call("POST", "/api/auth/login", { body: { username, password } }),
  purchase: (dealId, quantity, key) =>
    call("POST", `/api/deals/${id(dealId)}/purchase`, {
      body: { quantity },
      headers: { "Idempotency-Key": key },
      auth: true,
    }),
  order: (orderId) => call("GET", `/api/orders/${id(orderId)}`, { auth: true }),
  pay: (orderId) => call("POST", `/api/orders/${id(orderId)}/pay`, { auth: true }),
  cancel: (orderId) => call("POST", `/api/orders/${id(orderId)}/cancel`, { auth: true }),
  createProduct: (product) => call("POST", "/api/admin/products", { body: product, auth: true }),
  createDeal: (deal) => call("POST", "/api/admin/deals", { body: deal, auth: true }),
  stats: (dealId) => call("GET", `/api/admin/deals/${id(dealId)}/stats`, { auth: true }),
};

// GET /api/config once per page load (the payment window does not change under us).
let config = null;
export function shopConfig() {
  config ??= api.config().then(
    (r) => r.data,
    () => {
      config = null; // try again next time
      return null;
    },
  );
  return config;
}
