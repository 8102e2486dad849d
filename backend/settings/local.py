"""Developer machine / embedded default: DEBUG on and dev keys derived from SECRET_KEY."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
