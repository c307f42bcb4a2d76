"""Known-answer tests: published JOSE vectors (RFCs, the JOSE cookbook) run through jotgate."""
