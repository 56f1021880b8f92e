"""Build test archives (test helper): mktar.py KIND OUT

Hostile and ordinary tars for the agent's extract_archive and
install_secrets. KIND is one of the names in KINDS below."""
import io
import sys
import tarfile


def add_file(t, name, data=b"x", mode=0o644):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    t.addfile(info, io.BytesIO(data))


def add(t, name, kind, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    t.addfile(info)


def tree(t):
    add(t, "src", tarfile.DIRTYPE)
    add_file(t, "src/main.c", b"int main(void) { return 0; }\n")
    add_file(t, "README.md", b"# hello\n")
    add(t, "src/link", tarfile.SYMTYPE, "main.c")


KINDS = {
    "tree": tree,
    "traversal": lambda t: add_file(t, "../escape.txt"),
    "absolute": lambda t: add_file(t, "/etc/evil"),
    "hardlink": lambda t: (add_file(t, "a"), add(t, "b", tarfile.LNKTYPE, "a")),
    "device": lambda t: add(t, "dev", tarfile.CHRTYPE),
    "fifo": lambda t: add(t, "pipe", tarfile.FIFOTYPE),
    "symlink-absolute": lambda t: add(t, "etc", tarfile.SYMTYPE, "/etc"),
    "symlink-dotdot": lambda t: add(t, "up", tarfile.SYMTYPE, "../../outside"),
    "symlink-parent": lambda t: (add(t, "sub", tarfile.DIRTYPE), add(t, "link", tarfile.SYMTYPE, "sub"),
                                 add_file(t, "link/x")),
    "dir-over-file": lambda t: (add_file(t, "thing"), add(t, "thing", tarfile.DIRTYPE)),
    "file-over-dir": lambda t: (add(t, "thing2", tarfile.DIRTYPE), add_file(t, "thing2")),
    "symlink-over-file": lambda t: (add_file(t, "thing3"), add(t, "thing3", tarfile.SYMTYPE, "x")),
    "secrets": lambda t: (add_file(t, "API_TOKEN", b"tok-12345-secret\n", 0o644),
                          add(t, "nested", tarfile.DIRTYPE),
                          add_file(t, "nested/DB_PASSWORD", b"hunter2-hunter2", 0o755)),
}


def main():
    kind, out = sys.argv[1], sys.argv[2]
    mode = "w:gz" if out.endswith(".gz") else "w"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.PAX_FORMAT) as t:
        KINDS[kind](t)
    with open(out, "wb") as f:
        f.write(buf.getvalue())


if __name__ == "__main__":
    main()
