"""Baselines for the purchase benchmark (issue 13): two small shops that sell a deal the
way most tutorials do, run in the same benchmark run as flashsale, on the same cores,
under the same load (wrk with bench/purchase.lua), so that flashsale's figures can be
read as ratios to something a competent engineer would otherwise have built.

  naive_mysql   one MySQL transaction per purchase: lock the deal's row (SELECT ...
                FOR UPDATE), sum what the buyer already has, update the stock, insert
                the order, commit (aiomysql pool, one uvicorn process)
  redis_lua     one Redis Lua script per purchase: check the buyer's limit, take the
                stock, record the hold, atomically (redis-py asyncio, one uvicorn
                process)

Both speak flashsale's purchase contract (``POST /api/deals/{id}/purchase`` with a bearer
token, an Idempotency-Key and ``{"quantity": n}``; 201 / 401 / 404 / 409 / 410 / 422 /
503 with flashsale's error codes), answer ``GET /api/time``, and count what they answer
at ``GET /stats`` (see common.py). Each module's docstring says what it does NOT do that
flashsale does: the point of a baseline is what it skips, so that the price of each
guarantee can be read off the ratios rather than guessed.

They are written to be fair, not to lose: the same token check (flashsale's own
verifier, cache included), uvloop and httptools when installed, no access log,
connection pools sized for the load. Run one with
``python -m bench.baselines.naive_mysql --port 8101`` (``REDIS_URL``, ``MYSQL_DSN`` and
``FLASHSALE_JWT_SECRET`` from the environment, as flashsale reads them), and put a deal
on sale with the module's ``setup_deal(settings, deal_id, stock, per_user_limit)``.
"""
