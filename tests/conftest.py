"""Settings for the whole test session."""

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def classifier_cache(tmp_path_factory):
    """Keep the image quality metrics' classifiers in a session folder, never in ~/.cache.

    The variable is set in os.environ, so runs of the CLI in a subprocess see it too, and the
    digits classifier is trained once per session.
    """
    folder = tmp_path_factory.mktemp("genopt-cache")
    previous = os.environ.get("GENOPT_CACHE_DIR")
    os.environ["GENOPT_CACHE_DIR"] = str(folder)
    yield folder
    if previous is None:
        del os.environ["GENOPT_CACHE_DIR"]
    else:
        os.environ["GENOPT_CACHE_DIR"] = previous
