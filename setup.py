# scrapyd-deploy builds the project's egg with `python setup.py bdist_egg` (and writes a setup.py
# of its own, packaging every folder, when there is none); what goes in is in pyproject.toml.
from setuptools import setup

setup()
