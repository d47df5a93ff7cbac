"""Directories and files only their owner can reach.

Why: the data dir holds every fix text (AOF, dump, outbox), the store secrets
and pidfiles. Another local user who can read it reads the memory; one who can
write it can plant a pidfile or a port and make obsmem signal or dial what they
choose. So obsmem creates everything 0700/0600, tightens what an older version
left readable, refuses a data dir it does not own or that others can write,
and never changes the mode of a directory above the data dir.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Collection, Iterator
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


class UnsafePathError(RuntimeError):
    """A path is owned by someone else or writable by others; the message says how to fix it."""


def check_owned(path: Path, owners: Collection[int]) -> os.stat_result:
    """Refuse `path` unless one of `owners` owns it and neither group nor others can write it."""
    st = os.stat(path)
    if st.st_uid not in owners:
        raise UnsafePathError(
            f"{path} is owned by uid {st.st_uid}, not by this user (uid {os.geteuid()}): "
            f"another account could plant files there. Use a directory you own "
            f"(set OBSMEM_DATA_DIR) or `chown -R {os.geteuid()} {path}`."
        )
    if st.st_mode & 0o022:
        raise UnsafePathError(
            f"{path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o}): they could "
            f"plant pidfiles or ports there. Run `chmod 700 {path}` or use another data dir."
        )
    return st


def private_dir(path: Path, owners: Collection[int] | None = None) -> Path:
    """Create `path` 0700 or check an existing one (ours, not writable by others) and tighten it.

    Missing ancestors are created 0700 too; existing ancestors are never touched.
    """
    path = Path(path)
    owners = owners if owners is not None else (os.geteuid(),)
    old = os.umask(0o077)
    try:
        path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    finally:
        os.umask(old)
    if not path.is_dir():
        raise UnsafePathError(f"{path} is not a directory")
    st = check_owned(path, owners)
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, PRIVATE_DIR)  # our own dir, left readable by an older obsmem
    return path


def tighten_tree(root: Path, skip: Collection[str] = ()) -> None:
    """Drop group/other bits from every file and dir under `root` (not following symlinks)."""
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == Path(root):
            dirnames[:] = [d for d in dirnames if d not in skip]
        for name in [*dirnames, *filenames]:
            p = os.path.join(dirpath, name)
            with contextlib.suppress(OSError):
                st = os.lstat(p)
                if not stat.S_ISLNK(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o077:
                    os.chmod(p, stat.S_IMODE(st.st_mode) & 0o700)


def write_private(path: Path, text: str, owner: tuple[int, int] | None = None) -> None:
    """Atomically replace `path` with `text`, mode 0600, never following a planted symlink."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
            if owner is not None and owner[0] != os.geteuid():
                os.fchown(f.fileno(), *owner)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def touch_private(path: Path) -> None:
    """Create `path` 0600 if missing (so files derived from it inherit 0600) and tighten it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)


@contextlib.contextmanager
def replace_exclusively(target: Path) -> Iterator[tuple[int, Path]]:
    """Yield (fd, temp path) of a fresh 0600 file beside `target`; rename it over `target` on success.

    The temp name is random and created with O_EXCL|O_NOFOLLOW, so a symlink planted at a
    predictable name can neither be followed nor make obsmem overwrite another file.
    """
    target = Path(target)
    fd, tmp = tempfile.mkstemp(
        dir=target.parent or ".", prefix=f".{target.name}.", suffix=".partial"
    )
    tmp_path = Path(tmp)
    try:
        yield fd, tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def unreachable_ancestor(path: Path, uid: int, gid: int) -> Path | None:
    """The first directory on the way to `path` that account uid/gid may not traverse (or None)."""
    path = Path(path).resolve()
    for d in [*reversed(path.parents), path] if path.is_dir() else reversed(path.parents):
        st = os.stat(d)
        bit = (
            stat.S_IXUSR if st.st_uid == uid else stat.S_IXGRP if st.st_gid == gid else stat.S_IXOTH
        )
        if not st.st_mode & bit:
            return d
    return None
