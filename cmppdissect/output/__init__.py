"""Outputs: text, JSON/CSV records and reports. All wire text passes through ``sanitize``."""
