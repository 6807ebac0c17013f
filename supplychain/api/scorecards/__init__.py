"""Scorecards API."""
