"""Settings of the read benchmark: the base settings unchanged, plus a URL map with a bare baseline.

Only the URL map differs from what production serves, so middleware, persistent database connections
(``CONN_MAX_AGE``) and renderers are the same for the real endpoint and for the baseline.
"""

from config.settings.base import *  # noqa: F403

ROOT_URLCONF = "bench.baseline_urls"
