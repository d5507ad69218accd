"""SQLAlchemy 2 models and the one engine/session layer of the project."""

from crawler.db.engine import make_engine
from crawler.db.models import Base, Pin, Vehicle

__all__ = ["Base", "Pin", "Vehicle", "make_engine"]
