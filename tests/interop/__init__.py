"""Interoperability tests: jotgate against other JWT libraries, both directions."""
