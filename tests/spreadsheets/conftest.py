"""The import tests' capability catalogue, for files that hold adoptions."""

from tests.imports.conftest import catalogue

__all__ = ["catalogue"]
