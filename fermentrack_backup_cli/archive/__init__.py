"""Pure archive checks: recognise a Fermentrack backup and prove it unpacks, streaming.

`verify_stream` reads an archive once in bounded memory (`readers`: hashing readers and
the bounded xz decoder; `zipcheck`: zip directory checks before anything is unpacked;
`jsonscan`: the data dump checked without loading it; `layouts`: which Fermentrack
layout it is). Importing this package loads tarfile/lzma/zipfile: import it where an
archive is checked, not at start-up.
"""

from .verify import apply_strict, archive_format, needs_seek, verify_file, verify_stream

__all__ = ["apply_strict", "archive_format", "needs_seek", "verify_file", "verify_stream"]
