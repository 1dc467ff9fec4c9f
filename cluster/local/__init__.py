"""Bring flashsale's real services up on one machine: Redis, MariaDB, Kafka, Ray + Serve."""
