"""python -m fermentrack_backup_cli"""

from .cli import main

main()
