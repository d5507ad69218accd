"""SQLAlchemy 2 models and the one engine/session layer of the project."""

from crawler.db.engine import make_engine
from crawler.db.models import Base, Pin

__all__ = ["Base", "Pin", "make_engine"]
