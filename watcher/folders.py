"""Reading a watched folder: a file's state and a scan of the folder, never its contents.

Pure filesystem, no database. A file's *state* is ``(size, mtime_ns)``; None stands for "no
file here" and covers every entry the watcher must not report: gone, not a regular file, a
directory, or a symlink whose target is outside the watched folder (a trigger never learns
about a file outside its folder, nor through a symlinked directory, which is not descended
into). Names that are not valid UTF-8, or paths over MAX_PATH_BYTES, are skipped with a
warning: the ledger and the execution's JSON could not hold them.
"""

import logging
import os
import stat
from collections.abc import Callable

from watcher.folder_config import is_inside

logger = logging.getLogger(__name__)

State = tuple[int, int] | None  # (size in bytes, mtime in ns), or None: no file to report
MAX_PATH_BYTES = 1024


def relative_to(folder: str, path: str) -> str | None:
    """``path``'s path below ``folder``, ``/``-separated; None when it is not below it."""
    if not path.startswith(folder.rstrip(os.sep) + os.sep):
        return None
    relative = path[len(folder.rstrip(os.sep)) + 1 :]
    return relative.replace(os.sep, "/") if os.sep != "/" else relative


def reportable(relative_path: str) -> bool:
    try:
        encoded = relative_path.encode("utf-8")
    except UnicodeEncodeError:
        logger.warning("Skipped a file whose name is not UTF-8: %r", relative_path)
        return False
    if len(encoded) > MAX_PATH_BYTES:
        logger.warning("Skipped a path longer than %d bytes: %.80s…", MAX_PATH_BYTES, relative_path)
        return False
    return True


def file_state(folder: str, relative_path: str) -> State:
    """The state of the regular file at ``relative_path`` below ``folder`` (resolved), or
    None when there is none to report (module docstring)."""
    path = os.path.join(folder, relative_path)
    try:
        real = os.path.realpath(path)
        if not is_inside(real, folder) or real == folder:
            logger.warning("Ignored %s: it resolves to %s, outside %s", path, real, folder)
            return None
        found = os.stat(real)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(found.st_mode):
        return None
    return (found.st_size, found.st_mtime_ns)


def scan(folder: str, *, recursive: bool, wanted: Callable[[str], bool]) -> dict[str, State]:
    """Every reportable regular file below ``folder`` (only directly in it unless
    ``recursive``) that ``wanted`` selects, with its state. Raises OSError when the folder
    itself cannot be read; an unreadable subfolder is skipped with a warning."""
    found: dict[str, State] = {}
    pending = [""]
    while pending:
        prefix = pending.pop()
        directory = os.path.join(folder, prefix) if prefix else folder
        try:
            entries = list(os.scandir(directory))
        except OSError:
            if not prefix:
                raise
            logger.warning("Could not read %s; its files are not seen", directory)
            continue
        for entry in entries:
            relative = f"{prefix}{entry.name}"
            try:
                if entry.is_dir(follow_symlinks=False):
                    if recursive:
                        pending.append(relative + "/")
                    continue
                if entry.is_symlink():
                    state = file_state(folder, relative)  # a symlinked directory gives None
                elif entry.is_file(follow_symlinks=False):
                    details = entry.stat(follow_symlinks=False)
                    state = (details.st_size, details.st_mtime_ns)
                else:
                    continue
            except OSError:  # gone while scanning
                continue
            if state is not None and wanted(relative) and reportable(relative):
                found[relative] = state
    return found
