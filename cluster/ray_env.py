"""Ray's own background work, paced for a shop on few cores: the same on every node,
in `make up` (cluster/local/ray_head.py) and in the RayService (kuberay/render.py).

Measured idle on the two-core bench box, 40 s per process (docs/design.md, issue 16):
- Ray's log monitor globbed the session's log folder for new files every 100 ms while
  it held fewer than 1,000 (half its CPU), and read each file for new lines: 0.025 to
  0.033 of a core. Names every 2 s instead: 0.009. A new worker's log reaches the
  drivers up to 2 s later; the files themselves, which the dashboard reads, do not wait.
- Serve's controller runs its control loop every 100 ms (replica states, HAProxy's
  target groups, a node-resources read from the GCS each time): 0.034 to 0.044 of a
  core, and the GCS ~0.02 answering it. Every 250 ms: 0.017, the GCS 0.013. Serve
  reacts to a replica's death or a redeploy up to 150 ms later, which buyers retrying
  a 503 do not see.
"""

from __future__ import annotations

BACKGROUND_ENV: dict[str, str] = {
    "RAY_LOG_MONITOR_MANY_FILES_THRESHOLD": "0",
    "LOG_NAME_UPDATE_INTERVAL_S": "2",
    "RAY_SERVE_CONTROL_LOOP_INTERVAL_S": "0.25",
}
