import pytest


@pytest.fixture
def watch_root(settings, tmp_path):
    """FILE_WATCH_ROOTS is [tmp_path/root], which holds the folder ``in``."""
    root = tmp_path / "root"
    (root / "in").mkdir(parents=True)
    settings.FILE_WATCH_ROOTS = [root]
    return root
