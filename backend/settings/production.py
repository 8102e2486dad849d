"""Production: every secret must come from the environment (no defaults), HTTPS everywhere."""

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = env.str("SECRET_KEY")
IDENTIFIER_ENCRYPTION_KEYS = env.list("IDENTIFIER_ENCRYPTION_KEYS")
IDENTIFIER_HASH_KEY = env.str("IDENTIFIER_HASH_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

# Structured logs (one JSON object per line) unless LOG_FORMAT says otherwise.
LOGGING["handlers"]["console"]["formatter"] = env.str("LOG_FORMAT", default="json")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# The load balancer's plain-HTTP health probe on the inside is answered, not redirected.
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
# The session cookie is never read by JavaScript; the CSRF cookie is (the mobile web sends it to
# the sync endpoint), so it stays readable but only over HTTPS and same-site.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Behind HTTPS only: any stray http:// sub-resource is fetched over HTTPS instead.
CONTENT_SECURITY_POLICY = {
    **CONTENT_SECURITY_POLICY,
    "DIRECTIVES": {**CONTENT_SECURITY_POLICY["DIRECTIVES"], "upgrade-insecure-requests": True},
}

# Behind nginx (docs/deploy.md), which sets X-Forwarded-For to the client's address: the rate
# limits, the login lockout and the audit trail read the address from it, trusting exactly the
# proxies in front of gunicorn, so that a client cannot choose its own address
# (fieldteam.client_address; django-axes through AXES_CLIENT_IP_CALLABLE).
NUM_PROXIES = env.int("NUM_PROXIES", default=1)
REST_FRAMEWORK = {**REST_FRAMEWORK, "NUM_PROXIES": NUM_PROXIES}

# The API's schema and Swagger UI describe every endpoint and field: only to signed-in users.
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=False)
