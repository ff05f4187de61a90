"""`python -m yatt.placement ...` = `yatt placement ...` (run, status, init)."""

from yatt.commands.placement import main

main()
