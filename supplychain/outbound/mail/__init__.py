"""Email: backends, message writing, what a message says, sending, and unsubscribe links."""
