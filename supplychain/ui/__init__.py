"""Pages for people, rendered on the server with Jinja."""

from flask import Blueprint, render_template

blp = Blueprint("ui", __name__, template_folder="templates")


@blp.get("/")
def landing():
    """The landing page: what the service is and where its API lives."""
    return render_template("landing.html")
