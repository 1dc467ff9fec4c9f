"""Adapters: the ports of actors/ports.py over Redis, Kafka and MySQL."""
