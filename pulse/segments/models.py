"""Models of segments."""
