"""The storefront's use cases: purchase, pay and cancel, the catalogue, accounts.

Routes and the purchase fast path translate HTTP to calls here and outcomes back to
HTTP (serve_app/errors.py); nothing here knows HTTP, Redis keys, SQL or Ray.
"""
