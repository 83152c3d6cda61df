"""Topics: the taxonomy readers follow and the tagger that finds a story's topics."""
