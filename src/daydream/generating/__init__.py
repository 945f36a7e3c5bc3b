"""One generation's steps: render its prompt, get and record its response, validate and parse it."""
