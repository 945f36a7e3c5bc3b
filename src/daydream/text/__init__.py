"""Text in and out of a model: prompt templates rendered in a bounded sandbox, and the parsers
that turn a response into parsed text or a score."""
