"""How fieldteam drives Debian's Chromium (browser tests and the screenshot scripts).

Tests run as root on a closed network: without a sandbox, and with Chromium's own calls home
(updates, sync, background fetches) switched off. Playwright's downloaded browser is not used.
"""

from pathlib import Path

EXECUTABLE = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
