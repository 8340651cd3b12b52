"""Annotator and project pages (web layer): thin views over annotate services."""
