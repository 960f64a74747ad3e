"""`python -m gateway COMMAND`: one module per command (add_arguments + main), imported only
when that command runs. In: the command line and the settings; out: a running service or a
change to the database. seed.py is shared by import-grids and the demo."""
