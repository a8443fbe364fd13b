"""What every layer agrees on and no layer owns: the exported series and the root of every error.

The bottom floor beside `sdk` and `analyzers`: plain data and one exception class, no I/O, no imports
from the rest of the code base.
"""

from contract.errors import DriftlineError

__all__ = ["DriftlineError"]
