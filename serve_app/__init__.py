"""The HTTP face of flashsale: a Ray Serve deployment with a FastAPI ingress."""
