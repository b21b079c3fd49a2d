"""The backends shipped with halkit, one file each: the NumPy reference and the native C++ module."""
