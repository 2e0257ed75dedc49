"""fermentrack-backup: back up Fermentrack 2 archives to Dropbox or a folder.

Only the version lives here so that importing the package costs nothing.
"""

__version__ = "0.1.0"
