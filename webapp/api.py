"""The JSON API (placeholder blueprint; the endpoints follow)."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")
