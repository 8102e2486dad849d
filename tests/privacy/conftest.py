"""The API's world (places in and out of scope, capabilities) serves the privacy tests too."""

from tests.api.conftest import capabilities, client_for, world  # noqa: F401 - fixtures
