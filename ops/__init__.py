"""Operator tools: the flashsale CLI and the audit gatherer."""
