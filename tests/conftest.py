import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the names dataset lives beside the repository, never inside it
NAMES = os.path.join(os.path.dirname(ROOT), "shared", "data", "names.txt")


@pytest.fixture
def names_path():
    if not os.path.isfile(NAMES):
        pytest.skip("the names dataset is not at ../shared/data/names.txt")
    return NAMES
