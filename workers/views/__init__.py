"""Run pages (web layer): start, watch, cancel and retry background runs."""
