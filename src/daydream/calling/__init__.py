"""Talking to providers: the HTTP client, the offline provider, endpoints, keys, rate limits, and the call engine."""
