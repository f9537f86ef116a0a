"""Import and export: uploads, mapping, background runs with progress, undo; streaming exports."""
