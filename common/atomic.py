"""Replace a file so that a crash or a power cut leaves the old file or the new one.

os.replace alone is atomic for the names, not for the data: after a power cut the new
name may point at blocks that never reached the disk (an empty or partial file). So:
write a temp file beside the target, flush it, fsync it, rename it over the target,
and fsync the directory, which makes the rename itself durable.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

Writer = Callable[[BinaryIO], None]  # writes the whole content to an open binary file


def write_atomic(path: str | Path, content: bytes | Writer) -> None:
    """Make `path` hold `content` (bytes, or a writer called with the open file), durably.

    A writer that raises leaves `path` as it was and no temp file behind."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            if isinstance(content, bytes):
                f.write(content)
            else:
                content(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def fsync_directory(folder: str | Path) -> None:
    """Make renames and deletions in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        # Some file systems (and FUSE mounts) cannot sync a directory: nothing to do there.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)
