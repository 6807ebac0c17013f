"""Services: every business rule lives here. Functions take a session and plain values and flush."""
