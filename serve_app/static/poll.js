// Polling that is gentle with a shop under a flash-sale burst: a steady pace while
// calls succeed, exponential back-off (to maxMs, never under Retry-After) while they
// fail, and no calls at all while the tab is hidden (a fresh one as soon as it shows).
//
// task() -> false to stop, a number for the next delay in ms, or anything else for
// everyMs. onError(err, waitMs) is told of each failure.

export function poll(task, { everyMs = 2000, maxMs = 30000, onError = () => {} } = {}) {
  let delayMs = everyMs;
  let timer = null;
  let running = false;
  let stopped = false;

  async function run() {
    timer = null;
    if (stopped || running || document.hidden) return; // visibilitychange restarts it
    running = true;
    try {
      const next = await task();
      if (next === false) {
        stop();
        return;
      }
      delayMs = typeof next === "number" ? next : everyMs;
    } catch (err) {
      delayMs = Math.min(maxMs, Math.max(delayMs * 2, (err?.retryAfterS ?? 0) * 1000));
      onError(err, delayMs);
    } finally {
      running = false;
    }
    if (!stopped && !document.hidden) timer = setTimeout(run, delayMs);
  }

  function onVisibility() {
    if (!document.hidden && timer === null && !running) run();
  }

  function stop() {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisibility);
  }

  document.addEventListener("visibilitychange", onVisibility);
  run();
  return {
    stop,
    // Ask again now (e.g. after a purchase changed what the poll shows).
    now() {
      if (stopped || running) return;
      clearTimeout(timer);
      run();
    },
  };
}
