"""Judge model backends, rate limiting and token accounting."""
