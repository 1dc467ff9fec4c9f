// The shop's clock, as seen from this browser. Every countdown and every "may I buy
// yet" runs on server time, so a buyer whose computer is a minute fast still sees the
// Buy button open on the second the shop does.

let offsetMs = 0;
let state = "pending"; // pending -> synced (or "local": the shop did not answer)

export const serverNow = () => Date.now() + offsetMs;
export const clockState = () => state;
export const clockOffsetMs = () => offsetMs;

// Takes a few samples of GET /api/time and keeps the one with the shortest round trip:
// its reading has the least uncertainty. The shop read its clock about half-way through
// the round trip, hence + rtt / 2.
export async function syncClock(samples = 3) {
  let best = null;
  for (let i = 0; i < samples; i++) {
    const sent = performance.now();
    const response = await fetch("/api/time", { cache: "no-store" });
    if (!response.ok) throw new Error(`GET /api/time answered ${response.status}`);
    const { epoch_ms: serverMs } = await response.json();
    const rtt = performance.now() - sent;
    if (best === null || rtt < best.rtt) best = { rtt, offset: serverMs + rtt / 2 - Date.now() };
  }
  offsetMs = best.offset;
  state = "synced";
  return best;
}

export function clockFailed() {
  if (state === "pending") state = "local";
}

// One shared timer drives every countdown on the page (5 times a second: a button that
// opens at the start opens within 200 ms of it). onTick(fn) returns the unsubscribe.
const ticking = new Set();
let timer = null;

export function onTick(fn) {
  ticking.add(fn);
  fn(serverNow());
  timer ??= setInterval(() => {
    const now = serverNow();
    for (const each of ticking) {
      try {
        each(now);
      } catch (err) {
        reportError(err); // one broken countdown must not stop the others
      }
    }
  }, 200);
  return () => {
    ticking.delete(fn);
    if (ticking.size === 0) {
      clearInterval(timer);
      timer = null;
    }
  };
}
