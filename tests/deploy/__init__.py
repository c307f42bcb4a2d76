"""Edge proxies (nginx, Traefik, Envoy) in front of jotgate: the deploy/ examples."""
