"""Scripts run by hand (icons, screenshots) and the Chromium settings the browser tests share; not part of the app."""
