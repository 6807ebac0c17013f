"""One module of pages per feature, each registering its routes on the `ui` blueprint."""
