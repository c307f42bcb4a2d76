"""HTTP routes: thin adapters from requests to services, one module per area."""
