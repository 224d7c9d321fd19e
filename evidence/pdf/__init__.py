"""Signing and verifying PDFs (pyHanko)."""

import warnings

# pyHanko imports cryptography's DSA key types, which cryptography 51 deprecates when they are
# imported: a warning about an algorithm Dalel never uses, printed on stderr by every command
# that signs or checks a PDF. Only that warning, and only from pyHanko, is silenced.
warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"pyhanko\.")
